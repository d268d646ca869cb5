"""Against the real local Kafka (KRaft) and InfluxDB 2.7 that `govpulse services up` runs."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from datetime import UTC, datetime

import pytest

from common.settings import Settings
from tests.conftest import unique

pytestmark = pytest.mark.integration


def test_status_reports_both_servers_healthy_with_versions(services):
    from govpulse.services import status

    rows = {r.name: r for r in status(Settings())}
    assert rows["kafka"].healthy and rows["kafka"].version == Settings().kafka_version
    assert rows["influxdb"].healthy and rows["influxdb"].version == f"v{Settings().influx_version}"
    assert rows["kafka"].pid and rows["influxdb"].pid


def _topic(admin_settings: Settings) -> str:
    from kafka.admin import KafkaAdminClient, NewTopic

    name = f"test-roundtrip-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=admin_settings.kafka_bootstrap_servers)
    admin.create_topics([NewTopic(name, 3, 1)])
    admin.close()
    return name


def test_kafka_roundtrip_with_kafka_python(services):
    from kafka import KafkaConsumer, KafkaProducer

    s = Settings()
    topic = _topic(s)
    p = KafkaProducer(bootstrap_servers=s.kafka_bootstrap_servers, acks="all", enable_idempotence=True)
    sent = {f"k{i}".encode(): f"Phường Mỹ Tho #{i}".encode() for i in range(50)}
    for k, v in sent.items():
        p.send(topic, key=k, value=v, timestamp_ms=1_650_000_000_000)
    p.flush()
    p.close()
    c = KafkaConsumer(
        topic, bootstrap_servers=s.kafka_bootstrap_servers, auto_offset_reset="earliest", consumer_timeout_ms=5000
    )
    got = {m.key: m.value for m in c}
    ts = {m.timestamp for m in c}
    c.close()
    assert got == sent
    assert ts in (set(), {1_650_000_000_000})


def test_kafka_roundtrip_with_aiokafka(services):
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    s = Settings()
    topic = _topic(s)

    async def go():
        p = AIOKafkaProducer(bootstrap_servers=s.kafka_bootstrap_servers, acks="all", enable_idempotence=True)
        await p.start()
        try:
            for i in range(20):
                await p.send_and_wait(topic, key=b"28261", value=f"v{i}".encode())
        finally:
            await p.stop()
        c = AIOKafkaConsumer(
            topic,
            bootstrap_servers=s.kafka_bootstrap_servers,
            auto_offset_reset="earliest",
            group_id=f"g-{uuid.uuid4().hex[:6]}",
        )
        await c.start()
        out = []
        try:
            while len(out) < 20:
                batch = await c.getmany(timeout_ms=5000)
                if not batch:
                    break
                for msgs in batch.values():
                    out.extend(m.value for m in msgs)
        finally:
            await c.stop()
        return out

    out = asyncio.run(go())
    # same key -> one partition -> order kept
    assert out == [f"v{i}".encode() for i in range(20)]


def test_influx_write_and_flux_read(services):
    from influxdb_client import InfluxDBClient, Point
    from influxdb_client.client.write_api import SYNCHRONOUS

    from streams.sink import ensure_bucket

    s = Settings()
    bucket = unique("test")
    ensure_bucket(s, bucket)
    ensure_bucket(s, bucket)  # idempotent
    name = 'Phường Mỹ Tho, Đồng Tháp = "x"'
    with InfluxDBClient(url=s.influx_url, token=s.resolve_influx_token(), org=s.influx_org) as c:
        c.write_api(write_options=SYNCHRONOUS).write(
            bucket,
            record=[
                Point("probe")
                .tag("unit_name", name)
                .field("received", 20742)
                .field("rate", 0.9966)
                .time(datetime(2022, 11, 30, tzinfo=UTC)),
            ],
        )
        tables = c.query_api().query(
            f'from(bucket: "{bucket}") |> range(start: 0) |> filter(fn: (r) => r._measurement == "probe")'
        )
    values = {(r["unit_name"], r["_field"]): r["_value"] for t in tables for r in t.records}
    assert values == {(name, "received"): 20742, (name, "rate"): 0.9966}


# --------------------------------------------------------------------------------------------
# restarts, on a second pair of servers so the shared ones stay up for the rest of the suite
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def isolated(tmp_path_factory, services):
    """Second Kafka and InfluxDB on other ports with their own data, sharing the cached builds."""
    from govpulse.services import InfluxService, KafkaService

    real = Settings()
    home = tmp_path_factory.mktemp("home")
    (home / "kafka").mkdir()
    (home / "influxdb").mkdir()
    os.symlink(real.home / "kafka" / real.kafka_version, home / "kafka" / real.kafka_version)
    os.symlink(real.home / "influxdb" / real.influx_version, home / "influxdb" / real.influx_version)
    from tests.conftest import _free_port

    s = Settings(
        home=home,
        kafka_bootstrap_servers=f"127.0.0.1:{_free_port()}",
        kafka_controller_port=_free_port(),
        influx_url=f"http://127.0.0.1:{_free_port()}",
        kafka_heap="512m",
    )
    k, i = KafkaService(s), InfluxService(s)
    assert k.installed() and i.installed(), "cached builds should be reused, not rebuilt"
    yield s, k, i
    k.stop()
    i.stop()


def test_restarted_kafka_keeps_its_messages(isolated):
    from kafka import KafkaConsumer, KafkaProducer

    s, k, _ = isolated
    t0 = time.monotonic()
    k.start(timeout=120)
    first_start = time.monotonic() - t0
    p = KafkaProducer(bootstrap_servers=s.kafka_bootstrap_servers, acks="all")
    for i in range(10):
        p.send("durable", key=b"k", value=f"m{i}".encode())
    p.flush()
    p.close()
    pid = k.proc.pid()
    assert k.stop() is True and k.proc.pid() is None
    k.start(timeout=120)
    assert k.proc.pid() != pid
    c = KafkaConsumer(
        "durable", bootstrap_servers=s.kafka_bootstrap_servers, auto_offset_reset="earliest", consumer_timeout_ms=8000
    )
    assert [m.value for m in c] == [f"m{i}".encode() for i in range(10)]
    c.close()
    assert first_start < 120


def test_restarted_influx_keeps_points_and_token(isolated):
    from influxdb_client import InfluxDBClient

    s, _, i = isolated
    i.start(timeout=120)
    token = s.resolve_influx_token()
    assert s.local_token_file.stat().st_mode & 0o077 == 0, "token file must be private (0600)"
    with InfluxDBClient(url=s.influx_url, token=token, org=s.influx_org) as c:
        from influxdb_client.client.write_api import SYNCHRONOUS

        c.write_api(write_options=SYNCHRONOUS).write(
            s.influx_bucket, record="probe,unit=28261 value=42i 1650000000000000000"
        )
    i.stop()
    i.start(timeout=120)  # onboarding must not run again
    assert s.resolve_influx_token() == token
    with InfluxDBClient(url=s.influx_url, token=token, org=s.influx_org) as c:
        tables = c.query_api().query(f'from(bucket: "{s.influx_bucket}") |> range(start: 0)')
    assert [r["_value"] for t in tables for r in t.records] == [42]


def test_up_with_external_servers_starts_nothing(tmp_path):
    from typer.testing import CliRunner

    from common import settings as settings_mod
    from govpulse.cli import app

    env = {
        "GOVPULSE_HOME": str(tmp_path),
        "GOVPULSE_KAFKA_BOOTSTRAP_SERVERS": "kafka.tinh.example:9092",
        "GOVPULSE_INFLUX_URL": "https://influx.tinh.example",
        "COLUMNS": "200",
    }
    settings_mod.get_settings.cache_clear()
    try:
        out = CliRunner().invoke(app, ["services", "up"], env=env)
    finally:
        settings_mod.get_settings.cache_clear()
    assert out.exit_code == 0, out.output
    assert out.output.count("external server configured, starting nothing") == 2
    assert not (tmp_path / "run").exists() and not (tmp_path / "kafka").exists()


def test_workers_starting_together_can_all_ensure_the_bucket(services):
    """Two workers in one group start at once and both create the bucket: neither may fail."""
    import threading

    from streams.sink import ensure_bucket

    s, bucket, errors = Settings(), unique("race"), []

    def create():
        try:
            ensure_bucket(s, bucket)
        except Exception as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=create) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
