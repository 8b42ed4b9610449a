locals {
  # Set only when applying against an emulator (the local moto server); null means real AWS.
  emulated = var.aws_endpoint_url != null
}

provider "aws" {
  region = var.aws_region

  # An emulator answers on one URL, has no instance metadata and accepts any credentials;
  # against real AWS every check stays on.
  s3_use_path_style           = local.emulated
  skip_credentials_validation = local.emulated
  skip_requesting_account_id  = local.emulated
  skip_metadata_api_check     = local.emulated

  dynamic "endpoints" {
    for_each = local.emulated ? [var.aws_endpoint_url] : []
    content {
      iam = endpoints.value
      s3  = endpoints.value
      sqs = endpoints.value
      sts = endpoints.value
    }
  }

  default_tags {
    tags = var.tags
  }
}
