"""The ingest service's counters, written to InfluxDB ``pipeline_health`` every few seconds.

One row per instance: tags ``app_id`` (``ingest``), ``worker`` (the instance, host:port) and
``topic`` (``ingest``). Fields:

* ``requests``: POST /v1/events answered (cumulative since start);
* ``events_accepted``, ``events_rejected``: events acknowledged by Kafka / refused (cumulative);
* ``rejected_<reason>`` (cumulative): *events* for the per-event reasons ``invalid_event``,
  ``forbidden_source_system``, ``forbidden_province``, ``kafka_unavailable``; *requests* for the
  per-request reasons ``unauthorized``, ``rate_limited``, ``too_large``, ``bad_json``,
  ``too_deep``, ``empty``;
* ``requests_per_second``, and ``latency_p50_ms``, ``latency_p99_ms``, ``latency_max_ms``
  over the last interval (latency fields only when the interval had requests).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import Counter
from typing import TYPE_CHECKING

from common import measurements as m
from schemas.line_protocol import escape_field_key, escape_measurement, escape_tag

if TYPE_CHECKING:
    from common.settings import Settings

log = logging.getLogger("govpulse.ingest")

INGEST_TOPIC_TAG = "ingest"
REQUEST_REASONS = ("unauthorized", "rate_limited", "too_large", "bad_json", "too_deep", "empty")
EVENT_REASONS = ("invalid_event", "forbidden_source_system", "forbidden_province", "kafka_unavailable")


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted, non-empty list."""
    k = max(0, math.ceil(q * len(sorted_values)) - 1)
    return sorted_values[min(k, len(sorted_values) - 1)]


class IngestMetrics:
    def __init__(self) -> None:
        self.requests = 0
        self.events_accepted = 0
        self.events_rejected = 0
        self.rejected: Counter[str] = Counter()
        self._latencies: list[float] = []
        self._interval_requests = 0
        self._interval_start = time.monotonic()

    def request(self, latency_s: float) -> None:
        self.requests += 1
        self._interval_requests += 1
        self._latencies.append(latency_s * 1000.0)

    def reject_request(self, reason: str) -> None:
        self.rejected[reason] += 1

    def events(self, accepted: int, rejected_by_reason: Counter[str]) -> None:
        self.events_accepted += accepted
        for reason, n in rejected_by_reason.items():
            self.events_rejected += n
            self.rejected[reason] += n

    def snapshot_fields(self) -> dict[str, int | float]:
        """Fields of one pipeline_health row; resets the interval (latency, rate)."""
        now = time.monotonic()
        elapsed = max(now - self._interval_start, 1e-9)
        fields: dict[str, int | float] = {
            "requests": self.requests,
            "events_accepted": self.events_accepted,
            "events_rejected": self.events_rejected,
            "requests_per_second": self._interval_requests / elapsed,
        }
        for reason in (*REQUEST_REASONS, *EVENT_REASONS):
            fields[f"rejected_{reason}"] = self.rejected.get(reason, 0)
        lat = sorted(self._latencies)
        if lat:
            fields["latency_p50_ms"] = percentile(lat, 0.50)
            fields["latency_p99_ms"] = percentile(lat, 0.99)
            fields["latency_max_ms"] = lat[-1]
        self._latencies = []
        self._interval_requests = 0
        self._interval_start = now
        return fields


def render_line(app_id: str, worker: str, fields: dict[str, int | float], time_ms: int) -> str:
    """One pipeline_health line (integers as ``i``, floats as floats), escaped as influxd parses it."""
    tags = ",".join(
        f"{escape_tag(k)}={escape_tag(v)}"
        for k, v in sorted({"app_id": app_id, "topic": INGEST_TOPIC_TAG, "worker": worker}.items())
    )
    parts = []
    for k, v in fields.items():
        val = f"{v}i" if isinstance(v, int) and not isinstance(v, bool) else repr(float(v))
        parts.append(f"{escape_field_key(k)}={val}")
    return f"{escape_measurement(m.PIPELINE_HEALTH)},{tags} {','.join(parts)} {time_ms}"


class MetricsWriter:
    """Writes a row every ``interval`` seconds; failures are logged, never raised to requests."""

    def __init__(self, settings: Settings, metrics: IngestMetrics, app_id: str, worker: str, interval: float) -> None:
        self.settings = settings
        self.metrics = metrics
        self.app_id = app_id
        self.worker = worker
        self.interval = interval
        self._failing = False

    async def run(self) -> None:
        try:
            token = self.settings.resolve_influx_token()
        except RuntimeError as e:
            log.warning("ingest metrics disabled: %s", e)
            return
        from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync

        async with InfluxDBClientAsync(
            url=self.settings.influx_url, token=token, org=self.settings.influx_org, timeout=10_000
        ) as client:
            api = client.write_api()
            try:
                while True:
                    await asyncio.sleep(self.interval)
                    await self.write_once(api)
            finally:
                await self.write_once(api)

    async def write_once(self, api: object) -> None:
        line = render_line(self.app_id, self.worker, self.metrics.snapshot_fields(), int(time.time() * 1000))
        try:
            await api.write(bucket=self.settings.influx_bucket, record=line, write_precision="ms")  # type: ignore[attr-defined]
        except Exception as e:  # noqa: BLE001 - metrics must never take the service down
            if not self._failing:
                log.warning("writing pipeline_health to InfluxDB failed (%s: %s); will retry", type(e).__name__, e)
            self._failing = True
        else:
            if self._failing:
                log.info("writing pipeline_health to InfluxDB works again")
            self._failing = False
