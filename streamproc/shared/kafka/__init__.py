"""The Kafka client layer of the bridge and the worker: topic admin, one producer, one batch consumer.

Every aiokafka error leaves this package translated: `KafkaUnavailable` (transient: retry) or
`KafkaRejected` (terminal). Import from here; the submodules are its parts.
"""

from streamproc.shared.kafka.admin import TopicSpec, ensure_topics, topic_specs
from streamproc.shared.kafka.consumer import BatchConsumer, Record
from streamproc.shared.kafka.errors import CommitRejected, KafkaRejected, KafkaUnavailable, translate
from streamproc.shared.kafka.producer import OutRecord, Producer
from streamproc.shared.kafka.reader import TopicReader, close_groupless, open_groupless

__all__ = [
    "BatchConsumer", "CommitRejected", "KafkaRejected", "KafkaUnavailable", "OutRecord", "Producer",
    "Record", "TopicReader", "TopicSpec", "close_groupless", "ensure_topics", "open_groupless", "topic_specs",
    "translate",
]  # fmt: skip
