"""Shared fixtures. Integration tests use the real local Kafka and InfluxDB that `make test`
starts (`govpulse services up`); each test run isolates itself with unique topic prefixes,
app ids and buckets, so runs never see each other's data."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GOVPULSE = [sys.executable, "-m", "govpulse.cli"]
# The shipped scenarios use former district codes (Mỹ Tho 815, …) registered as extra units; a
# deployment names its own files the same way. Subprocesses inherit it.
SHIPPED_UNITS = ":".join(str(p) for p in sorted((REPO / "producers" / "scenarios").glob("*_units.yaml")))
os.environ.setdefault("GOVPULSE_EXTRA_UNITS_FILE", SHIPPED_UNITS)


def load_shipped_units() -> None:
    """What the `govpulse` command does at start, for the tests that parse events in-process."""
    from schemas import units

    units.load_units_files(os.environ["GOVPULSE_EXTRA_UNITS_FILE"])


load_shipped_units()


# ---------------------------------------------------------------------------------------------
# core fixtures (services, settings, pipeline)
# ---------------------------------------------------------------------------------------------
def _services_healthy() -> str | None:
    from common.settings import Settings
    from govpulse.services import status

    bad = [f"{r.name} ({r.address}): {r.detail or 'down'}" for r in status(Settings()) if not r.healthy]
    return "; ".join(bad) or None


@pytest.fixture(scope="session")
def services() -> None:
    """The real local servers must be up; `make test` starts them, this fails loudly if not."""
    problem = _services_healthy()
    if problem:
        pytest.fail(f"local services are not healthy: {problem}. Run `make services` (govpulse services up).")


# Every name a test session gives a topic, consumer group or bucket holds this token, and the
# session deletes only what holds it: two sessions on the same servers (developers running
# tests side by side) never delete each other's data.
SESSION = uuid.uuid4().hex[:6]


def unique(kind: str) -> str:
    """A bucket/app name for this test session: ``<kind>-<session><random>``."""
    return f"{kind}-{SESSION}{uuid.uuid4().hex[:6]}"


def make_settings(**overrides):
    from common.settings import Settings

    tag = f"{SESSION}{uuid.uuid4().hex[:6]}"
    base = {"topic_prefix": f"test-{tag}", "influx_bucket": f"test-{tag}", "app_id": f"test-{tag}"}
    base.update(overrides)
    return Settings(**base)


def settings_env(settings) -> dict[str, str]:
    """Environment that makes a `govpulse` subprocess use these settings."""
    env = dict(os.environ)
    for name in (
        "topic_prefix",
        "influx_bucket",
        "app_id",
        "kafka_bootstrap_servers",
        "influx_url",
        "topic_partitions",
        "emit_interval_seconds",
        "due_soon_lead_working_days",
    ):
        env[f"GOVPULSE_{name.upper()}"] = str(getattr(settings, name))
    return env


def run_govpulse(args: list[str], settings, timeout: float = 900, check: bool = True, extra_env: dict | None = None):
    env = settings_env(settings)
    env.update(extra_env or {})
    try:
        proc = subprocess.run(GOVPULSE + args, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:  # say what the command was doing, not only that it hung
        out = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = (e.stderr or b"").decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
        raise AssertionError(
            f"govpulse {' '.join(args)} still running after {timeout} s\nstdout:\n{out[-3000:]}\nstderr:\n{err[-8000:]}"
        ) from None
    if check and proc.returncode != 0:
        raise AssertionError(
            f"govpulse {' '.join(args)} exited {proc.returncode}\n"
            f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-5000:]}"
        )
    return proc


def run_worker(
    settings,
    *,
    bucket: str | None = None,
    app_id: str | None = None,
    replay: bool = False,
    until_idle: float = 4,
    timeout: float = 900,
    extra: list[str] | None = None,
):
    args = ["worker", "--until-idle", str(until_idle), "--web-port", str(_free_port())]
    if bucket:
        args += ["--bucket", bucket]
    if app_id:
        args += ["--app-id", app_id]
    if replay:
        args += ["--replay"]
    return run_govpulse(args + (extra or []), settings, timeout=timeout)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def flux(settings, query: str, bucket: str | None = None) -> list[dict]:
    """Run a Flux query (``BUCKET`` replaced) and return the records' values."""
    from influxdb_client import InfluxDBClient

    query = query.replace("BUCKET", bucket or settings.influx_bucket)
    with InfluxDBClient(
        url=settings.influx_url, token=settings.resolve_influx_token(), org=settings.influx_org, timeout=120_000
    ) as c:
        return [r.values for t in c.query_api().query(query) for r in t.records]


def unit_figures(settings, bucket: str | None = None, window: str = "report_year") -> dict:
    """{(unit_code, window_start, field): value} for every count/rate written for a window."""
    rows = flux(
        settings,
        f'''from(bucket: "BUCKET") |> range(start: 0)
        |> filter(fn: (r) => r._measurement == "unit_rates" and r.window == "{window}")''',
        bucket,
    )
    return {(r["unit_code"], r["_time"].isoformat(), r["_field"]): r["_value"] for r in rows}


@dataclass
class Pipeline:
    settings: object
    scenario: Path
    bucket: str
    simulate_output: str
    worker_output: str
    # the alerts topic as the pipeline's own worker left it (read before any other test's worker
    # sends to it: the replay and restart tests run workers of other app ids on these topics)
    alert_ids: list[str] = field(default_factory=list)


def run_pipeline(scenario: str, settings=None, disorder: str | None = None) -> Pipeline:
    """The real pipeline: simulator → Kafka → worker → InfluxDB, until the worker is caught up."""
    settings = settings or make_settings()
    path = REPO / "producers" / "scenarios" / scenario
    args = ["simulate", str(path)]
    if disorder:
        args += ["--disorder", disorder]
    sim = run_govpulse(args, settings, timeout=1200)
    w = run_worker(settings)
    return Pipeline(settings, path, settings.influx_bucket, sim.stdout, w.stdout + w.stderr)


@pytest.fixture(scope="session")
def pipeline_influx(services) -> Pipeline:
    """Mỹ Tho 2022 through the real pipeline into its own bucket (shared by tests that only read)."""
    import orjson
    from kafka import KafkaConsumer

    run = run_pipeline("mytho_2022.yaml")
    s = run.settings
    c = KafkaConsumer(
        s.topic("alerts"),  # type: ignore[attr-defined]
        bootstrap_servers=s.kafka_bootstrap_servers,  # type: ignore[attr-defined]
        auto_offset_reset="earliest",
        consumer_timeout_ms=5000,
        enable_auto_commit=False,
    )
    run.alert_ids = [orjson.loads(m.value)["alert_id"] for m in c]
    c.close()
    return run


def wait_for(predicate, timeout: float = 60, interval: float = 0.5, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except Exception as e:  # noqa: BLE001 - e.g. the bucket does not exist yet
            value, last_error = None, e
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last error: {last_error!r})")


# ---------------------------------------------------------------------------------------------
# producer-side fixtures (producers/, owned by the producer work; keep this block together)
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def unique_settings():
    """Factory of Settings with a unique topic prefix (``test-<uuid>``) per call, so producer
    tests never collide with other runs on the shared broker: ``s = unique_settings()``."""

    def factory(**overrides):
        return make_settings(**overrides)

    return factory


@pytest.fixture
def scenario_units_loaded():
    """Register the shipped scenarios' extra units (former districts 815, 855, 243); function-scoped
    because other tests may clear the global registry."""
    from schemas import units

    for name in ("mytho_units.yaml", "vinhlong_units.yaml", "vinhyen_units.yaml"):
        units.load_extra_units(REPO / "producers" / "scenarios" / name)


# ---------------------------------------------------------------------------------------------
# cleanup: a test session deletes the buckets and topics it created, so repeated runs on one
# machine (CI keeps the local servers' data between runs) do not pile up data
# ---------------------------------------------------------------------------------------------
def _buckets(settings) -> set[str]:
    from influxdb_client import InfluxDBClient

    with InfluxDBClient(url=settings.influx_url, token=settings.resolve_influx_token(), org=settings.influx_org) as c:
        return {b.name for b in c.buckets_api().find_buckets_iter()}


def _topics(settings) -> set[str]:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers, request_timeout_ms=5000)
    try:
        return set(admin.list_topics())
    finally:
        admin.close()


_RAN_INTEGRATION = {"yes": False}


def pytest_runtest_setup(item):
    if item.get_closest_marker("integration"):
        _RAN_INTEGRATION["yes"] = True


@pytest.fixture(scope="session", autouse=True)
def _delete_what_the_session_created():
    from common.settings import Settings

    s = Settings()
    try:
        before_buckets, before_topics = _buckets(s), _topics(s)
    except Exception:  # noqa: BLE001 - servers not running (unit tests only): nothing to clean
        yield
        return
    yield
    if not _RAN_INTEGRATION["yes"]:
        # a unit-test session created nothing; deleting "everything new" would hit another session's
        # topics and buckets on the same servers
        return
    from influxdb_client import InfluxDBClient
    from kafka import KafkaAdminClient

    with InfluxDBClient(url=s.influx_url, token=s.resolve_influx_token(), org=s.influx_org) as c:
        api = c.buckets_api()
        for b in api.find_buckets_iter():
            if b.name not in before_buckets and SESSION in b.name and b.name != s.influx_bucket:
                api.delete_bucket(b)
    new_topics = [t for t in _topics(s) - before_topics if SESSION in t and not t.startswith("__")]
    if new_topics:
        admin = KafkaAdminClient(bootstrap_servers=s.kafka_bootstrap_servers, request_timeout_ms=30000)
        try:
            for i in range(0, len(new_topics), 50):
                admin.delete_topics(new_topics[i : i + 50])
        finally:
            admin.close()
