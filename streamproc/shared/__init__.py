"""Shared by the bridge and the worker: settings, the error base, retries, the Kafka client layer, dead letters."""
