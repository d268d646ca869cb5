"""The offset fence: a source partition's records reach the worker in order, none skipped.

Why this exists. Faust's fetch loop (``faust.transport.consumer.Consumer._drain_messages``) keeps
a read offset per partition and silently drops any record below it ("DROPPED MESSAGE ROFF", at
dev log level). After a rebalance it seeks a kept partition back to the committed offset C. A
record fetched *before* that seek but handed over after it (offset S > C) moves the read offset
to S and registers C+1..S-1 as a "gap" the next commit may pass over; the fresh records C..S-1
that follow are then dropped as already read (faust-streaming#221). The worker lost exactly such
blocks in the three-worker test (133 dossier and 1,932 document offsets in one run).

The fence sits between Faust's fetch (``getmany``) and that loop. After every seek to the
committed offsets it knows the next offset each partition must deliver; a record ahead of it is
held back (dropped before Faust sees it) and the partition is sought back, so the missing
records are fetched again. A real hole in the log (records deleted by retention, transaction
markers) shows the same first offset again after the seek back; after ``confirmations`` such
fetches it is accepted. Records behind the fence were delivered already and are dropped.

Table recovery has the same exposure on the (compacted, so not contiguous) changelog topics:
it seeks each changelog partition and reads to the high-water mark, through the same fetch loop.
``SeekEpochs`` drops any record, of any topic, that left aiokafka before a seek of its partition
took effect; the fetch after the seek reads the new position.

``OffsetFence`` and ``SeekEpochs`` are pure bookkeeping (tested exhaustively in
tests/test_fence.py); ``FencedConsumer`` is the thin Faust shell around them.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from faust.transport.drivers.aiokafka import Consumer as AIOKafkaConsumer
from faust.types import TP, AppT, Message

from common.diagnostics import trace_file
from common.settings import get_settings
from streams.kafka.checkpoint import Checkpoint, OffsetTable, PartitionOffsets

if TYPE_CHECKING:
    from _typeshed import SupportsItems
    from faust.transport.consumer import RecordMap
    from faust.types.transports import TPorTopicSet

log = logging.getLogger("govpulse.worker")

# What takes a fetch's source records, in offset order per partition (streams.app.Worker.on_batch).
BatchHandler = Callable[[Sequence[Message]], Awaitable[None]]


class Verdict(enum.Enum):
    DELIVER = "deliver"  # the next record: hand it over
    BEHIND = "behind"  # delivered already (or before the committed offset): drop
    RESEEK = "reseek"  # ahead of the fence: drop and seek the partition back to the fence
    AHEAD = "ahead"  # ahead, and a seek back is already under way for this fetch: drop
    GAP = "gap"  # ahead, but confirmed by fetches after seeking back: a real hole, deliver


@dataclass
class FenceStats:
    held_back: int = 0  # records dropped because they were ahead of the fence
    behind: int = 0  # records dropped because they were delivered already
    reseeks: int = 0
    gaps_accepted: int = 0


class OffsetFence:
    """Per partition, the next offset the worker must be given. No I/O.

    Its cursors are the fetch-side fields of the worker's one offset table
    (:class:`streams.kafka.checkpoint.PartitionOffsets`), shared with the checkpoint."""

    def __init__(self, confirmations: int = 2, table: OffsetTable | None = None) -> None:
        if confirmations < 1:
            raise ValueError("confirmations must be at least 1")
        self.confirmations = confirmations
        self.table: OffsetTable = {} if table is None else table
        self.stats = FenceStats()

    def _part(self, tp: Hashable) -> PartitionOffsets:
        p = self.table.get(tp)
        if p is None:
            p = self.table[tp] = PartitionOffsets()
        return p

    def reset(self, positions: SupportsItems[Hashable, int | None]) -> None:
        """The consumer was sought to these offsets (the next to read; None: not known)."""
        for tp, offset in positions.items():
            self._part(tp).reset_fetch(offset)

    def forget(self, tps: Iterable[Hashable]) -> None:
        for tp in tps:
            p = self.table.get(tp)
            if p is not None:
                p.forget_fetch()

    def is_hole(self, tp: Hashable, start: int, end: int) -> bool:
        """Whether [start, end) lies in a hole of the log accepted by the fence."""
        p = self.table.get(tp)
        hole = p.hole if p is not None else None
        return hole is not None and hole[0] <= start and end == hole[1]

    def expected(self, tp: Hashable) -> int | None:
        p = self.table.get(tp)
        return p.delivered_next if p else None

    def begin_fetch(self) -> None:
        """A new fetch result is about to be checked (one seek back per partition and fetch)."""
        for p in self.table.values():
            p.sought_in_fetch = False

    def check(self, tp: Hashable, offset: int) -> Verdict:
        p = self._part(tp)
        if p.delivered_next is None or offset == p.delivered_next:
            return self._deliver(p, offset)
        if offset < p.delivered_next:
            self.stats.behind += 1
            return Verdict.BEHIND
        self.stats.held_back += 1
        if p.sought_in_fetch:
            return Verdict.AHEAD
        p.sought_in_fetch = True
        if p.gap_first == offset:
            p.gap_confirmed += 1
        else:
            p.gap_first, p.gap_confirmed = offset, 1
        if p.gap_confirmed > self.confirmations:
            self.stats.held_back -= 1
            self.stats.gaps_accepted += 1
            p.hole = (p.delivered_next, offset)
            self._deliver(p, offset)
            p.sought_in_fetch = False  # no seek was issued for this record: the next hole needs its own
            return Verdict.GAP
        self.stats.reseeks += 1
        return Verdict.RESEEK

    @staticmethod
    def _deliver(p: PartitionOffsets, offset: int) -> Verdict:
        p.delivered_next = offset + 1
        p.gap_first, p.gap_confirmed = None, 0
        return Verdict.DELIVER


class SeekEpochs:
    """Which fetched records predate a seek of their partition. No I/O.

    Faust fetches in its consumer thread and hands the records to its fetch loop later; a seek
    (table recovery moving a changelog partition, the fence seeking back) can land in between.
    A record that left aiokafka before a seek of its partition took effect is from the old
    position: it must be dropped, or Faust's read-offset guard may skip what the new position
    holds. A record that left aiokafka after the seek took effect is from the new position (aiokafka
    drops its own buffered records of the old one) and must be kept: aiokafka's position has moved
    past it, so nothing reads it again, and for a changelog partition table recovery then waits
    for it forever. (Counting a seek from when it was requested, as this class first did, dropped
    such records: the hang of the three-worker test in CI, stop 19.)

    Both moments are taken in the consumer thread, where they happen in one order:
    :meth:`applied` when a seek changes a partition's position, :meth:`snapshot` when a fetch's
    records leave aiokafka. A record is stale iff its partition was sought after its snapshot.
    """

    def __init__(self) -> None:
        self.epoch: dict[Hashable, int] = {}  # seeks applied, per partition (written in the consumer thread)
        self.dropped = 0

    def applied(self, tp: Hashable) -> None:
        """A seek changed ``tp``'s position (in the consumer thread)."""
        self.epoch[tp] = self.epoch.get(tp, 0) + 1

    def snapshot(self) -> dict[Hashable, int]:
        """Taken when a fetch's records leave aiokafka (in the consumer thread)."""
        return dict(self.epoch)

    def is_stale(self, tp: Hashable, at_fetch: Mapping[Hashable, int]) -> bool:
        stale = self.epoch.get(tp, 0) != at_fetch.get(tp, 0)
        self.dropped += stale
        return stale


class FencedConsumer(AIOKafkaConsumer):
    """Faust's aiokafka consumer with the offset fence on source topics.

    Changelog topics are compacted, so holes are normal there; Faust's table recovery reads them
    with its own seeks and stays unfenced.

    The source records of each fetch go to its ``batch_handler`` (set by :func:`install`) in batches
    of at most the app's ``broker_commit_every``, straight from the fetch, and never enter Faust's
    per-record machinery (its fetch loop's per-record futures, the conductor, the stream and its
    take buffer, event objects and acks: most of the worker's time, issue 13). Changelog records
    still take Faust's path, to its table recovery. Offsets are then the checkpoint's alone: :meth:`_new_offset` asks it, and
    :meth:`_filter_tps_with_pending_acks` offers its partitions for commit, as Faust offers the ones
    with acked messages.
    """

    batch_handler: ClassVar[BatchHandler]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._handed_since_commit = 0
        # one offset table for the fence and the worker's checkpoint (set_checkpoint shares it)
        self.checkpoint = Checkpoint()
        self.fence = OffsetFence(table=self.checkpoint.table)
        self.epochs = SeekEpochs()
        self._fetch_epochs: dict[Hashable, int] = {}
        self._fetch_stamp: dict[Hashable, int] = {}
        # diagnostics (see streams.app): the same open file as the agent's trace
        self._trace = trace_file(get_settings().offset_trace)

    def set_checkpoint(self, checkpoint: Checkpoint) -> None:
        """The worker's checkpoint: told the positions after every seek to the committed offsets,
        asked how far each source partition may be committed; its table is the fence's."""
        checkpoint.table.update(self.checkpoint.table)
        self.checkpoint = checkpoint
        self.fence.table = checkpoint.table

    def _new_offset(self, tp: TP) -> int | None:
        """The offset to commit for ``tp``. For source partitions it is the worker's own figure,
        never Faust's: Faust counts a record as done when a stream skips it around a rebalance
        (acked unprocessed), and its head-gap check is off by one, so a commit could pass a record
        that was never processed (seen in the three-worker test)."""
        if self._is_changelog_tp(tp):
            return super()._new_offset(tp)
        limit = self.checkpoint.commit_limit(tp)
        acked = self._acked[tp]
        if acked and limit is not None:  # Faust's bookkeeping is unused here: keep it from growing
            acked[:] = [o for o in acked if o >= limit]
            self._acked_index[tp].intersection_update(acked)
        return limit

    def _filter_tps_with_pending_acks(self, topics: TPorTopicSet | None = None) -> Iterator[TP]:
        """The partitions to consider for a commit: Faust's (those with acked messages), and every
        source partition of the checkpoint (its records are never acked through Faust when they
        are handed over in batches); Faust commits only assigned ones, and only forward."""
        seen: set[TP] = set()
        for tp in super()._filter_tps_with_pending_acks(topics):
            seen.add(tp)
            yield tp
        for key in list(self.checkpoint.table):
            source: TP = key  # type: ignore[assignment]  # the table's keys are the assignment's TPs
            if source not in seen and (topics is None or source in topics or source.topic in topics):
                yield source

    async def _hand_over(self, handler: BatchHandler, batch: list[Message]) -> None:
        """Give ``batch`` to the handler and wait until it is done, even when the fetcher is
        cancelled meanwhile (a rebalance or a shutdown stops it): a batch cut at an await could
        have taken its changed records from the store without their reaching the changelog, and a
        re-read of its records would then find them merged already and never send them."""
        monitor = self.app.monitor
        if monitor is not None:
            # what Faust's streams note for each event; its livelock check reads it, and would
            # otherwise report every partition's stream as idle
            now = time.monotonic()
            for tp in {m.tp for m in batch}:
                monitor.stream_inbound_time[tp] = now
        task = asyncio.ensure_future(handler(batch))
        cancelled = False
        while not task.done():
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                cancelled = True  # Faust's fetcher stop cancels again every second: keep waiting
        if cancelled:
            raise asyncio.CancelledError
        task.result()
        self._handed_since_commit += len(batch)
        commit_every = self._commit_every
        if commit_every is not None and self._handed_since_commit >= commit_every:
            # as Faust's fetch loop does every commit_every acked messages (Faust's commit timer
            # commits what came since, every broker_commit_interval)
            self._handed_since_commit = 0
            await self.commit()

    async def seek_back(self, tp: TP, offset: int) -> None:
        """Read ``tp`` again from ``offset`` (records before the next one did not reach the worker)."""
        self.fence.reset({tp: offset})
        await self.seek_wait({tp: offset})

    def _stamp_seeks_and_fetches(self) -> None:
        """Make aiokafka's fetcher, in the consumer thread, count each seek as it takes effect
        (every seek of the consumer and of ``seek_to_committed`` goes through ``Fetcher.seek_to``)
        and take the count when a fetch's records leave it (see :class:`SeekEpochs`)."""
        fetcher = self._thread._ensure_consumer()._fetcher
        if getattr(fetcher, "govpulse_stamped", False):
            return
        epochs = self.epochs
        seek_to, fetched_records = fetcher.seek_to, fetcher.fetched_records

        def stamped_seek_to(tp: Any, offset: int) -> None:
            seek_to(tp, offset)
            epochs.applied(tp)

        async def stamped_fetched_records(*args: Any, **kwargs: Any) -> Any:
            records = await fetched_records(*args, **kwargs)
            self._fetch_stamp = epochs.snapshot()  # no await in between: no seek either
            return records

        fetcher.seek_to, fetcher.fetched_records = stamped_seek_to, stamped_fetched_records
        fetcher.govpulse_stamped = True

    async def _getmany(self, active_partitions: set[TP] | None, timeout: float) -> RecordMap:
        self._stamp_seeks_and_fetches()
        records = await super()._getmany(active_partitions, timeout)
        # the stamp of this fetch, set in the consumer thread before the records came back here
        self._fetch_epochs = self._fetch_stamp
        return records

    async def perform_seek(self) -> None:
        await super().perform_seek()
        # perform_seek leaves the committed offsets as read offsets; with no commit yet the
        # consumer starts at the beginning of the log (auto_offset_reset=earliest)
        positions = {tp: self._read_offset.get(tp) for tp in self.assignment() if not self._is_changelog_tp(tp)}
        known = {tp: off for tp, off in positions.items() if off is not None}
        # the known positions at once, with no await in between: records fetched from them from
        # now on are admitted in order instead of dropped as unpositioned
        self.fence.reset(known)
        read_again = self.checkpoint.set_positions(known)
        unknown = [tp for tp, off in positions.items() if off is None]
        if unknown:
            earliest: dict[TP, int | None] = dict.fromkeys(unknown)
            try:
                earliest.update(await self.earliest_offsets(*unknown))
            except Exception as exc:  # noqa: BLE001 - whatever failed, the first record then sets the fence
                log.warning("offset fence: could not read the earliest offsets: %r", exc)
            self.fence.reset(earliest)
            read_again.update(self.checkpoint.set_positions(earliest))
        for key, offset in read_again.items():
            tp: TP = key  # type: ignore[assignment]  # the positions' keys are the assignment's TPs
            # a record of it reached the worker before its position was known and was dropped
            log.info(
                "%s[%d]: a record came before the position was known: reading again from %d",
                tp.topic,
                tp.partition,
                offset,
            )
            await self.seek_back(tp, offset)

    def describe_state(self) -> str:
        """Each assigned partition as Faust, aiokafka and the fence see it (for the SIGUSR2 dump of
        streams.task_stacks; read from the main thread without locks: a diagnostic snapshot)."""
        lines = [f"flow_active={self.flow_active} generation={self.app.consumer_generation_id}"]
        try:
            inner = self._thread._ensure_consumer()  # Faust's aiokafka consumer
            subscription = inner._subscription.subscription
            assignment = subscription.assignment if subscription is not None else None
            fetcher = inner._fetcher
        except Exception as exc:  # noqa: BLE001 - a diagnostic: say why not
            return f"{lines[0]}; aiokafka state unavailable: {exc!r}"
        active, paused = self._active_partitions or set(), self._paused_partitions
        lines.append(
            f"aiokafka fetcher: in flight to nodes {sorted(fetcher._in_flight)}, buffered {len(fetcher._records)}"
        )
        for tp in sorted(self.assignment()):
            state = assignment.state_value(tp) if assignment is not None else None
            p = self.checkpoint.table.get(tp)
            lines.append(
                f"{tp.topic}[{tp.partition}]: faust {'active' if tp in active else 'paused' if tp in paused else '-'}"
                f" read_offset={self._read_offset.get(tp)} epoch={self.epochs.epoch.get(tp, 0)}"
                f" | aiokafka position={getattr(state, '_position', None)} paused={getattr(state, 'paused', None)}"
                f" reset={getattr(state, 'awaiting_reset', None)} buffered={tp in fetcher._records}"
                + (
                    f" | fence next={p.delivered_next} positioned={p.positioned} processed_next={p.processed_next}"
                    if p
                    else ""
                )
            )
        return "\n".join(lines)

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        self.fence.forget(revoked)
        await super().on_partitions_revoked(revoked)

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Message]]:
        fence, epochs = self.fence, self.epochs
        fence.begin_fetch()
        handler = type(self).batch_handler
        # a fetch made before a rebalance is not handed over after it (see _deliver)
        generation = self.app.consumer_generation_id
        # a fetch can hold far more records than a batch should (aiokafka's fetch sizes; limiting
        # the fetch itself, with max_poll_records, halved the speed of table recovery)
        batch_max = self._commit_every or 10_000
        batch: list[Message] = []
        async for tp, message in super().getmany(timeout):
            if epochs.is_stale(tp, self._fetch_epochs):
                if self._trace:
                    self._trace.write(f"{time.time():.3f} stale {tp.topic} {tp.partition} {message.offset}\n")
                continue  # fetched before a seek of its partition: the next fetch reads the new position
            if self._is_changelog_tp(tp):
                yield tp, message
                continue
            verdict = fence.check(tp, message.offset)
            if verdict is Verdict.RESEEK:
                expected: int = fence.expected(tp)  # type: ignore[assignment]  # RESEEK: the fence knows it
                log.info(
                    "offset fence: %s[%d] handed over offset %d, expected %d (fetched before a seek?): seeking back",
                    tp.topic,
                    tp.partition,
                    message.offset,
                    expected,
                )
                await self.seek_wait({tp: expected})
                continue
            if verdict is Verdict.GAP:
                log.warning(
                    "offset fence: %s[%d] has no records before offset %d after %d fetches: accepting the hole",
                    tp.topic,
                    tp.partition,
                    message.offset,
                    fence.confirmations + 1,
                )
            elif verdict is not Verdict.DELIVER:
                continue  # BEHIND or AHEAD: dropped
            if self._trace:
                self._trace.write(f"{time.time():.3f} fetch {tp.topic} {tp.partition} {message.offset}\n")
            batch.append(message)
            if len(batch) >= batch_max:
                await self._deliver(handler, batch, generation)
                batch = []
        if batch:
            await self._deliver(handler, batch, generation)

    async def _deliver(self, handler: BatchHandler, batch: list[Message], generation: int) -> None:
        if self.app.consumer_generation_id != generation:
            # A rebalance began since this fetch did, while the fetch or an await of this loop (a
            # seek back, an earlier batch) was pending, and table recovery may have resumed the flow
            # already. These records may belong to partitions another worker owns now: processed
            # here, they would put a stale copy of their fact records into the changelog after that
            # worker recovered (counts lost in the join/leave test, CI of stop 18). Faust's streams
            # drop such records the same way (``Stream._c_aiter``: the message's generation).
            log.info("%d records fetched before a rebalance: not handed over (read again after the seek)", len(batch))
            self._undo(batch)
            return
        if not self.flow_active:
            # a rebalance or a shutdown began during the fetch: these records are not processed now
            self._undo(batch)
            return
        await self._hand_over(handler, batch)

    def _undo(self, batch: list[Message]) -> None:
        """The fence expects a batch that was not handed over again, unless a seek has moved it since
        the batch was checked (the seek after a rebalance reads them anyway)."""
        firsts: dict[TP, int] = {}
        nexts: dict[TP, int] = {}
        for m in batch:
            firsts.setdefault(m.tp, m.offset)
            nexts[m.tp] = m.offset + 1
        self.fence.reset({tp: first for tp, first in firsts.items() if self.fence.expected(tp) == nexts[tp]})


def install(app: AppT, on_batch: BatchHandler) -> None:
    """Make ``app`` create a fenced consumer (call before the app starts): the source records of
    every fetch go to ``on_batch`` in batches instead of through Faust's streams."""
    transport = app.transport
    if getattr(app, "_consumer", None) is not None:
        raise RuntimeError("install the offset fence before the app's consumer is made")
    if type(transport).Consumer is not AIOKafkaConsumer:
        raise RuntimeError(f"the offset fence supports Faust's aiokafka transport, not {type(transport).__name__}")

    class AppConsumer(FencedConsumer):
        batch_handler = staticmethod(on_batch)  # type: ignore[assignment]  # mypy reads the ClassVar callable as a method

    # this app's transport only (an instance attribute shadowing the class's), as Faust reads it
    transport.Consumer = AppConsumer  # type: ignore[misc]
