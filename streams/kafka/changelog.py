"""Sending fact records to the table's changelog topic in Kafka record batches.

Faust's ``Table.send_changelog`` produces one message at a time through its producer buffer, and
its flush before an offset commit gives up after 0.1 s without progress
(``faust.transport.producer.ProducerBuffer.flush_atmost``). Both matter here: one changelog record
per event made that path the worker's bottleneck, and a commit could go out ahead of state that
was still in the buffer, which a crash then lost (seen in the crash-and-restart test). This writer
builds one record batch per partition with aiokafka's batch API, sends the partitions' batches
concurrently and returns only once the broker has acknowledged all of them (acks=all).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import TYPE_CHECKING

from faust.types import TP, AppT, TableT

if TYPE_CHECKING:
    from aiokafka import AIOKafkaProducer  # untyped: Any to mypy

# Kafka's default max.message.bytes is about 1 MiB; stay well under it.
CHANGELOG_BATCH_BYTES = 512 * 1024


class ChangelogWriter:
    def __init__(self, app: AppT, table: TableT[bytes, bytes]) -> None:
        self.app = app
        self.table = table

    async def write(self, records: dict[bytes, tuple[int, bytes]]) -> int:
        """Send {key: (partition, value)} and wait for the acknowledgements; returns how many."""
        if not records:
            return 0
        by_partition: dict[int, list[tuple[bytes, bytes]]] = defaultdict(list)
        for key, (partition, value) in records.items():
            by_partition[partition].append((key, value))
        topic = self.table.changelog_topic.get_topic_name()
        # the aiokafka producer Faust started (ProducerT does not declare it; faust's aiokafka Producer has it)
        producer = self.app.producer._ensure_producer()  # type: ignore[attr-defined]
        await asyncio.gather(*(self._send_partition(producer, topic, p, items) for p, items in by_partition.items()))
        return len(records)

    async def _send_partition(
        self,
        producer: AIOKafkaProducer,
        topic: str,
        partition: int,
        items: list[tuple[bytes, bytes]],
    ) -> None:
        last = None
        i = 0
        while i < len(items):
            batch = producer.create_batch()
            n = 0
            while i < len(items) and batch.append(key=items[i][0], value=items[i][1], timestamp=None) is not None:
                i += 1
                n += 1
            if n == 0:
                raise ValueError(
                    f"changelog record {items[i][0]!r} does not fit in a {CHANGELOG_BATCH_BYTES}-byte batch"
                )
            # one batch in flight per partition (aiokafka waits for the previous one to drain)
            meta = await (await producer.send_batch(batch, topic, partition=partition))
            last = meta.offset + n - 1
        if last is not None:
            # what Faust's own changelog callback does: RocksDB remembers the offset it holds
            # data up to, so a restart reads the changelog only from there
            # (TableT types its data as a plain mapping; it is the table's faust StoreT)
            self.table.data.set_persisted_offset(TP(topic, partition), last)  # type: ignore[attr-defined]
