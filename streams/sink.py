"""InfluxDB sink: rows to line protocol, batched writes with retries, a bounded pending buffer.

Every row is a snapshot keyed by (measurement, tags, time): writing it again overwrites the
same point, so retries, restarts and replays converge instead of duplicating. Rows that could
not be written stay pending (newer snapshots of the same point replace older ones, so the
buffer is bounded by the number of distinct points) and are retried at the next flush.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Iterable

from influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException

from govpulse.settings import Settings
from streams.domain.aggregator import Row, Tags

log = logging.getLogger("govpulse.sink")


def _esc_key(s: str) -> str:
    # measurement/tag keys/values: escape comma, equals, space (line protocol rules)
    return s.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def _esc_str(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"')


def _field(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return f"{v}i"
    if isinstance(v, float):
        return repr(v)
    return f'"{_esc_str(str(v))}"'


def _prefix(measurement: str, tags: dict) -> str:
    tag_part = "".join(f",{_esc_key(k)}={_esc_key(v)}" for k, v in sorted(tags.items()) if v not in (None, ""))
    return f"{_esc_key(measurement)}{tag_part}"


_FIELD_KEYS: dict[str, str] = {}


def _field_key(k: str) -> str:
    e = _FIELD_KEYS.get(k)
    if e is None:
        e = _FIELD_KEYS[k] = _esc_key(k)
    return e


def line(row: Row) -> str:
    """One row as InfluxDB line protocol with millisecond precision (tags sorted, empty tags dropped)."""
    measurement, tags, fields, t = row
    prefix = tags.prefix(measurement, _prefix) if isinstance(tags, Tags) else _prefix(measurement, tags)
    field_part = ",".join(f"{_field_key(k)}={_field(v)}" for k, v in fields.items() if v is not None)
    return f"{prefix} {field_part} {t}"


def point_key(row: Row) -> tuple:
    tags = row[1]
    return (row[0], tags.key() if isinstance(tags, Tags) else tuple(sorted(tags.items())), row[3])


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
    def __init__(self, settings: Settings, bucket: str | None = None, batch_size: int = 5000,
                 max_pending: int = 2_000_000):
        self.settings = settings
        self.bucket = bucket or settings.influx_bucket
        self.batch_size = batch_size
        self.max_pending = max_pending
        self.client = InfluxDBClient(url=settings.influx_url, token=settings.resolve_influx_token(),
                                     org=settings.influx_org, timeout=30_000)
        self.write_api = self.client.write_api(write_options=SYNCHRONOUS)
        self._pending: dict[tuple, Row] = {}
        self._lock = threading.Lock()
        self.points_written = 0
        self.write_failures = 0
        self.last_error: str | None = None
        self.rejected_points = 0
        # diagnostics: GOVPULSE_SINK_TRACE=FILE appends every line written, with the wall time
        trace = os.environ.get("GOVPULSE_SINK_TRACE")
        self._trace = open(trace, "a") if trace else None  # noqa: SIM115 - lives as long as the sink

    def add(self, rows: Iterable[Row]) -> None:
        with self._lock:
            for r in rows:
                self._pending[point_key(r)] = r

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def backpressure(self) -> bool:
        """True when the buffer is full: the worker should pause consuming until writes succeed."""
        return len(self._pending) >= self.max_pending

    def flush(self, attempts: int = 3) -> bool:
        """Write everything pending; on failure keep it pending (retried next flush). Blocking."""
        with self._lock:
            rows = list(self._pending.items())
            self._pending.clear()
        failed_from = None
        for start in range(0, len(rows), self.batch_size):
            chunk = rows[start:start + self.batch_size]
            body = "\n".join(line(r) for _, r in chunk)
            ok = self._write(body, attempts)
            if self._trace is not None:
                self._trace.write("".join(f"{os.getpid()} {time.time():.3f} {ok} {ln}\n" for ln in body.split("\n")))
                self._trace.flush()
            if ok is None:  # rejected as invalid: retrying cannot help; counted and logged
                self.rejected_points += len(chunk)
                continue
            if not ok:
                failed_from = start
                break
            self.points_written += len(chunk)
        if failed_from is not None:
            with self._lock:
                for k, r in rows[failed_from:]:
                    self._pending.setdefault(k, r)  # a newer snapshot that arrived meanwhile wins
            return False
        return True

    def _write(self, body: str, attempts: int) -> bool | None:
        delay = 0.5
        for i in range(attempts):
            try:
                self.write_api.write(bucket=self.bucket, org=self.settings.influx_org, record=body,
                                     write_precision="ms")
                self.last_error = None
                return True
            except ApiException as e:
                self.last_error = f"HTTP {e.status}: {e.body}"
                # wrong token, permission or bucket: configuration, stop loudly
                if e.status in (401, 403, 404):
                    log.error("InfluxDB refused the write: %s", self.last_error)
                    raise
                # invalid points (e.g. a field type conflict) will not get better by retrying
                if e.status in (400, 413, 422):
                    log.error("InfluxDB rejected a batch as invalid, %d lines dropped: %s",
                              body.count("\n") + 1, self.last_error)
                    return None
            except Exception as e:  # noqa: BLE001 - connection refused, timeouts: retry
                self.last_error = f"{type(e).__name__}: {e}"
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
        self.client.close()
