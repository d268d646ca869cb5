"""Benchmark of the ingest service on the real Kafka: sustained events/s and request latency
(p50/p99) for single-event requests and batch requests.

    .venv/bin/python -m producers.ingest.bench [--seconds 20] [--batch 500] [--single-concurrency 32]

Starts ``python -m producers.ingest`` as its own process (one event loop, as deployed) on fresh
topics (``bench-ingest-<id>.*``, deleted afterwards), and drives it from this process with aiohttp
over loopback. Every request is counted only if it was answered 202 (the broker acknowledged
every event: acks=all). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import orjson

from common.settings import Settings
from producers.ingest.auth import hash_token
from producers.ingest.metrics import percentile

WARDS = ("28261", "28249", "28273", "28270", "28285", "28306", "28297", "28729")


@dataclass
class Result:
    mode: str
    concurrency: int
    events_per_request: int
    seconds: float
    requests: int
    events: int
    failed: int
    p50_ms: float
    p99_ms: float

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds


def _event(i: int) -> dict[str, object]:
    return {
        "event_type": "dossier.withdrawn",
        "event_id": str(uuid.uuid4()),
        "occurred_at": "2022-03-16T09:00:00+07:00",
        "source_system": "bench",
        "province_code": "82",
        "ward_code": WARDS[i % len(WARDS)],
        "dossier_id": f"B-{i}",
        "withdrawn_at": "2022-03-16T09:00:00+07:00",
    }


async def _drive(url: str, token: str, per_request: int, concurrency: int, seconds: float, mode: str) -> Result:
    import aiohttp

    latencies: list[float] = []
    counts = {"requests": 0, "events": 0, "failed": 0}
    stop_at = time.perf_counter() + seconds
    counter = iter(range(10**12))

    def body() -> bytes:
        evs = [_event(next(counter)) for _ in range(per_request)]
        return orjson.dumps(evs[0] if per_request == 1 else evs)

    async def client(session: aiohttp.ClientSession) -> None:
        while time.perf_counter() < stop_at:
            data = body()
            t0 = time.perf_counter()
            async with session.post(url, data=data) as r:
                await r.read()
                ok = r.status == 202
            latencies.append(time.perf_counter() - t0)
            counts["requests"] += 1
            if ok:
                counts["events"] += per_request
            else:
                counts["failed"] += 1

    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=conn, headers=headers) as session:
        t0 = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    lat = sorted(x * 1000 for x in latencies)
    return Result(
        mode,
        concurrency,
        per_request,
        elapsed,
        counts["requests"],
        counts["events"],
        counts["failed"],
        percentile(lat, 0.5),
        percentile(lat, 0.99),
    )


def run_bench(
    seconds: float = 20.0, batch: int = 500, single_concurrency: int = 32, batch_concurrency: int = 4
) -> list[Result]:
    from producers.kafka_common import admin_client
    from producers.topics import ensure_topics

    base = Settings()
    settings = Settings(topic_prefix=f"bench-ingest-{uuid.uuid4().hex[:8]}")
    ensure_topics(settings)
    token = uuid.uuid4().hex
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tmp = Path(tempfile.mkdtemp(prefix="govpulse-ingest-bench-"))
    tokens = tmp / "tokens.json"
    tokens.write_text(
        orjson.dumps(
            [
                {
                    "name": "bench",
                    "sha256": hash_token(token),
                    "source_system": "bench",
                    "provinces": ["82"],
                    "rate_per_second": 0,
                }
            ]
        ).decode()
    )
    env = dict(os.environ)
    env.update(
        GOVPULSE_TOPIC_PREFIX=settings.topic_prefix,
        GOVPULSE_KAFKA_BOOTSTRAP_SERVERS=base.kafka_bootstrap_servers,
        GOVPULSE_INGEST_METRICS="false",
        GOVPULSE_INGEST_MAX_BATCH_EVENTS=str(max(batch, 500)),
        GOVPULSE_INGEST_MAX_BODY_BYTES=str(8 * 1024 * 1024),
    )
    log = (tmp / "ingest.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "producers.ingest", "--port", str(port), "--tokens-file", str(tokens)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        import urllib.request

        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"ingest service did not become healthy; log in {tmp / 'ingest.log'}")
            time.sleep(0.3)
        ev_url = url + "/v1/events"
        asyncio.run(_drive(ev_url, token, 1, 8, 2.0, "warm-up"))
        return [
            asyncio.run(_drive(ev_url, token, 1, single_concurrency, seconds, "single event")),
            asyncio.run(_drive(ev_url, token, batch, batch_concurrency, seconds, f"{batch}-event batch")),
        ]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
        admin = admin_client(settings)
        try:
            admin.delete_topics([t for t in admin.list_topics() if t.startswith(settings.topic_prefix + ".")])
        finally:
            admin.close()


def table(results: list[Result]) -> str:
    rows = [
        "| requests | concurrent clients | events/s (sustained) | requests/s | p50 latency | p99 latency | non-202 |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        rows.append(
            f"| {r.mode} | {r.concurrency} | {r.events_per_second:,.0f} | {r.requests / r.seconds:,.0f} | "
            f"{r.p50_ms:.1f} ms | {r.p99_ms:.1f} ms | {r.failed} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m producers.ingest.bench")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--single-concurrency", type=int, default=32)
    ap.add_argument("--batch-concurrency", type=int, default=4)
    a = ap.parse_args(argv)
    results = run_bench(a.seconds, a.batch, a.single_concurrency, a.batch_concurrency)
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
