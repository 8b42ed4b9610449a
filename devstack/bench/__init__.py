"""The benchmark of the pipeline on the local stack (`make bench`, `python -m devstack.bench`)."""
