"""The checkpoint: what the worker knows of each source partition's offsets, and the one place that
orders "state in the changelog → offsets committable".

Modelled on Quix Streams' ``Checkpoint`` (``quixstreams/checkpointing/checkpoint.py``), which,
at each commit, flushes the sinks, produces the state changelogs, flushes the producer and only
then commits the offsets, in that order and in one place. Here a batch ends with
:meth:`Checkpoint.complete`: the changed fact records go to the changelog and the broker
acknowledges them, the records the batch sent on (dead letters, forwarded records) are
acknowledged, and only then do the batch's offsets become committable. InfluxDB is not in that
chain on purpose: its points are a function of the fact records (rebuilt and rewritten after any
recovery), so they may lag the commit without losing anything.

There is one table of offsets, :class:`PartitionOffsets` per source partition (a Faust ``TP``, a
``(topic, partition)`` tuple), shared by the two checks that keep Faust from skipping records:
- the fetch side (:class:`streams.kafka.fence.OffsetFence`): records handed from Faust's fetch to
  its stream in offset order (faust-streaming#221: its read-offset guard drops the records of a
  partition sought back to its committed offset);
- the processing side (:meth:`Checkpoint.admit`): records reaching the worker's batch handler in
  offset order, and none from a rebalance until the seek after it (:meth:`Checkpoint.suspend`),
  with the commit limit the worker's own (:meth:`Checkpoint.commit_limit`: Faust's head-gap check
  is off by one).

Bookkeeping only, no I/O, except :meth:`Checkpoint.complete`, which awaits what it is given.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Hashable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from _typeshed import SupportsItems

log = logging.getLogger("govpulse.worker")


@dataclass(slots=True)
class PartitionOffsets:
    """Everything the worker knows of one source partition's offsets."""

    # fetch side (OffsetFence): the next offset to hand over; None: unknown, the first record sets it
    delivered_next: int | None = None
    gap_first: int | None = None  # first offset seen ahead of the fence after seeking back
    gap_confirmed: int = 0  # fetches that began at gap_first
    sought_in_fetch: bool = False
    hole: tuple[int, int] | None = None  # the last hole of the log accepted: [start, end)
    # processing side (Checkpoint.admit): positioned once the consumer was sought to the committed
    # offset; the next offset to process (None: whichever comes first)
    positioned: bool = False
    processed_next: int | None = None
    missing_from: int | None = None  # the expected offset of the gap last counted
    # the next offset whose predecessors' state is in the changelog: the most that may be committed
    durable_next: int | None = None
    # a record reached the worker before the partition was positioned and was dropped: once
    # positioned, the partition is read again from its position (else, with no later record to
    # reveal the gap, the dropped ones would wait forever: the restarted-worker stall of issue 13)
    dropped_unpositioned: bool = False

    def reset_fetch(self, offset: int | None) -> None:
        self.delivered_next = offset if offset is not None and offset >= 0 else None
        self.gap_first, self.gap_confirmed, self.sought_in_fetch = None, 0, False

    def forget_fetch(self) -> None:
        self.reset_fetch(None)
        self.hole = None


OffsetTable = dict[Hashable, PartitionOffsets]


class Admission(enum.Enum):
    PROCESS = "process"
    DUPLICATE = "duplicate"  # processed already
    MISSING = "missing"  # records before it have not come: do not process it, read again from processed_next
    UNPOSITIONED = "unpositioned"  # the partition's position is not known yet (between a rebalance and the seek)


class ChangelogSink(Protocol):
    async def write(self, records: dict[bytes, tuple[int, bytes]]) -> int: ...


class UnsentRecords(Protocol):
    def take_unsent(self) -> dict[bytes, tuple[int, bytes]]: ...


class Checkpoint:
    """Source offsets: admission in order, and how far each partition may be committed."""

    def __init__(self, table: OffsetTable | None = None) -> None:
        self.table: OffsetTable = {} if table is None else table
        self.offset_gaps: dict[str, int] = {}  # per topic: gaps counted (pipeline_health)

    def _part(self, tp: Hashable) -> PartitionOffsets:
        p = self.table.get(tp)
        if p is None:
            p = self.table[tp] = PartitionOffsets()
        return p

    # -- positions ------------------------------------------------------------------------
    def set_positions(self, positions: SupportsItems[Hashable, int | None]) -> dict[Hashable, int]:
        """The consumer was sought to these offsets (after a rebalance: the committed ones).

        Returns the partitions to read again from their position: those where a record was dropped
        unpositioned (fetched in the window between the seek and this call), which nothing would
        otherwise read again if no later record came to show the gap."""
        read_again: dict[Hashable, int] = {}
        for tp, offset in positions.items():
            p = self._part(tp)
            p.positioned, p.processed_next, p.missing_from = True, offset, None
            p.durable_next = offset
            if p.dropped_unpositioned and offset is not None:
                read_again[tp] = offset
            p.dropped_unpositioned = False
        return read_again

    def suspend(self) -> None:
        """A rebalance began: no record is processed until the consumer is sought to the committed
        offsets again (:meth:`set_positions`, after table recovery). A record handed over meanwhile
        may come from a fetch made before the rebalance, for a partition another worker owns now:
        processed, it would put a stale copy of its fact records into the changelog after that
        worker recovered, where, being newer, it would win at the next recovery. It is dropped
        (UNPOSITIONED), and its partition is read again from its position once known."""
        for p in self.table.values():
            p.positioned = False

    def forget(self, tps: Iterable[Hashable]) -> None:
        """Partitions no longer owned."""
        for tp in tps:
            self.table.pop(tp, None)

    def retain_partitions(self, partitions: set[int]) -> None:
        """After a rebalance: forget every source partition whose number is not in ``partitions``."""
        self.forget([tp for tp in self.table if tp[1] not in partitions])  # type: ignore[index]  # (topic, partition)

    def processed_next(self, tp: Hashable) -> int | None:
        p = self.table.get(tp)
        return p.processed_next if p is not None and p.positioned else None

    # -- admission ------------------------------------------------------------------------
    def admit(self, tp: tuple[str, int], offset: int) -> Admission:
        """Whether to process this record. Checking every record against the next expected offset
        here, after all of Faust's queues, is what guarantees that none is skipped."""
        p = self.table.get(tp)
        if p is None or not p.positioned:
            self._part(tp).dropped_unpositioned = True
            return Admission.UNPOSITIONED
        expected = p.processed_next
        if expected is None or offset == expected:
            p.processed_next, p.missing_from = offset + 1, None
            return Admission.PROCESS
        if offset < expected:
            return Admission.DUPLICATE
        if p.missing_from != expected:  # count and log each gap once, not each record queued behind it
            p.missing_from = expected
            topic, partition = tp
            self.offset_gaps[topic] = self.offset_gaps.get(topic, 0) + 1
            log.warning(
                "offsets %d-%d of %s[%d] did not reach the worker (%d came next): reading them again",
                expected,
                offset - 1,
                topic,
                partition,
                offset,
            )
        return Admission.MISSING

    def accept_hole(self, tp: Hashable, offset: int) -> None:
        """The log has no records before ``offset`` (retention, transaction markers): go on from it."""
        p = self._part(tp)
        p.processed_next, p.missing_from = offset, None

    # -- commits --------------------------------------------------------------------------
    def mark_durable(self) -> None:
        """Everything processed so far is in the changelog: it may be committed."""
        for p in self.table.values():
            if p.positioned and p.processed_next is not None:
                p.durable_next = p.processed_next

    def commit_limit(self, tp: Hashable) -> int | None:
        """The offset to commit for a source partition (None: nothing yet)."""
        p = self.table.get(tp)
        return p.durable_next if p is not None and p.positioned else None

    @staticmethod
    async def persist_state(changelog: ChangelogSink, store: UnsentRecords) -> None:
        """Send the changed fact records to the changelog and wait for the broker's acknowledgements
        (also between batches: the alert timer's flags)."""
        await changelog.write(store.take_unsent())

    async def complete(
        self, changelog: ChangelogSink, store: UnsentRecords, deliveries: Iterable[Awaitable[object]] = ()
    ) -> None:
        """End a batch: the changed records acknowledged by the changelog, then what the batch sent
        on, then (only then) its offsets committable. Faust commits them on its own schedule,
        asking :meth:`commit_limit`."""
        await self.persist_state(changelog, store)
        for delivery in deliveries:
            await delivery
        self.mark_durable()
