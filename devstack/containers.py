"""Optional Docker backend (STREAMPROC_STACK_BACKEND=testcontainers) for machines with a Docker engine."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from testcontainers.community.kafka import KafkaContainer
from testcontainers.community.postgres import PostgresContainer
from testcontainers.core.container import DockerContainer
from testcontainers.core.waiting_utils import wait_for_logs

from devstack.provision import AwsEndpoint, provision
from devstack.settings import StackSettings
from devstack.stack import Endpoints

# testcontainers' KRaft support targets Confluent's image; 7.9 carries Apache Kafka 3.9, wire-compatible
# with everything this project uses. The local-process backend runs Kafka 4.1.
KAFKA_IMAGE = "confluentinc/cp-kafka:7.9.0"
POSTGRES_IMAGE = "postgres:15"
MOTO_IMAGE = "motoserver/moto:5.1.18"


@contextmanager
def container_stack(settings: StackSettings) -> Iterator[Endpoints]:
    """Kafka, PostgreSQL and moto in containers; provisioned like the local stack; removed on exit."""
    with ExitStack() as stack:
        kafka = stack.enter_context(KafkaContainer(KAFKA_IMAGE).with_kraft())
        postgres = stack.enter_context(
            PostgresContainer(POSTGRES_IMAGE, username=settings.postgres_user, dbname=settings.postgres_db)
        )
        moto = stack.enter_context(DockerContainer(MOTO_IMAGE).with_exposed_ports(5000))
        wait_for_logs(moto, "Running on")
        aws = AwsEndpoint(url=f"http://{moto.get_container_host_ip()}:{moto.get_exposed_port(5000)}")
        yield Endpoints(
            kafka_bootstrap_servers=kafka.get_bootstrap_server(),
            database_url=postgres.get_connection_url(driver=None),
            aws=aws,
            provisioned=provision(aws, settings.aws),
        )
