"""The worker's logic between raw Kafka records and the pure domain, free of Faust.

It validates each record, routes bad ones to the dead-letter topic (with reason, raw bytes
and topic/partition/offset), merges good ones into fact records, and asks the aggregator
for rows and alerts. Faust (streams.app) only moves bytes in and out of it.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import time
import traceback
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from common import measurements as m
from common.settings import Settings
from schemas import InvalidEvent, parse_event
from streams.domain.aggregator import Aggregator
from streams.domain.alerts import Alert, AlertPolicy
from streams.domain.record_codec import decode_record, encode_record
from streams.domain.records import (
    ONE_STOP_KINDS,
    Record,
    apply_event,
    event_id_key,
    fingerprint,
    fingerprints,
    new_record,
    record_key,
)
from streams.domain.rows import Row
from streams.domain.windows import LocalCalendar, to_ms

# In live mode a partition with no event for this long follows the wall clock, so a dossier
# goes overdue on a quiet night too; while a backlog is processed, event time rules.
log = logging.getLogger("govpulse.worker")

IDLE_FOLLOWS_WALL_SECONDS = 2.0
# ...but only when the stream is live (its watermark within this of the wall clock);
# a finished replay of 2022 must not see every 2022 dossier as overdue in 2026.
LIVE_HORIZON_MS = 3_600_000

# Bounds of a dead letter's other parts (the raw payload's bound is a setting): together they keep
# a dead letter far below a Kafka request's 1 MB, whatever the record held.
DEAD_LETTER_KEY_BYTES = 256
DEAD_LETTER_REASON_CHARS = 2000
DEAD_LETTER_ERRORS = 20

DeadLetter = dict[str, Any]  # a dead letter as sent to the dead-letter topic (JSON)


def _cut_utf8(raw: bytes, limit: int) -> str | None:
    """``raw`` cut to at most ``limit`` bytes as text, or None if it is not UTF-8."""
    head = raw[:limit]
    for drop in range(4):  # a cut may split a multi-byte character: drop its first bytes
        try:
            return head[: len(head) - drop].decode("utf-8")
        except UnicodeDecodeError:
            continue
    return None


@dataclass(frozen=True, slots=True)
class Forward:
    """A record read from a partition other than its unit's (a producer with another partitioner):
    it goes on, unchanged and keyed by its unit, to ``partition`` of the worker's repartition topic,
    and is processed from there, next to the unit's state."""

    key: bytes
    value: bytes
    partition: int


class RecordStore:
    """Fact records as compact JSON in a key-value store (a Faust table's store).

    Changed records are collected for the changelog: a record touched several times in one batch
    is sent once. The worker sends them (streams.changelog) and waits for the broker's
    acknowledgements before the batch is acknowledged, so offsets are never committed ahead of
    the state they produced.
    """

    def __init__(self, data: MutableMapping[bytes, bytes]) -> None:
        self.data = data
        self._unsent: dict[bytes, tuple[int, bytes]] = {}

    def get(self, key: str) -> Record | None:
        raw = self.data.get(key.encode())
        return decode_record(raw) if raw is not None else None

    def get_pair(self, key: str) -> tuple[Record, Record] | tuple[None, None]:
        """The stored record twice, as two independent copies (the state before a change, and
        the one to change), or (None, None)."""
        raw = self.data.get(key.encode())
        return (decode_record(raw), decode_record(raw)) if raw is not None else (None, None)

    def put(self, partition: int, key: str, rec: Record) -> None:
        k, v = key.encode(), encode_record(rec)
        db_for_partition = getattr(self.data, "_db_for_partition", None)
        if db_for_partition is not None:
            # Faust's RocksDB store picks the partition database from the *current event*, which
            # does not exist when a timer persists alert flags; we always know the partition.
            db_for_partition(partition).put(k, v)
            self.data._key_index[k] = partition  # type: ignore[attr-defined]  # Faust's RocksDB store, as found above
        else:
            self.data[k] = v
        self._unsent[k] = (partition, v)

    def take_unsent(self) -> dict[bytes, tuple[int, bytes]]:
        """Changed records since the last call: {key: (partition, value)}."""
        unsent, self._unsent = self._unsent, {}
        return unsent

    def items(self, partitions: set[int] | None = None) -> Iterable[tuple[str, Record]]:
        for k, v in list(self.data.items()):
            rec = decode_record(v)
            if partitions is None or rec["partition"] in partitions:
                yield (k.decode() if isinstance(k, bytes) else k), rec


@dataclass
class TopicStats:
    events_total: int = 0
    dead_letters: int = 0
    late_events: int = 0
    duplicates: int = 0
    conflicting_event_ids: int = 0
    repartitioned: int = 0
    unkeyed: int = 0
    processing_errors: int = 0
    last_total: int = 0
    last_time: float = field(default_factory=time.monotonic)


class WorkerCore:
    def __init__(
        self,
        settings: Settings,
        store: RecordStore,
        *,
        replay: bool = False,
        app_id: str = "govpulse",
        worker: str = "worker",
    ) -> None:
        self.settings = settings
        self.worker = worker  # pipeline_health tag: workers sharing an app id each report their partitions
        self.store = store
        self.replay = replay
        self.app_id = app_id
        self.cal = LocalCalendar.for_zone(settings.timezone, settings.report_year_start)
        policy = AlertPolicy(settings.due_soon_lead_working_days, int(settings.apology_grace.total_seconds() * 1000))
        self.rolling = tuple(w.strip() for w in settings.rolling_windows.split(",") if w.strip())
        self.agg = Aggregator(
            self.cal, policy, store.get, int(settings.allowed_lateness.total_seconds() * 1000), self.rolling
        )
        self.stats: dict[str, TopicStats] = defaultdict(TopicStats)
        self.last_event_wall: dict[int, float] = {}
        self.last_any_event_wall = 0.0
        # Event-time watermarks per (topic, partition). Alerts are about dossiers, so their clock is
        # the dossier topic's watermark: the document topic racing ahead in a replay must not make
        # March dossiers look overdue before their March resolutions have been read.
        self.topic_wm: dict[tuple[str, int], int] = {}
        self.dossier_wm: dict[int, int] = {}
        self.pending_alerts: list[Alert] = []
        # Per partition: event id -> fingerprint of every event merged there (None: merged by a
        # version that kept none), to tell a redelivery from a reused id. Rebuilt from the records.
        self.event_ids: dict[int, dict[int, int | None]] = defaultdict(dict)
        # (topic, unit) -> the partition the unit's state lives in, or None (not checked); set by the
        # worker (streams.kafka.partitioner): a record outside it is forwarded (see Forward)
        self.home_partition: Callable[[str, str], int | None] = lambda topic, unit: None
        # Kafka timestamps of events not yet flushed (benchmark latency only; bounded)
        self.record_latency = settings.latency_log is not None
        self.unflushed_timestamps: list[int] = []

    # -- per event ---------------------------------------------------------------------
    def handle(
        self, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None, timestamp_ms: int | None
    ) -> DeadLetter | Forward | None:
        """Process one Kafka record. Returns a dead-letter payload when it cannot be used, a Forward
        when it belongs to another partition, None when it was used (or was a redelivery)."""
        st = self.stats[topic]
        st.events_total += 1
        source = (topic, partition, offset, key, value, timestamp_ms)  # what a dead letter names
        if self.record_latency and timestamp_ms and len(self.unflushed_timestamps) < 1_000_000:
            self.unflushed_timestamps.append(timestamp_ms)
        now = time.time()
        self.last_event_wall[partition] = now
        self.last_any_event_wall = now
        try:
            event = parse_event(value if value is not None else b"null")
        except InvalidEvent as e:
            st.dead_letters += 1
            return self._dead_letter("invalid_event", str(e), e.errors, source)
        unit = event.unit_key
        if key is not None and key.decode(errors="replace") != unit:
            st.dead_letters += 1
            reason = f"Kafka key {key!r} is not the event's unit {unit!r}; producers must key events by unit"
            return self._dead_letter(
                "wrong_key",
                reason,
                [("key", reason)],
                source,
            )
        if key is None:
            # Policy: a record without a key is keyed by its unit (and forwarded if that is another
            # partition), and counted, so that a producer that forgets keys is seen, not punished.
            st.unkeyed += 1
        home = self.home_partition(topic, unit)
        if home is not None and home != partition:
            st.repartitioned += 1
            return Forward(unit.encode(), value or b"", home)
        t = to_ms(event.event_time())
        wm = self.topic_wm.get((topic, partition))
        if wm is not None and t < wm - self.agg.allowed_lateness_ms:
            st.late_events += 1
            reason = f"event time {event.event_time().isoformat()} is older than the allowed lateness"
            return self._dead_letter(
                "too_late",
                reason,
                [("occurred_at", reason)],
                source,
            )
        rkey, kind = record_key(event)
        if kind in ONE_STOP_KINDS:
            # Fire what fell due before this event, in partition order, before applying it: the
            # same alerts whatever the batch boundaries, so a replay regenerates them exactly.
            self._fire(partition, t)
        ids = self.event_ids[partition]
        eid, fp = event.event_id.int, fingerprint(event)
        if eid in ids:
            first = ids[eid]
            if first is None or first == fp:
                st.duplicates += 1
                return None
            # the same id for other content (or another entity): a producer bug the IT centre must
            # see; the first version, in partition order, stays
            st.conflicting_event_ids += 1
            st.dead_letters += 1
            reason = (
                f"event_id {event.event_id} was already used for an event with other content "
                f"(fingerprint {first:016x}, this one {fp:016x}); a redelivery must repeat the "
                "event exactly, a new event needs a new id"
            )
            return self._dead_letter(
                "conflicting_event_id",
                reason,
                [("event_id", reason)],
                source,
                first_fingerprint=f"{first:016x}",
                fingerprint=f"{fp:016x}",
            )
        old, new = self.store.get_pair(rkey)
        if new is None:
            new = new_record(event, kind, partition)
        if not apply_event(new, event, fp):
            st.duplicates += 1
            return None
        ids[eid] = fp
        self.store.put(partition, rkey, new)
        self.agg.observe(partition, t)
        if wm is None or t > wm:
            self.topic_wm[(topic, partition)] = t
        if kind in ONE_STOP_KINDS and t > self.dossier_wm.get(partition, -(2**62)):
            self.dossier_wm[partition] = t
        self.agg.apply(rkey, old, new)
        u = self.agg.units[unit]
        occ = to_ms(event.occurred_at)
        if occ > u.last_event.get(event.source_system, 0):
            u.last_event[event.source_system] = occ
        return None

    def processing_error(
        self,
        exc: BaseException,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        timestamp_ms: int | None,
    ) -> DeadLetter:
        """A dead letter for a record whose processing raised: it must not block its partition."""
        self.stats[topic].processing_errors += 1
        self.stats[topic].dead_letters += 1
        where = "".join(traceback.format_exception(exc, limit=-3)).strip()
        reason = f"processing failed: {type(exc).__name__}: {exc}"
        return self._dead_letter(
            "processing_error",
            reason,
            [("", reason)],
            (topic, partition, offset, key, value, timestamp_ms),
            traceback=where[-DEAD_LETTER_REASON_CHARS:],
        )

    def _dead_letter(
        self,
        kind: str,
        reason: str,
        errors: list[tuple[str, str]],
        source: tuple[str, int, int, bytes | None, bytes | None, int | None],
        **extra: str,
    ) -> DeadLetter:
        """The dead-letter payload: reason, source position and the raw record, bounded in size. A
        raw payload over ``dead_letter_max_raw_bytes`` keeps its first bytes, its size and its
        SHA-256 (``raw_truncated``); binary payloads are base64 within the same bound."""
        topic, partition, offset, key, value, ts = source  # the record as read: position, key, bytes, timestamp
        raw = value or b""
        limit = self.settings.dead_letter_max_raw_bytes
        text = _cut_utf8(raw, limit)
        if text is not None:
            encoding, kept = "utf-8", len(text.encode())
        else:
            kept = limit * 3 // 4  # base64 grows it by 4/3
            text, encoding = base64.b64encode(raw[:kept]).decode(), "base64"
            kept = min(kept, len(raw))
        return {
            "reason_kind": kind,
            "reason": reason[:DEAD_LETTER_REASON_CHARS],
            "errors": [{"field": f[:200], "reason": r[:500]} for f, r in errors[:DEAD_LETTER_ERRORS]],
            "errors_total": len(errors),
            "source": {"topic": topic, "partition": partition, "offset": offset, "timestamp_ms": ts},
            "key": key[:DEAD_LETTER_KEY_BYTES].decode(errors="replace") if key else None,
            "raw": text,
            "raw_encoding": encoding,
            "raw_size": len(raw),
            "raw_truncated": kept < len(raw),
            "raw_sha256": hashlib.sha256(raw).hexdigest(),
            "app_id": self.app_id,
            **extra,
        }

    @staticmethod
    def dead_letter_key(key: bytes | None) -> bytes | None:
        """The Kafka key a dead letter is sent with: the source key, bounded like the payload."""
        return key[:DEAD_LETTER_KEY_BYTES] if key else None

    # -- clocks, alerts, snapshots ----------------------------------------------------------
    def clock(self, partition: int, wall: float | None = None) -> int | None:
        """ "Now" for a partition: the event-time watermark in replay; in live operation the wall
        clock once the partition is idle and caught up."""
        wm = self.dossier_wm.get(partition)
        if wm is None or self.replay:
            return wm
        wall = time.time() if wall is None else wall
        wall_ms = int(wall * 1000)
        idle = wall - self.last_event_wall.get(partition, 0.0) > IDLE_FOLLOWS_WALL_SECONDS
        if idle and wall_ms - wm < LIVE_HORIZON_MS:
            return max(wm, wall_ms)
        return wm

    def clocks(self, wall: float | None = None) -> dict[int, int]:
        out = {}
        for p in list(self.dossier_wm):
            c = self.clock(p, wall)
            if c is not None:
                out[p] = c
        return out

    def _fire(self, partition: int, now_ms: int) -> None:
        fired, persist = self.agg.advance(partition, now_ms)
        for key, rec in persist:
            self.store.put(rec["partition"], key, rec)
        self.pending_alerts.extend(fired)

    def advance(self, wall: float | None = None) -> list[Alert]:
        """Fire alerts due by each partition's clock; returns them with those fired while handling
        events. The alert flags are persisted in the records (at most once per dossier and kind)."""
        for p, now in self.clocks(wall).items():
            self._fire(p, now)
        alerts, self.pending_alerts = self.pending_alerts, []
        return alerts

    def snapshot(self, wall: float | None = None) -> list[Row]:
        """Rows for changed series. Rolling points are written up to the partition's latest event
        time over all topics (or the live clock, if later)."""
        wall = time.time() if wall is None else wall
        clocks = dict(self.agg.watermark)
        for p, c in self.clocks(wall).items():
            clocks[p] = max(c, clocks.get(p, c))
        return self.agg.snapshot(clocks, int(wall * 1000))

    def rebuild(self, partitions: set[int]) -> int:
        """Recompute aggregates from the recovered table, for the partitions now owned."""
        from streams.domain.records import latest_time

        self.agg = Aggregator(self.cal, self.agg.policy, self.store.get, self.agg.allowed_lateness_ms, self.rolling)
        self.dossier_wm.clear()
        self.topic_wm.clear()
        self.event_ids.clear()
        records = list(self.store.items(partitions))
        for _, rec in records:
            ids = self.event_ids[rec["partition"]]
            for eid, fp in fingerprints(rec):
                ids[event_id_key(eid)] = fp
            if rec["kind"] in ONE_STOP_KINDS:
                t = latest_time(rec)
                if t > self.dossier_wm.get(rec["partition"], -(2**62)):
                    self.dossier_wm[rec["partition"]] = t
        return self.agg.rebuild(records)

    def health_rows(
        self,
        lags: dict[str, int | None],
        wall: float | None = None,
        points_rejected: int | None = None,
        offset_gaps: Mapping[str, int] | None = None,
    ) -> list[Row]:
        """pipeline_health rows: per topic, the counters and the lag; ``offset_gaps`` per topic (records
        that did not reach the worker in order and were read again) come from the checkpoint."""
        wall = time.time() if wall is None else wall
        rows: list[Row] = []
        mono = time.monotonic()
        for topic, st in list(self.stats.items()):
            dt = max(mono - st.last_time, 1e-6)
            eps = (st.events_total - st.last_total) / dt
            st.last_total, st.last_time = st.events_total, mono
            fields: dict[str, object] = {
                "events_total": st.events_total,
                "events_per_second": float(eps),
                "dead_letters": st.dead_letters,
                "late_events": st.late_events,
                "duplicates": st.duplicates,
                "offset_gaps": (offset_gaps or {}).get(topic, 0),
                "conflicting_event_ids": st.conflicting_event_ids,
                "repartitioned": st.repartitioned,
                "unkeyed": st.unkeyed,
                "processing_errors": st.processing_errors,
            }
            lag = lags.get(topic)
            if lag is not None:
                fields["consumer_lag"] = lag
            rows.append(
                Row(
                    m.PIPELINE_HEALTH,
                    {"app_id": self.app_id, "worker": self.worker, "topic": topic},
                    fields,
                    int(wall * 1000),
                )
            )
        if points_rejected is not None:
            # the sink's count is the worker's, not a topic's
            rows.append(
                Row(
                    m.PIPELINE_HEALTH,
                    {"app_id": self.app_id, "worker": self.worker, "topic": m.SINK_TOPIC},
                    {"points_rejected": points_rejected},
                    int(wall * 1000),
                )
            )
        return rows
