"""Benchmarks: figures and ratios against a baseline, printed side by side (never asserted in tests).

1. Throughput: N events (default 1,000,000 dossier receptions that stay open, spread over 3,000
   wards and about a week, as national traffic would be) produced into fresh topics; a baseline aiokafka consumer reads and decodes them (JSON,
   and JSON + schema validation), then the real worker processes them end to end into InfluxDB.
   Reports events/s for each, the worker/baseline ratio, and the worker's peak RSS, which is
   also the memory figure with N open dossiers.
2. Live latency: a steady live load (default 1,000 events/s for 30 s, occurred_at = now) through
   a live worker with a 0.5 s emit interval; end-to-end latency = Kafka timestamp of an event to
   the moment the InfluxDB write containing its snapshot succeeded (p50/p95/p99/max).
3. Alert delay: dossiers due a few seconds after reception, never resolved, during that load;
   delay = alert seen on the alerts topic minus due_at.
"""

from __future__ import annotations

import asyncio
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import orjson
import psutil

from common.settings import Settings
from common.topics import ALERTS, DOSSIER_EVENTS

if TYPE_CHECKING:
    from rich.console import Console

Record = tuple[bytes, bytes, int]  # Kafka key, value, timestamp (ms)

REPO = Path(__file__).resolve().parents[1]
WARD_CODES: list[str] = []


def _wards() -> list[tuple[str, str]]:
    from vietnam_provinces import Ward

    return [(f"{int(w.code):05d}", f"{int(w.province_code):02d}") for w in Ward.iter_all()]


def _received(i: int, ward: tuple[str, str], at: datetime, due: datetime) -> Record:
    ev = {
        "event_id": str(uuid.UUID(int=(i * 2654435761) % (1 << 122) | (4 << 76) | (1 << 63))),
        "event_type": "dossier.received",
        "occurred_at": at.isoformat(),
        "schema_version": 1,
        "source_system": "bench",
        "province_code": ward[1],
        "ward_code": ward[0],
        "dossier_id": f"B{i}",
        "procedure_code": "1.001612",
        "field": "Hộ tịch",
        "channel": "online",
        "online_service": "full",
        "received_at": at.isoformat(),
        "due_at": due.isoformat(),
    }
    return ward[0].encode(), orjson.dumps(ev), int(at.timestamp() * 1000)


@dataclass
class Result:
    rows: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, what: str, value: str, goal: str = "") -> None:
        self.rows.append((what, value, goal))


def env_for(s: Settings, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(GOVPULSE_TOPIC_PREFIX=s.topic_prefix, GOVPULSE_INFLUX_BUCKET=s.influx_bucket, GOVPULSE_APP_ID=s.app_id)
    env.update(extra)
    return env


def produce(
    s: Settings, records: Iterable[Record], total: int, progress: Callable[[int], object] | None = None
) -> float:
    from kafka import KafkaProducer

    p = KafkaProducer(
        bootstrap_servers=s.kafka_bootstrap_servers,
        acks="all",
        linger_ms=20,
        batch_size=512 * 1024,
        compression_type=None,
        max_in_flight_requests_per_connection=5,
    )
    t0 = time.monotonic()
    topic = s.topic(DOSSIER_EVENTS)
    for n, (k, v, ts) in enumerate(records, 1):
        p.send(topic, key=k, value=v, timestamp_ms=ts)
        if progress and n % 20000 == 0:
            progress(n)
    p.flush()
    p.close()
    return time.monotonic() - t0


async def _baseline(s: Settings, total: int, validate: bool) -> float:
    from aiokafka import AIOKafkaConsumer

    from schemas import parse_event

    c = AIOKafkaConsumer(
        s.topic(DOSSIER_EVENTS),
        bootstrap_servers=s.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        group_id=f"baseline-{uuid.uuid4().hex[:6]}",
        enable_auto_commit=False,
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    await c.start()
    n = 0
    t0 = time.monotonic()
    try:
        while n < total:
            batch = await c.getmany(timeout_ms=1000, max_records=20000)
            for msgs in batch.values():
                for m in msgs:
                    if validate:
                        parse_event(m.value)
                    else:
                        orjson.loads(m.value)
                    n += 1
    finally:
        await c.stop()
    return time.monotonic() - t0


def run_worker(
    s: Settings, extra_env: dict[str, str] | None = None, until_idle: float = 3.0, total: int | None = None
) -> tuple[float, int, str]:
    """Run the worker until caught up; returns (seconds to process, peak RSS bytes, log path)."""
    log = Path(tempfile.mkstemp(prefix="bench-worker-", suffix=".log")[1])
    env = env_for(s, **(extra_env or {}))
    cmd = [
        sys.executable,
        "-m",
        "govpulse.cli",
        "worker",
        "--until-idle",
        str(until_idle),
        "--web-port",
        "0",
        "--batch-size",
        "5000",
        "--loglevel",
        "info",
    ]
    profile = os.environ.get("GOVPULSE_BENCH_PROFILE")  # diagnostics: FILE for py-spy's collapsed stacks
    if profile:
        # where the worker's time goes (py-spy is not a dependency: pip install py-spy)
        cmd = [
            shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy")),
            "record",
            "--format",
            "raw",
            "--rate",
            "47",
            "--output",
            profile,
            "--",
            *cmd,
        ]
    peak = 0
    with log.open("w") as fh:
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=fh, stderr=subprocess.STDOUT)
        ps = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                peak = max(peak, ps.memory_info().rss)
            except psutil.NoSuchProcess:
                break
            time.sleep(0.2)
        elapsed = time.monotonic() - t0 - until_idle
    if proc.returncode != 0:
        raise RuntimeError(f"worker failed ({proc.returncode}); log: {log}")
    return elapsed, peak, str(log)


def cleanup(s: Settings) -> None:
    """Delete what a run created (its bucket, its topics and the worker's internal topics, its
    local worker state): a benchmark leaves millions of events behind otherwise, and the local
    servers keep their data between runs."""
    import shutil

    from influxdb_client.client.influxdb_client import InfluxDBClient
    from kafka import KafkaAdminClient

    try:
        with InfluxDBClient(url=s.influx_url, token=s.resolve_influx_token(), org=s.influx_org) as c:
            b = c.buckets_api().find_bucket_by_name(s.influx_bucket)
            if b is not None:
                c.buckets_api().delete_bucket(b)
        admin = KafkaAdminClient(bootstrap_servers=s.kafka_bootstrap_servers, request_timeout_ms=10000)
        try:
            mine = [t for t in admin.list_topics() if t.startswith((s.topic_prefix + ".", s.app_id + "-"))]
            if mine:
                admin.delete_topics(mine)
        finally:
            admin.close()
        shutil.rmtree(s.home / "worker" / s.app_id, ignore_errors=True)
    except Exception as e:  # noqa: BLE001 - a failed cleanup must not hide the figures
        print(f"cleanup of {s.topic_prefix} / {s.influx_bucket} failed: {e}")


def open_dossiers(events: int, wards: int) -> Iterator[Record]:
    """The throughput run's input: receptions that all stay open (due a year later, so the run is
    not dominated by alerts), one every 600 ms of event time, round-robin over the first wards:
    ~national scale, 3,000 wards x ~50 dossiers a day -> 1M receptions in about a week."""
    ward_list = _wards()[:wards]
    start = datetime(2024, 1, 2, 8, 0, tzinfo=timezone(timedelta(hours=7)))
    due_span = timedelta(days=365)
    for i in range(events):
        at = start + timedelta(milliseconds=600 * i)
        yield _received(i, ward_list[i % len(ward_list)], at, at + due_span)


def core_memory(result: Result, events: int, wards: int, top: int = 12, console: Console | None = None) -> None:
    """Where an open dossier's bytes go: the throughput run's input through ``WorkerCore`` alone (no
    Kafka, no InfluxDB, in this process), with tracemalloc counting the net allocations that remain
    per dossier, by the line that made them. The worker's RSS adds the interpreter and libraries."""
    import gc
    import tracemalloc

    from streams.core import RecordStore, WorkerCore

    records = list(open_dossiers(events, wards))
    say = console.print if console else print
    say(f"core alone: {events:,} open dossiers through WorkerCore under tracemalloc …")
    s = Settings(home=Path(tempfile.mkdtemp(prefix="govpulse-bench-")))
    core = WorkerCore(s, RecordStore({}), replay=True)
    topic = s.topic(DOSSIER_EVENTS)
    gc.collect()
    tracemalloc.start(1)
    try:
        before = tracemalloc.take_snapshot()
        for offset, (key, value, ts) in enumerate(records):
            core.handle(topic, 0, offset, key, value, ts)
            if offset % 5000 == 4999:
                core.store.take_unsent()  # what the worker's changelog writer takes after each batch
        core.store.take_unsent()
        core.advance()
        core.snapshot()
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    stats = after.compare_to(before, "lineno")
    total = sum(st.size_diff for st in stats)
    result.add(f"core alone: bytes per open dossier ({events:,}, tracemalloc)", f"{total / events:,.0f} B", "")
    root = f"{REPO}/"
    for st in stats[:top]:
        frame = st.traceback[0]
        where = frame.filename.replace(root, "").split("site-packages/")[-1]
        result.add(f"  allocated at {where}:{frame.lineno}", f"{st.size_diff / events:,.0f} B", "")


def throughput(result: Result, events: int, wards: int, console: Console | None = None) -> None:
    from producers.topics import ensure_topics

    s = Settings(
        topic_prefix=f"bench-{uuid.uuid4().hex[:6]}",
        influx_bucket=f"bench-{uuid.uuid4().hex[:6]}",
        app_id=f"bench-{uuid.uuid4().hex[:6]}",
    )
    ensure_topics(s)
    say = console.print if console else print
    say(f"producing {events:,} events into {s.topic(DOSSIER_EVENTS)} …")
    dt = produce(s, open_dossiers(events, wards), events)
    result.add("producer (kafka-python, acks=all)", f"{events / dt:,.0f} events/s")
    base_json = asyncio.run(_baseline(s, events, validate=False))
    result.add("baseline: aiokafka read + JSON decode", f"{events / base_json:,.0f} events/s")
    base_schema = asyncio.run(_baseline(s, events, validate=True))
    result.add("baseline: aiokafka read + JSON + schema validation", f"{events / base_schema:,.0f} events/s")
    say("worker processing (end to end into InfluxDB) …")
    try:
        dt_w, peak, log = run_worker(s)
    finally:
        cleanup(s)
    w_rate = events / dt_w
    result.add(
        "worker end to end (Kafka → Faust → InfluxDB)", f"{w_rate:,.0f} events/s", "≥ 30,000 events/s (issue 13)"
    )
    result.add("ratio worker / baseline (JSON decode)", f"{w_rate / (events / base_json):.3f}", "≥ 0.5")
    result.add("ratio worker / baseline (JSON + schema)", f"{w_rate / (events / base_schema):.3f}", "")
    result.add(
        f"worker peak RSS with {events:,} open dossiers",
        f"{peak / 2**20:,.0f} MiB",
        "≤ 600 MiB at 1M, ≤ 1,024 MiB at 3M",
    )
    result.add("worker log", log)


def live(result: Result, rate: int, seconds: int, due_in: float = 3.0, console: Console | None = None) -> None:
    from producers.topics import ensure_topics

    s = Settings(
        topic_prefix=f"benchlive-{uuid.uuid4().hex[:6]}",
        influx_bucket=f"benchlive-{uuid.uuid4().hex[:6]}",
        app_id=f"benchlive-{uuid.uuid4().hex[:6]}",
        emit_interval_seconds=0.5,
    )
    ensure_topics(s)
    lat_file = Path(tempfile.mkstemp(prefix="bench-latency-")[1])
    env = env_for(
        s,
        GOVPULSE_EMIT_INTERVAL_SECONDS="0.5",
        GOVPULSE_LATENCY_LOG=str(lat_file),
        GOVPULSE_DUE_SOON_LEAD_WORKING_DAYS="0",
    )
    log = Path(tempfile.mkstemp(prefix="bench-live-worker-", suffix=".log")[1])
    worker = subprocess.Popen(
        [sys.executable, "-m", "govpulse.cli", "worker", "--web-port", "0"],
        cwd=REPO,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        _live_run(s, result, worker, log, lat_file, rate, seconds, due_in, console)
    finally:
        if worker.poll() is None:
            worker.kill()
        cleanup(s)


def _live_run(
    s: Settings,
    result: Result,
    worker: subprocess.Popen[bytes],
    log: Path,
    lat_file: Path,
    rate: int,
    seconds: int,
    due_in: float,
    console: Console | None,
) -> None:
    from kafka import KafkaConsumer, KafkaProducer

    time.sleep(12)  # join the group and recover before the clock starts
    wards = _wards()[:300]
    p = KafkaProducer(bootstrap_servers=s.kafka_bootstrap_servers, acks="all", linger_ms=5)
    alert_due: dict[str, float] = {}
    seen: dict[str, float] = {}
    stop = threading.Event()

    def watch_alerts() -> None:
        c = KafkaConsumer(
            s.topic(ALERTS),
            bootstrap_servers=s.kafka_bootstrap_servers,
            auto_offset_reset="earliest",
            consumer_timeout_ms=500,
        )
        while not stop.is_set():
            for m in c:
                a = orjson.loads(m.value)
                if a["kind"] == "dossier_overdue":
                    seen.setdefault(a["dossier_id"], time.time())
        c.close()

    watcher = threading.Thread(target=watch_alerts, daemon=True)
    watcher.start()
    say = console.print if console else print
    say(f"live load: {rate} events/s for {seconds}s …")
    t_start = time.time()
    sent = 0
    i = 0
    while time.time() - t_start < seconds:
        tick = time.time()
        for _ in range(rate // 10):
            now = datetime.now(UTC)
            # every 50th dossier is due a few seconds after reception and never resolved
            due = now + (timedelta(seconds=due_in) if i % 50 == 0 else timedelta(days=30))
            k, v, ts = _received(10_000_000 + i, wards[i % len(wards)], now, due)
            if i % 50 == 0:
                alert_due[f"B{10_000_000 + i}"] = due.timestamp()
            p.send(s.topic(DOSSIER_EVENTS), key=k, value=v, timestamp_ms=ts)
            i += 1
            sent += 1
        p.flush()
        time.sleep(max(0.0, 0.1 - (time.time() - tick)))
    achieved = sent / (time.time() - t_start)
    time.sleep(8)
    stop.set()
    watcher.join(timeout=5)
    worker.terminate()
    worker.wait(timeout=60)
    lats = sorted(int(x) for x in lat_file.read_text().split())
    result.add("live load achieved", f"{achieved:,.0f} events/s for {seconds}s", f"{rate:,} events/s")
    if lats:
        q = statistics.quantiles(lats, n=100)
        result.add(
            "end-to-end latency p50 / p95 / p99 / max",
            f"{q[49]:.0f} / {q[94]:.0f} / {q[98]:.0f} / {lats[-1]} ms ({len(lats):,} events)",
            "p99 ≤ 500 ms",
        )
    delays = sorted(seen[d] - alert_due[d] for d in seen if d in alert_due)
    if delays:
        result.add(
            "overdue alert delay after due time p50 / max",
            f"{statistics.median(delays):.2f} / {max(delays):.2f} s ({len(delays)} of {len(alert_due)} alerted)",
            "≤ 2 s max",
        )
    else:
        result.add("overdue alert delay", f"no alerts seen (log: {log})", "≤ 2 s max")


def _first_batch(trace: Path, timeout: float) -> float | None:
    """Wall time of the first agent batch in a GOVPULSE_OFFSET_TRACE file (None: none came)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if trace.exists():
            for line in trace.read_text().splitlines():
                if " batch " in line:
                    return float(line.split()[0])
        time.sleep(0.1)
    return None


def restart(result: Result, events: int = 200_000, console: Console | None = None) -> None:
    """Restart after kill -9: a worker is killed mid-stream and started again at once; the figure
    is the time from the restart to its first processed batch, with the worker's session timeout
    beside Faust's default (60 s) as the baseline."""
    from producers.topics import ensure_topics

    say = console.print if console else print
    s = Settings(
        topic_prefix=f"benchrestart-{uuid.uuid4().hex[:6]}",
        influx_bucket=f"benchrestart-{uuid.uuid4().hex[:6]}",
        app_id=f"benchrestart-{uuid.uuid4().hex[:6]}",
    )
    ensure_topics(s)
    start = datetime(2024, 1, 2, 8, 0, tzinfo=timezone(timedelta(hours=7)))
    wards = _wards()[:3000]
    produce(
        s,
        (
            _received(i, wards[i % len(wards)], start + timedelta(milliseconds=600 * i), start + timedelta(days=365))
            for i in range(events)
        ),
        events,
    )
    cmd = [sys.executable, "-m", "govpulse.cli", "worker", "--web-port", "0", "--batch-size", "2000"]
    try:
        for label, session in (
            ("baseline: Faust's default session timeout (60 s)", "60"),
            (f"worker (GOVPULSE_KAFKA_SESSION_TIMEOUT={s.kafka_session_timeout:g} s)", None),
        ):
            app_id = f"{s.app_id}-{session or 'own'}"
            extra = {"GOVPULSE_APP_ID": app_id, **({"GOVPULSE_KAFKA_SESSION_TIMEOUT": session} if session else {})}
            say(f"restart after kill -9, {label} …")
            traces = [Path(tempfile.mkstemp(prefix="bench-restart-")[1]) for _ in range(2)]
            for t in traces:
                t.unlink()
            first = subprocess.Popen(
                cmd,
                cwd=REPO,
                env=env_for(s, GOVPULSE_OFFSET_TRACE=str(traces[0]), **extra),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if _first_batch(traces[0], 120) is None:
                first.kill()
                result.add(f"restart after kill -9, {label}", "the first worker processed nothing in 120 s")
                continue
            time.sleep(3)
            first.kill()  # SIGKILL: no LeaveGroup, the member stays until its session expires
            first.wait()
            t0 = time.time()
            again = subprocess.Popen(
                cmd,
                cwd=REPO,
                env=env_for(s, GOVPULSE_OFFSET_TRACE=str(traces[1]), **extra),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                t1 = _first_batch(traces[1], 180)
            finally:
                again.kill()
                again.wait()
            shutil.rmtree(s.home / "worker" / app_id, ignore_errors=True)
            value = f"{t1 - t0:.1f} s" if t1 is not None else "nothing processed in 180 s"
            result.add(f"restart after kill -9 → first processed batch, {label}", value, "" if session else "≤ 15 s")
    finally:
        cleanup(s)


def machine() -> str:
    mem = psutil.virtual_memory().total / 2**30
    return f"{platform.processor() or platform.machine()}, {psutil.cpu_count()} cores, {mem:.0f} GiB, {platform.platform()}"
