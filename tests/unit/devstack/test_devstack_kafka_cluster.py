"""The broker count setting and each broker's rendered server.properties: ports, voters, replication."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.kafka import Kafka, bootstrap_servers, brokers, min_insync_replicas, server_properties, topic_replication
from devstack.process import StackError
from devstack.provision import AwsEndpoint, Provisioned
from devstack.settings import StackConfigError, StackSettings
from devstack.stack import Endpoints


def cluster(tmp_path: Path, count: int) -> StackSettings:
    return StackSettings.from_env(
        {
            "STREAMPROC_STACK_DIR": str(tmp_path),
            "STREAMPROC_KAFKA_PORT": "29092",
            "STREAMPROC_KAFKA_CONTROLLER_PORT": "29093",
            "STREAMPROC_KAFKA_BROKERS": str(count),
        }
    )


def test_one_broker_is_the_default_and_keeps_the_single_node_layout(tmp_path: Path) -> None:
    settings = StackSettings.from_env({"STREAMPROC_STACK_DIR": str(tmp_path)})
    (only,) = brokers(settings)
    assert settings.kafka_brokers == 1
    assert (only.name, only.home, only.log_file.name) == ("kafka", tmp_path / "kafka", "kafka.log")
    assert only.endpoint == "127.0.0.1:39092"
    props = server_properties(settings, 1)
    assert props["controller.quorum.voters"] == "1@127.0.0.1:39093"
    assert (props["default.replication.factor"], props["min.insync.replicas"]) == ("1", "1")
    assert props["offsets.topic.replication.factor"] == "1"
    assert "replica.lag.time.max.ms" not in props


def test_three_brokers_are_three_voters_each_with_its_own_ports_and_dirs(tmp_path: Path) -> None:
    settings = cluster(tmp_path, 3)
    nodes = brokers(settings)
    assert [b.name for b in nodes] == ["kafka-1", "kafka-2", "kafka-3"]
    assert [(b.port, b.controller_port) for b in nodes] == [(29092, 29093), (29094, 29095), (29096, 29097)]
    assert bootstrap_servers(settings) == "127.0.0.1:29092,127.0.0.1:29094,127.0.0.1:29096"
    assert len({b.home for b in nodes} | {b.pid_file for b in nodes} | {b.log_file for b in nodes}) == 9
    for node in nodes:
        props = server_properties(settings, node.node)
        assert props["node.id"] == str(node.node)
        assert props["process.roles"] == "broker,controller"
        assert props["controller.quorum.voters"] == "1@127.0.0.1:29093,2@127.0.0.1:29095,3@127.0.0.1:29097"
        assert props["listeners"] == f"PLAINTEXT://127.0.0.1:{node.port},CONTROLLER://127.0.0.1:{node.controller_port}"
        assert props["advertised.listeners"] == f"PLAINTEXT://127.0.0.1:{node.port}"
        assert props["log.dirs"] == str(node.home / "data")
        assert (props["default.replication.factor"], props["min.insync.replicas"]) == ("3", "2")
        assert (props["offsets.topic.replication.factor"], props["transaction.state.log.min.isr"]) == ("3", "2")
        assert props["unclean.leader.election.enable"] == "false"


@pytest.mark.parametrize(("count", "replicas", "min_isr"), [(1, 1, 1), (2, 2, 1), (3, 3, 2), (5, 3, 2)])
def test_replication_is_min_three_and_min_isr_two_from_three_brokers(count: int, replicas: int, min_isr: int) -> None:
    assert (topic_replication(count), min_insync_replicas(count)) == (replicas, min_isr)


def test_the_stack_env_gives_the_worker_and_bridge_the_cluster_replication() -> None:
    made = Provisioned(bucket="b", queue_url="q", queue_arn="qa", dlq_url="d", dlq_arn="da")
    single = Endpoints(kafka_bootstrap_servers="k", database_url="d", aws=AwsEndpoint(url=None), provisioned=made)
    three = Endpoints(
        kafka_bootstrap_servers="k", database_url="d", aws=AwsEndpoint(url=None), provisioned=made, topic_replication=3
    )
    assert "STREAMPROC_TOPIC_REPLICATION" not in single.env()
    assert three.env()["STREAMPROC_TOPIC_REPLICATION"] == "3"


def test_a_broker_count_out_of_range_names_the_variable() -> None:
    with pytest.raises(StackConfigError, match=r"STREAMPROC_KAFKA_BROKERS='0' must be a whole number from 1 to 9"):
        StackSettings.from_env({"STREAMPROC_KAFKA_BROKERS": "0"})


def test_brokers_whose_ports_overlap_another_service_are_refused() -> None:
    with pytest.raises(StackConfigError, match=r"STREAMPROC_POSTGRES_PORT .* both port 35004"):
        StackSettings.from_env(
            {
                "STREAMPROC_KAFKA_PORT": "35000",
                "STREAMPROC_KAFKA_CONTROLLER_PORT": "35001",
                "STREAMPROC_MOTO_PORT": "36000",
                "STREAMPROC_POSTGRES_PORT": "35004",
                "STREAMPROC_KAFKA_BROKERS": "3",
            }
        )


def test_a_broker_id_outside_the_cluster_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StackError, match="no broker 4: the cluster has brokers 1 to 3"):
        Kafka(cluster(tmp_path, 3), 4)
