"""InfluxDB sink: rows to line protocol, batched writes with retries, a bounded pending buffer.

Every row is a snapshot keyed by (measurement, tags, time): writing it again overwrites the
same point, so retries, restarts and replays converge instead of duplicating. Rows that could
not be written stay pending (newer snapshots of the same point replace older ones, so the
buffer is bounded by the number of distinct points) and are retried at the next flush. A
batch InfluxDB rejects as invalid is split until the offending lines are isolated: only they
are dropped (logged with their series, counted in ``rejected_points``).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterable, Mapping

from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException

from common.diagnostics import trace_file
from common.settings import Settings
from schemas.line_protocol import escape_field_key, escape_measurement, escape_string_field, escape_tag
from streams.domain.rows import NS_PER_MS, Row, Tags

log = logging.getLogger("govpulse.sink")

PointKey = tuple[str, tuple[tuple[str, str], ...], int]  # measurement, sorted tags, time ns: one point


def _field(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return f"{v}i"
    if isinstance(v, float):
        return repr(v)
    return f'"{escape_string_field(str(v))}"'


def _prefix(measurement: str, tags: Mapping[str, str]) -> str:
    """Escaped as influxd 2.7 parses it (schemas/line_protocol.py). A tag value it cannot
    represent (trailing backslash, line feed, an odd run of backslashes before an escaped
    character) can make the line invalid: the flush isolates and drops that line alone. Unit
    names are checked when the registry is loaded."""
    tag_part = "".join(f",{escape_tag(k)}={escape_tag(v)}" for k, v in sorted(tags.items()) if v not in (None, ""))
    return f"{escape_measurement(measurement)}{tag_part}"


_FIELD_KEYS: dict[str, str] = {}


def _field_key(k: str) -> str:
    e = _FIELD_KEYS.get(k)
    if e is None:
        e = _FIELD_KEYS[k] = escape_field_key(k)
    return e


def _cached_prefix(measurement: str, tags: Tags) -> str:
    """A reused tag set's escaped prefix, built once per measurement and kept on the tag set: the
    same few thousand tag sets are written at every flush."""
    try:
        cache = tags.writer_cache
    except AttributeError:
        cache = tags.writer_cache = {}
    p = cache.get(measurement)
    if p is None:
        p = cache[measurement] = _prefix(measurement, tags)
    return p


def _time_ns(row: Row) -> int:
    """The row's time in epoch ns. Indexed, not ``row.time_ns()``: plain 4-tuples (tests, tools) are
    rows too, with no nanoseconds within their millisecond."""
    return row[3] * NS_PER_MS + (row[4] if len(row) > 4 else 0)


def _with_fields(row: Row, fields: dict[str, object]) -> Row:
    """The same point (series and time) with other fields."""
    return Row(row[0], row[1], fields, row[3], row[4] if len(row) > 4 else 0)


def line(row: Row) -> str:
    """One row as InfluxDB line protocol with nanosecond precision (tags sorted, empty tags dropped):
    points of one series within one millisecond (dossier_alerts) must stay distinct points; every
    other row's time is its millisecond times 10^6, the same instant as before."""
    measurement, tags, fields = row[0], row[1], row[2]
    prefix = _cached_prefix(measurement, tags) if isinstance(tags, Tags) else _prefix(measurement, tags)
    field_part = ",".join(f"{_field_key(k)}={_field(v)}" for k, v in fields.items() if v is not None)
    return f"{prefix} {field_part} {_time_ns(row)}"


def point_key(row: Row) -> PointKey:
    """A point's identity in InfluxDB: measurement, tag set and time (a later write replaces it)."""
    measurement, tags = row[0], row[1]
    return (measurement, tags.key() if isinstance(tags, Tags) else tuple(sorted(tags.items())), _time_ns(row))


def _short(s: str, limit: int) -> str:
    return s if len(s) <= limit else f"{s[:limit]}… ({len(s)} characters)"


def _series(row: Row) -> str:
    """A row's series as written (measurement and tags, escaped), cut short if huge."""
    measurement, tags = row[0], row[1]
    return _short(_prefix(measurement, tags), 500)


def _reason(status: int | None, body: str | None) -> str:
    """influxd's reason for rejecting one line, without the line itself (it may be huge)."""
    try:
        message = json.loads(body or "")["message"]
    except (ValueError, KeyError, TypeError):
        message = body or "?"
    else:
        if message.startswith("unable to parse '"):  # one "unable to parse '<line>': <reason>" per fragment
            reasons = [part.rsplit("': ", 1)[1] for part in message.split("\nunable to parse '") if "': " in part]
            message = "; ".join(dict.fromkeys(reasons)) or message
    return f"HTTP {status}: {_short(message, 300)}"


def ensure_bucket(settings: Settings, bucket: str) -> None:
    """Create the bucket if it is missing (idempotent)."""
    with InfluxDBClient(url=settings.influx_url, token=settings.resolve_influx_token(), org=settings.influx_org) as c:
        api = c.buckets_api()
        if api.find_bucket_by_name(bucket) is None:
            org = c.organizations_api().find_organizations(org=settings.influx_org)[0]
            try:
                api.create_bucket(bucket_name=bucket, org_id=org.id)
            except ApiException as e:
                # several workers starting together race to create it: someone else won
                if e.status != 422 or api.find_bucket_by_name(bucket) is None:
                    raise


class InfluxSink:
    def __init__(
        self, settings: Settings, bucket: str | None = None, batch_size: int = 5000, max_pending: int = 2_000_000
    ) -> None:
        self.settings = settings
        self.bucket = bucket or settings.influx_bucket
        self.batch_size = batch_size
        self.max_pending = max_pending
        self.client = InfluxDBClient(
            url=settings.influx_url, token=settings.resolve_influx_token(), org=settings.influx_org, timeout=30_000
        )
        self.write_api = self.client.write_api(write_options=SYNCHRONOUS)
        self._pending: dict[PointKey, Row] = {}
        self._lock = threading.Lock()
        self.points_written = 0
        self.write_failures = 0
        self.last_error: str | None = None
        self.rejected_points = 0
        self._rejection: tuple[int | None, str | None] = (None, None)  # the last invalid-batch answer
        # diagnostics: GOVPULSE_SINK_TRACE=FILE appends every line written, with the wall time
        self._trace = trace_file(settings.sink_trace)

    def add(self, rows: Iterable[Row]) -> None:
        """Queue rows; a row for a point already queued is merged into it field by field (the later
        value wins), which is what InfluxDB would hold after both writes. Replacing it instead lost
        fields when a sparse row followed one that was not yet written (a zero written to take a
        count back, then a later sparse row without that field: the stale count stayed)."""
        with self._lock:
            pending = self._pending
            for r in rows:
                key = point_key(r)
                queued = pending.get(key)
                if queued is not None and queued[2].keys() - r[2].keys():
                    r = _with_fields(r, {**queued[2], **r[2]})
                pending[key] = r

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def backpressure(self) -> bool:
        """True when the buffer is full: the worker should pause consuming until writes succeed."""
        return len(self._pending) >= self.max_pending

    def flush(self, attempts: int = 3) -> bool:
        """Write everything pending; on failure keep it pending (retried next flush). Blocking.

        A batch InfluxDB rejects as invalid (HTTP 400: a line it cannot parse, after which
        influxd 2.7 writes none of the batch; 422: e.g. a field type conflict, a partial write;
        413: too large) is split in halves until the offending lines are isolated. Only those
        are dropped, each logged with its series and counted in ``rejected_points``; every other
        line is written (writing a line again is harmless: same series and time overwrite)."""
        with self._lock:
            rows = list(self._pending.items())
            self._pending.clear()
        start = 0
        try:
            for start in range(0, len(rows), self.batch_size):
                chunk = rows[start : start + self.batch_size]
                done = self._write_lines(chunk, [line(r) for _, r in chunk], attempts, top=True)
                if done < len(chunk):
                    self._keep_pending(rows[start + done :])
                    return False
        except BaseException:
            # 401/403/404 (configuration) propagate; nothing of this chunk on is lost meanwhile
            self._keep_pending(rows[start:])
            raise
        return True

    def _keep_pending(self, rows: list[tuple[PointKey, Row]]) -> None:
        with self._lock:
            pending = self._pending
            for k, r in rows:
                newer = pending.get(k)
                if newer is None:
                    pending[k] = r
                elif r[2].keys() - newer[2].keys():
                    # a newer snapshot that arrived meanwhile wins, field by field (as add() merges)
                    pending[k] = _with_fields(newer, {**r[2], **newer[2]})

    def _write_lines(
        self, items: list[tuple[PointKey, Row]], lines: list[str], attempts: int, top: bool = False
    ) -> int:
        """Write these lines, splitting an invalid batch; returns how many leading items were
        dealt with (written or rejected): the rest could not be written now (InfluxDB down)."""
        body = "\n".join(lines)
        ok = self._write(body, attempts)
        if self._trace is not None:
            self._trace.write("".join(f"{os.getpid()} {time.time():.3f} {ok} {ln}\n" for ln in body.split("\n")))
            self._trace.flush()
        if ok:
            self.points_written += len(lines)
            return len(lines)
        if ok is False:
            return 0
        if len(lines) == 1:
            self.rejected_points += 1
            _, row = items[0]
            log.error(
                "InfluxDB rejected a point as invalid, dropped: series %s, time %s (ns), fields %s: %s",
                _series(row),
                _time_ns(row),
                ",".join(k for k, v in row[2].items() if v is not None),
                _reason(*self._rejection),
            )
            return 1
        if top:
            log.warning(
                "InfluxDB rejected a batch of %d lines as invalid (%s); splitting it to isolate the offending lines",
                len(lines),
                _short(self.last_error or "", 300),
            )
        mid = len(lines) // 2
        done = self._write_lines(items[:mid], lines[:mid], attempts)
        if done < mid:
            return done
        return mid + self._write_lines(items[mid:], lines[mid:], attempts)

    def _write(self, body: str, attempts: int) -> bool | None:
        """True: written; None: rejected as invalid (retrying cannot help); False: failed (retry later)."""
        delay = 0.5
        for i in range(attempts):
            try:
                self.write_api.write(
                    bucket=self.bucket,
                    org=self.settings.influx_org,
                    record=body,
                    # influxdb-client's own WritePrecision.NS is this str, yet it annotates the class
                    write_precision="ns",  # type: ignore[arg-type]
                )
                self.last_error = None
                return True
            except ApiException as e:
                self.last_error = _short(f"HTTP {e.status}: {e.body}", 2000)
                # wrong token, permission or bucket: configuration, stop loudly
                if e.status in (401, 403, 404):
                    log.error("InfluxDB refused the write: %s", self.last_error)
                    raise
                # unparsable lines, a field type conflict, a body too large: not better by retrying
                if e.status in (400, 413, 422):
                    self._rejection = (e.status, e.body if isinstance(e.body, str) else str(e.body))
                    return None
            except Exception as e:  # noqa: BLE001 - connection refused, timeouts: retry
                self.last_error = _short(f"{type(e).__name__}: {e}", 2000)
            self.write_failures += 1
            if i + 1 < attempts:
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
        log.warning("InfluxDB write failed, keeping %d points pending: %s", self.pending, self.last_error)
        return False

    def discard_pending(self) -> int:
        """Drop every unwritten point (after a rebalance the rebuilt aggregates rewrite them all)."""
        with self._lock:
            n = len(self._pending)
            self._pending.clear()
        return n

    def close(self) -> None:
        self.client.close()  # type: ignore[no-untyped-call]  # influxdb-client leaves close() unannotated
