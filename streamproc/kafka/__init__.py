"""Every use of aiokafka, for the bridge and the worker: topic admin, one producer, one batch consumer, a reader
without a group, group admin and offset resets, static members, the operator's tail.

Every aiokafka error leaves this package translated by `errors.translate`: `KafkaUnavailable` (transient:
retry) or `KafkaRejected` (terminal). Import from the submodules; this module imports nothing, so the pure
ones (`resets`) load no driver.
"""
