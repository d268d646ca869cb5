"""The archive record format: gzip JSON Lines, one Kafka record per line.

Written by ``govpulse archive`` (from a topic) and ``govpulse simulate --out`` (from
the simulator), read by ``govpulse replay``.  One line::

    {"topic": "govpulse.dossier-events", "partition": 3, "offset": 1742,
     "timestamp_ms": 1640314800000, "key": "28261", "value": "{\\"event_id\\": ...}"}

* ``value`` is the record value exactly as it was on Kafka, as a JSON *string* (the
  event's JSON text, not a re-encoded object), so replay sends the original bytes.
  A value that is not valid UTF-8 is stored as ``value_b64`` (base64) instead; the
  same goes for ``key`` / ``key_b64``.  A null key or value is ``null``.
* ``partition`` and ``offset`` are ``null`` for simulator output (not read from Kafka).
* ``timestamp_ms`` is the Kafka record timestamp (CreateTime = the event's occurred_at).

Files may be plain ``.jsonl`` or gzip ``.jsonl.gz``; gzip files may consist of several
members (appending is allowed).
"""

from __future__ import annotations

import base64
import gzip
import io
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import orjson

FORMAT = "govpulse-records/1"
GZIP_LEVEL = 6  # level 9 costs ~3x the CPU for ~3% smaller files


@dataclass(frozen=True, slots=True)
class Record:
    topic: str | None
    partition: int | None
    offset: int | None
    timestamp_ms: int | None
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True, slots=True)
class BadLine:
    """A line that is not a record at all (not JSON, or missing fields)."""

    reason: str


# One archive line before encoding: the record's fields, key/value as text or base64.
_Line = dict[str, str | int | None]


def _enc(name: str, b: bytes | None, out: _Line) -> None:
    if b is None:
        out[name] = None
        return
    try:
        out[name] = b.decode("utf-8")
    except UnicodeDecodeError:
        out[name + "_b64"] = base64.b64encode(b).decode("ascii")


def encode_record(r: Record) -> bytes:
    """One JSON line (with the trailing newline)."""
    d: _Line = {"topic": r.topic, "partition": r.partition, "offset": r.offset, "timestamp_ms": r.timestamp_ms}
    _enc("key", r.key, d)
    _enc("value", r.value, d)
    return orjson.dumps(d) + b"\n"


def decode_line(line: bytes) -> Record | BadLine:
    try:
        d = orjson.loads(line)
    except orjson.JSONDecodeError as e:
        return BadLine(f"not valid JSON: {e}")
    if not isinstance(d, dict):
        return BadLine("a record line must be a JSON object")

    def get(name: str) -> bytes | None:
        if name + "_b64" in d:
            try:
                return base64.b64decode(d[name + "_b64"], validate=True)
            except (ValueError, TypeError):
                raise ValueError(f"{name}_b64: not valid base64") from None
        v = d.get(name)
        if v is None:
            return None
        if isinstance(v, str):
            return v.encode("utf-8")
        if isinstance(v, (dict, list)):
            # tolerated: a value stored as a JSON object (hand-written files)
            return orjson.dumps(v)
        raise ValueError(f"{name}: expected a string, got {type(v).__name__}")

    try:
        value = get("value")
        key = get("key")
    except ValueError as e:
        return BadLine(str(e))
    if value is None:
        return BadLine("value: missing (a record needs the event JSON)")
    ts = d.get("timestamp_ms")
    if ts is not None and (not isinstance(ts, int) or isinstance(ts, bool)):
        return BadLine(f"timestamp_ms: expected an integer, got {ts!r}")
    for f in ("partition", "offset"):
        v = d.get(f)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool)):
            return BadLine(f"{f}: expected an integer or null, got {v!r}")
    topic = d.get("topic")
    if topic is not None and not isinstance(topic, str):
        return BadLine(f"topic: expected a string, got {topic!r}")
    return Record(topic, d.get("partition"), d.get("offset"), ts, key, value)


class RecordWriter:
    """Write records to a ``.jsonl.gz`` (or ``.jsonl``) file atomically: temp file, then rename."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        raw = open(self._tmp, "wb")  # noqa: SIM115 - the writer owns the file; close() or discard() closes it
        self._raw = raw
        if self.path.name.endswith(".gz"):
            # no name, mtime 0: the file's bytes depend on its records only (reproducible)
            self._f: io.BufferedIOBase = gzip.GzipFile(
                filename="", mode="wb", fileobj=raw, compresslevel=GZIP_LEVEL, mtime=0
            )
        else:
            self._f = raw
        self.count = 0
        self._closed = False

    def write(self, r: Record) -> None:
        self._f.write(encode_record(r))
        self.count += 1

    def write_line(self, line: bytes) -> None:
        self._f.write(line)
        self.count += 1

    def close(self) -> Path:
        """Finish the file and move it into place."""
        if not self._closed:
            self._closed = True
            if self._f is not self._raw:
                self._f.close()
            self._raw.flush()
            os.fsync(self._raw.fileno())
            self._raw.close()
            os.replace(self._tmp, self.path)
        return self.path

    def discard(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                if self._f is not self._raw:
                    self._f.close()
                self._raw.close()
            finally:
                self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.discard()


class RecordReader:
    """Iterate ``(line_no, raw_line, Record | BadLine)`` of one file; tracks bytes read for progress."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.size = self.path.stat().st_size
        self._raw = open(self.path, "rb")  # noqa: SIM115 - the reader owns the file; close() closes it
        magic = self._raw.read(2)
        self._raw.seek(0)
        self._f = gzip.GzipFile(fileobj=self._raw, mode="rb") if magic == b"\x1f\x8b" else self._raw

    @property
    def position(self) -> int:
        """Bytes of the (compressed) file consumed so far."""
        try:
            return self._raw.tell()
        except ValueError:
            return self.size

    def __iter__(self) -> Iterator[tuple[int, bytes, Record | BadLine]]:
        try:
            for n, line in enumerate(self._f, start=1):
                stripped = line.strip()
                if not stripped:
                    continue
                yield n, stripped, decode_line(stripped)
        except (EOFError, gzip.BadGzipFile, OSError) as e:
            raise CorruptFile(f"{self.path}: unreadable ({type(e).__name__}: {e})") from e
        finally:
            self.close()

    def close(self) -> None:
        if self._f is not self._raw:
            self._f.close()
        self._raw.close()


class CorruptFile(RuntimeError):
    """A file that cannot be read to the end (truncated gzip, I/O error)."""


def expand_inputs(paths: Sequence[str | Path]) -> list[Path]:
    """Files as given; directories contribute their ``*.jsonl[.gz]`` files, sorted by path."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(
                sorted(
                    x
                    for x in p.rglob("*")
                    if x.is_file()
                    and not x.name.startswith(".")
                    and (x.name.endswith(".jsonl.gz") or x.name.endswith(".jsonl"))
                )
            )
        elif p.exists():
            out.append(p)
        else:
            raise FileNotFoundError(f"{p}: no such file or directory")
    return out
