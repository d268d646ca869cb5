"""Archive a topic to gzip JSON Lines files, resumably (``govpulse archive``).

Layout under the output directory, one folder per topic::

    OUT/govpulse.dossier-events/
        manifest.json
        p000-000000000000-000000041311.jsonl.gz   # partition 0, offsets 0..41311
        p001-...

Each run reads every partition from where the manifest left off (``next_offset``) up
to the end offsets captured when the run starts (or keeps following with
``follow=True``), and writes one new segment per partition it read, in offset order
(format: :mod:`producers.records`).  A segment is written to a temporary name and
renamed when complete, then the manifest is replaced atomically, so an interrupted run
leaves either nothing or a whole segment: segments the manifest does not list (a crash
between rename and manifest) are deleted at the next start and their records read
again.  Consumption needs no consumer group: partitions are assigned manually and
nothing is committed to Kafka; the manifest is the only position.

The manifest also keeps, per partition and in total, record counts per event type and
the min/max event time (the event's business time, e.g. ``received_at``), read from
each value without full validation; values that are not events count as ``<invalid>``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypedDict

import orjson

from common.settings import Settings
from producers.kafka_common import DEFAULT_CONNECT_TIMEOUT_S, base_config, unavailable
from producers.records import Record, RecordWriter
from producers.topics import full_name

__all__ = ["EVENT_TIME_FIELD", "ArchiveResult", "Manifest", "archive_topic", "event_type_and_time"]

MANIFEST = "manifest.json"
FORMAT = "govpulse-archive/1"

# The field holding each type's event time (mirrors Envelope.event_time() overrides).
EVENT_TIME_FIELD = {
    "dossier.received": "received_at",
    "dossier.supplement_requested": "requested_at",
    "dossier.transferred": "transferred_at",
    "dossier.resolved": "resolved_at",
    "dossier.withdrawn": "withdrawn_at",
    "dossier.refused": "refused_at",
    "dossier.apology_issued": "issued_at",
    "dossier.rated": "rated_at",
    "feedback.received": "received_at",
    "feedback.transferred": "transferred_at",
    "feedback.handled": "handled_at",
    "feedback.rated": "rated_at",
    "document.issued": "issued_at",
    "document.received": "received_at",
    "meeting.scheduled": "occurred_at",
    "meeting.started": "started_at",
    "meeting.ended": "ended_at",
}
INVALID = "<invalid>"


class SegmentInfo(TypedDict):
    """One finished segment, as the manifest lists it."""

    file: str
    partition: int
    first_offset: int
    last_offset: int
    records: int


class Totals(TypedDict):
    """The manifest's totals over all partitions."""

    records: int
    by_type: dict[str, int]
    event_time_min: str | None
    event_time_max: str | None


def event_type_and_time(value: bytes | None) -> tuple[str, datetime | None]:
    """Cheap look at a value: (event type or ``<invalid>``, event time or None)."""
    try:
        d = orjson.loads(value) if value is not None else None
    except orjson.JSONDecodeError:
        return INVALID, None
    if not isinstance(d, dict) or d.get("event_type") not in EVENT_TIME_FIELD:
        return INVALID, None
    et = d["event_type"]
    raw = d.get(EVENT_TIME_FIELD[et])
    try:
        t = datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        t = None
    if t is not None and t.tzinfo is None:
        t = None
    return et, t


@dataclass
class PartitionState:
    next_offset: int | None = None
    records: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    event_time_min: str | None = None
    event_time_max: str | None = None
    gaps: list[list[int]] = field(default_factory=list)  # [from, to) offsets lost to retention

    def add(self, et: str, t: datetime | None) -> None:
        self.records += 1
        self.by_type[et] = self.by_type.get(et, 0) + 1
        if t is not None:
            if self.event_time_min is None or t < datetime.fromisoformat(self.event_time_min):
                self.event_time_min = t.isoformat()
            if self.event_time_max is None or t > datetime.fromisoformat(self.event_time_max):
                self.event_time_max = t.isoformat()


@dataclass
class Manifest:
    topic: str
    partitions: dict[int, PartitionState] = field(default_factory=dict)
    segments: list[SegmentInfo] = field(default_factory=list)
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    updated_at: str | None = None

    @classmethod
    def load(cls, path: Path, topic: str) -> Manifest:
        if not path.exists():
            return cls(topic)
        d = orjson.loads(path.read_bytes())
        if d.get("format") != FORMAT:
            raise ValueError(f"{path}: not a govpulse archive manifest (format {d.get('format')!r})")
        if d.get("topic") != topic:
            raise ValueError(f"{path}: archive of topic {d.get('topic')!r}, not {topic!r}; use another --out")
        parts = {int(k): PartitionState(**v) for k, v in d.get("partitions", {}).items()}
        return cls(topic, parts, d.get("segments", []), d.get("created_at", ""), d.get("updated_at"))

    def totals(self) -> Totals:
        by_type: dict[str, int] = {}
        mins, maxs = [], []
        for p in self.partitions.values():
            for k, v in p.by_type.items():
                by_type[k] = by_type.get(k, 0) + v
            if p.event_time_min:
                mins.append(datetime.fromisoformat(p.event_time_min))
            if p.event_time_max:
                maxs.append(datetime.fromisoformat(p.event_time_max))
        return {
            "records": sum(p.records for p in self.partitions.values()),
            "by_type": dict(sorted(by_type.items())),
            "event_time_min": min(mins).isoformat() if mins else None,
            "event_time_max": max(maxs).isoformat() if maxs else None,
        }

    def save(self, path: Path) -> None:
        self.updated_at = datetime.now(UTC).isoformat(timespec="seconds")
        d = {
            "format": FORMAT,
            "topic": self.topic,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "totals": self.totals(),
            "partitions": {str(k): vars(v) for k, v in sorted(self.partitions.items())},
            "segments": self.segments,
        }
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(orjson.dumps(d, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)


@dataclass
class ArchiveResult:
    topic: str
    directory: Path
    new_records: int
    new_segments: list[str]
    manifest: Manifest
    removed_orphans: list[str]
    started_at_end: bool  # first run without --from-beginning: nothing old archived


class _Segment:
    def __init__(self, directory: Path, partition: int, first_offset: int) -> None:
        self.directory, self.partition, self.first = directory, partition, first_offset
        self.last = first_offset - 1
        self.count = 0
        self._tmp_name = f".p{partition:03d}-{first_offset:012d}.jsonl.gz"
        self.writer = RecordWriter(directory / self._tmp_name)

    def write(self, r: Record) -> None:
        self.writer.write(r)
        self.last = r.offset  # type: ignore[assignment]  # records read from Kafka always have an offset
        self.count += 1

    def finish(self) -> SegmentInfo:
        self.writer.close()
        name = f"p{self.partition:03d}-{self.first:012d}-{self.last:012d}.jsonl.gz"
        os.replace(self.directory / self._tmp_name, self.directory / name)
        return {
            "file": name,
            "partition": self.partition,
            "first_offset": self.first,
            "last_offset": self.last,
            "records": self.count,
        }

    def discard(self) -> None:
        self.writer.discard()
        (self.directory / self._tmp_name).unlink(missing_ok=True)


def archive_topic(
    settings: Settings,
    topic: str,
    out_dir: str | Path,
    *,
    from_beginning: bool = False,
    follow: bool = False,
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
    segment_records: int = 1_000_000,
    checkpoint_seconds: float = 30.0,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> ArchiveResult:
    """Archive new records of ``topic`` (short or full name) into ``out_dir/<topic>/``."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.errors import KafkaError

    name = full_name(settings, topic)
    directory = Path(out_dir) / name
    directory.mkdir(parents=True, exist_ok=True)
    mpath = directory / MANIFEST
    manifest = Manifest.load(mpath, name)

    # crash leftovers: temp files and segments the manifest never recorded
    listed = {s["file"] for s in manifest.segments}
    removed = []
    for f in sorted(directory.iterdir()):
        if f.name == MANIFEST:
            continue
        if f.name.startswith(".") or (f.name.endswith(".jsonl.gz") and f.name not in listed):
            f.unlink()
            removed.append(f.name)

    try:
        consumer = KafkaConsumer(
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=5000,
            fetch_max_bytes=32 * 1024 * 1024,
            max_partition_fetch_bytes=8 * 1024 * 1024,
            request_timeout_ms=int(max(connect_timeout_s, 31) * 1000) + 1000,
            **base_config(settings, connect_timeout_s),
        )
    except KafkaError as e:
        raise unavailable(settings, connect_timeout_s, e) from e
    segments: dict[int, _Segment] = {}
    new_segments: list[str] = []
    new_records = 0
    started_at_end = False
    try:
        parts = consumer.partitions_for_topic(name)
        if not parts:
            raise ValueError(f"topic {name} does not exist (or has no partitions)")
        tps = [TopicPartition(name, p) for p in sorted(parts)]
        consumer.assign(tps)
        begin = consumer.beginning_offsets(tps)
        end = consumer.end_offsets(tps)
        todo: dict[TopicPartition, int] = {}
        for tp in tps:
            st = manifest.partitions.setdefault(tp.partition, PartitionState())
            if st.next_offset is None:
                if from_beginning:
                    st.next_offset = begin[tp]
                else:
                    st.next_offset = end[tp]
                    started_at_end = True
            if st.next_offset < begin[tp]:
                # retention deleted records we never archived: say so in the manifest
                st.gaps.append([st.next_offset, begin[tp]])
                st.next_offset = begin[tp]
            consumer.seek(tp, st.next_offset)
            todo[tp] = end[tp]
        total_todo = sum(max(0, end[tp] - manifest.partitions[tp.partition].next_offset) for tp in tps)
        last_checkpoint = time.monotonic()

        def checkpoint() -> None:
            for _p, seg in sorted(segments.items()):
                if seg.count:
                    info = seg.finish()
                    manifest.segments.append(info)
                    new_segments.append(info["file"])
                else:
                    seg.discard()
            segments.clear()
            manifest.save(mpath)

        def done() -> bool:
            if follow:
                return False
            return all(consumer.position(tp) >= todo[tp] for tp in tps)

        while not done() and not should_stop():
            batch = consumer.poll(timeout_ms=500)
            for tp, recs in sorted(batch.items(), key=lambda x: x[0].partition):
                st = manifest.partitions[tp.partition]
                for r in recs:
                    if not follow and r.offset >= todo[tp]:
                        break
                    seg = segments.get(tp.partition)
                    if seg is None:
                        seg = segments[tp.partition] = _Segment(directory, tp.partition, r.offset)
                    seg.write(Record(name, r.partition, r.offset, r.timestamp, r.key, r.value))
                    et, t = event_type_and_time(r.value)
                    st.add(et, t)
                    st.next_offset = r.offset + 1
                    new_records += 1
                    if seg.count >= segment_records:
                        manifest.segments.append(seg.finish())
                        new_segments.append(manifest.segments[-1]["file"])
                        del segments[tp.partition]
                # pause partitions that reached the end captured at start
                if not follow and consumer.position(tp) >= todo[tp]:
                    consumer.pause(tp)
            if progress:
                progress(new_records, total_todo)
            if follow and time.monotonic() - last_checkpoint >= checkpoint_seconds:
                checkpoint()
                last_checkpoint = time.monotonic()
        # positions past compacted/aborted gaps still count as archived
        for tp in tps:
            pos = consumer.position(tp)
            st = manifest.partitions[tp.partition]
            if not follow and pos is not None and pos <= todo[tp]:
                st.next_offset = max(st.next_offset or 0, min(pos, todo[tp]))
        checkpoint()
    except BaseException:
        for seg in segments.values():
            seg.discard()
        raise
    finally:
        consumer.close()
    return ArchiveResult(name, directory, new_records, new_segments, manifest, removed, started_at_end)
