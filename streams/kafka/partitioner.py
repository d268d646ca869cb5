"""Which partition a unit's state lives in: the one Kafka's default partitioner gives its key."""

from __future__ import annotations

from collections.abc import Mapping

from kafka.partitioner import murmur2


def kafka_partition(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (Java's, kafka-python's, aiokafka's: murmur2 of the
    key) gives ``key``. govpulse keeps each unit's state in this partition."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions  # type: ignore[no-any-return]  # kafka-python is untyped: an int


class UnitPartitioner:
    """(topic, unit) -> the unit's home partition in that topic (``WorkerCore.home_partition``).
    A topic whose partition count is not known is not checked (None)."""

    def __init__(self, partition_counts: Mapping[str, int]) -> None:
        self.partition_counts = dict(partition_counts)
        # asked for every record; murmur2 in Python was 1.7% of the worker's time (py-spy, issue 13).
        # Bounded by topics x units (3,321 wards and the departments).
        self._known: dict[tuple[str, str], int | None] = {}

    def __call__(self, topic: str, unit: str) -> int | None:
        home = self._known.get((topic, unit), -1)
        if home == -1:
            n = self.partition_counts.get(topic)
            home = self._known[(topic, unit)] = kafka_partition(unit.encode(), n) if n else None
        return home
