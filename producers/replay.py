"""Replay archived or simulated records into Kafka (``govpulse replay``).

Input: archive segments (``govpulse archive``) and simulator output (``govpulse
simulate --out``), in the :mod:`producers.records` format; directories are expanded to
their ``*.jsonl[.gz]`` files.  Files are merged by record timestamp (stable: a file's
own order is kept), so every unit's events go out in their original order.

Every value is validated with :func:`schemas.parse_event` before it is sent.  An
invalid line stops the replay with an error naming ``file:line``, the field and the
reason; with ``rejects`` the line is written to that JSON Lines file instead (file,
line, reason, errors, raw line) and the replay carries on.  Nothing is dropped
silently: the summary counts read, sent, rejected and filtered records.

Records are sent with their original key and timestamp and their original value bytes,
to the topic of their event type under the *current* prefix (so an archive of
``govpulse.*`` can be replayed into ``test-x.*``).
"""

from __future__ import annotations

import heapq
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from common.settings import Settings
from producers.records import BadLine, CorruptFile, Record, RecordReader, expand_inputs
from producers.topics import short_name
from schemas import TOPIC_OF_TYPE, InvalidEvent, parse_event

if TYPE_CHECKING:
    from producers.kafka_sink import KafkaSink

__all__ = ["ReplayError", "ReplaySummary", "parse_time", "replay"]


class ReplayError(RuntimeError):
    """An invalid input line (without --skip-invalid), or an unreadable file."""

    def __init__(self, message: str, file: Path | None = None, line: int | None = None) -> None:
        self.file, self.line = file, line
        super().__init__(message)


@dataclass
class ReplaySummary:
    files: int = 0
    read: int = 0
    sent: int = 0
    rejected: int = 0
    filtered: int = 0  # outside --since/--until
    rerouted: int = 0  # archived on a topic other than their event type's
    key_mismatch: int = 0  # key differs from the event's unit (sent as is)
    by_topic: Counter[str] = field(default_factory=Counter)
    by_type: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    rejects_path: Path | None = None

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0


def parse_time(text: str, tz: tzinfo) -> int:
    """ISO date or date-time (naive = ``tz``) -> epoch ms."""
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO date or date-time") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=tz)
    return int(t.timestamp() * 1000)


@dataclass
class _Line:
    file: Path
    line: int
    raw: bytes
    item: Record | BadLine


def _lines(reader: RecordReader) -> Iterator[tuple[int, _Line]]:
    """(sort timestamp, line) of one file; a bad line sorts where it stands in its file."""
    last = -(2**63)
    for n, raw, item in reader:
        if isinstance(item, Record) and item.timestamp_ms is not None:
            last = item.timestamp_ms
        yield last, _Line(reader.path, n, raw, item)


class _Progress:
    def __init__(self, readers: list[RecordReader]) -> None:
        self.readers = readers
        self.total = sum(r.size for r in readers)

    def done_bytes(self) -> int:
        return sum(r.position for r in self.readers)


def replay(
    settings: Settings,
    paths: Sequence[str | Path],
    *,
    sink: KafkaSink | None = None,
    speed: float | None = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
    rejects: str | Path | None = None,
    progress: Callable[[ReplaySummary, int, int], None] | None = None,
    progress_every: int = 2000,
    sleep: Callable[[float], None] = time.sleep,
) -> ReplaySummary:
    """Validate and send records; ``sink=None`` validates only (dry run)."""
    files = expand_inputs(paths)
    summary = ReplaySummary(files=len(files), rejects_path=Path(rejects) if rejects else None)
    readers = [RecordReader(f) for f in files]
    prog = _Progress(readers)
    merged = heapq.merge(*(_lines(r) for r in readers), key=lambda x: x[0])
    topics = {short: settings.topic(short) for short in set(TOPIC_OF_TYPE.values())}
    rej = open(rejects, "ab") if rejects else None  # noqa: SIM115 - closed in the finally below
    t0 = time.monotonic()
    pace0: tuple[float, int] | None = None
    try:
        for _, ln in merged:
            summary.read += 1
            item = ln.item
            reason_errors: list[tuple[str, str]] | None = None
            event = None
            if isinstance(item, BadLine):
                reason_errors = [("", item.reason)]
            else:
                ts = item.timestamp_ms
                if ts is not None and (
                    (since_ms is not None and ts < since_ms) or (until_ms is not None and ts >= until_ms)
                ):
                    summary.filtered += 1
                    continue
                try:
                    event = parse_event(item.value)  # type: ignore[arg-type]
                except InvalidEvent as e:
                    reason_errors = e.errors
            if reason_errors is not None:
                reason = "; ".join(f"{f}: {r}" if f else r for f, r in reason_errors)
                if rej is None:
                    raise ReplayError(f"{ln.file}:{ln.line}: invalid record: {reason}", ln.file, ln.line)
                summary.rejected += 1
                rej.write(
                    orjson.dumps(
                        {
                            "file": str(ln.file),
                            "line": ln.line,
                            "reason": reason,
                            "errors": [{"field": f, "reason": r} for f, r in reason_errors],
                            "raw": ln.raw.decode("utf-8", "backslashreplace"),
                        }
                    )
                    + b"\n"
                )
                continue
            assert event is not None and isinstance(item, Record)
            et = event.event_type
            short = TOPIC_OF_TYPE[et]
            if item.topic is not None and short_name(item.topic) != short:
                summary.rerouted += 1
            ts = item.timestamp_ms if item.timestamp_ms is not None else int(event.occurred_at.timestamp() * 1000)
            if (
                ts is not None
                and item.timestamp_ms is None
                and ((since_ms is not None and ts < since_ms) or (until_ms is not None and ts >= until_ms))
            ):
                summary.filtered += 1
                continue
            if item.key is not None and item.key != event.unit_key.encode("utf-8"):
                summary.key_mismatch += 1
            if speed:
                now = time.monotonic()
                if pace0 is None:
                    pace0 = (now, ts)
                target = pace0[0] + (ts - pace0[1]) / 1000 / speed
                while target - time.monotonic() > 0:
                    sleep(min(target - time.monotonic(), 0.25))
                    if progress:
                        progress(summary, prog.done_bytes(), prog.total)
            topic = topics[short]
            if sink is not None:
                sink.send_raw(topic, item.key, item.value, ts)  # type: ignore[arg-type]
            summary.sent += 1
            summary.by_topic[topic] += 1
            summary.by_type[et] += 1
            if progress and summary.read % progress_every == 0:
                summary.seconds = time.monotonic() - t0
                progress(summary, prog.done_bytes(), prog.total)
        if sink is not None:
            sink.flush()
    except CorruptFile as e:
        raise ReplayError(str(e)) from e
    finally:
        if rej is not None:
            rej.close()
        for r in readers:
            r.close()
    summary.seconds = time.monotonic() - t0
    if progress:
        progress(summary, prog.total, prog.total)
    return summary
