"""The HTTP ingest service on the real local Kafka (and InfluxDB for its metrics), started as its own
process (`python -m producers.ingest`) and called over a real socket (urllib, aiohttp)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml

from producers.ingest.auth import hash_token
from tests.conftest import REPO, make_settings, settings_env, wait_for

pytestmark = pytest.mark.integration

TOKENS = {
    # name: (token, source_system, provinces, rate_per_second, rate_burst)
    "dongthap": ("tok-dongthap-" + uuid.uuid4().hex, "motcua-dongthap", ["82"], 0, 1),
    "slow": ("tok-slow-" + uuid.uuid4().hex, "motcua-slow", ["82"], 0.2, 3),
}
MAX_BODY = 256 * 1024


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def event(*, source="motcua-dongthap", province="82", ward="28261", event_id=None, **extra) -> dict:
    ev = {
        "event_type": "dossier.withdrawn",
        "event_id": event_id or str(uuid.uuid4()),
        "occurred_at": "2022-03-16T09:00:00+07:00",
        "source_system": source,
        "province_code": province,
        "ward_code": ward,
        "dossier_id": "D-" + uuid.uuid4().hex[:8],
        "withdrawn_at": "2022-03-16T09:00:00+07:00",
    }
    ev.update(extra)
    return ev


class Server:
    def __init__(self, settings, tmp: Path, kafka: str | None = None, **ingest_env: str) -> None:
        self.settings = settings
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        tokens = tmp / f"tokens-{self.port}.yaml"
        tokens.write_text(
            yaml.safe_dump(
                {
                    "tokens": [
                        {
                            "name": n,
                            "sha256": hash_token(t),
                            "source_system": s,
                            "provinces": p,
                            "rate_per_second": r,
                            "rate_burst": b,
                        }
                        for n, (t, s, p, r, b) in TOKENS.items()
                    ]
                }
            )
        )
        env = settings_env(settings)
        if kafka:
            env["GOVPULSE_KAFKA_BOOTSTRAP_SERVERS"] = kafka
        env.update(
            GOVPULSE_INGEST_MAX_BODY_BYTES=str(MAX_BODY),
            GOVPULSE_INGEST_MAX_BATCH_EVENTS="500",
            GOVPULSE_INGEST_SEND_TIMEOUT_SECONDS="3",
            GOVPULSE_INGEST_METRICS_INTERVAL_SECONDS="1",
            GOVPULSE_INGEST_INSTANCE=f"test-{self.port}",
        )
        env.update(ingest_env)
        self.log = tmp / f"ingest-{self.port}.log"
        self._log = self.log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "producers.ingest", "--port", str(self.port), "--tokens-file", str(tokens)],
            cwd=REPO,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        wait_for(self._listening, timeout=60, interval=0.2, what=f"ingest service on {self.url}")

    def _listening(self) -> bool:
        assert self.proc.poll() is None, f"ingest exited {self.proc.returncode}: {self.log.read_text()[-3000:]}"
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


def request(url: str, method: str = "GET", body: bytes | None = None, token: str | None = None, timeout: float = 30):
    """(status, headers, parsed JSON body) over a real HTTP connection."""
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.loads(e.read() or b"null")


def post(server: Server, payload, token_name: str = "dongthap", raw: bytes | None = None):
    body = raw if raw is not None else json.dumps(payload).encode()
    return request(server.url + "/v1/events", "POST", body, TOKENS[token_name][0] if token_name else None)


def read_topic(settings, short: str = "dossier-events") -> list:
    from kafka import KafkaConsumer, TopicPartition

    name = settings.topic(short)
    c = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, group_id=None, enable_auto_commit=False)
    try:
        tps = [TopicPartition(name, p) for p in sorted(c.partitions_for_topic(name) or set())]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        end = c.end_offsets(tps)
        out = []
        deadline = time.monotonic() + 120
        while any(c.position(tp) < end[tp] for tp in tps):
            assert time.monotonic() < deadline, "timed out reading back"
            for recs in c.poll(timeout_ms=500).values():
                out.extend(recs)
        return out
    finally:
        c.close()


def murmur2_partition(key: bytes, partitions: int) -> int:
    from kafka.partitioner import murmur2  # kafka-python's, not the one the service uses (aiokafka's)

    return (murmur2(key) & 0x7FFFFFFF) % partitions


@pytest.fixture(scope="module")
def env(services, tmp_path_factory):
    from influxdb_client import InfluxDBClient

    from producers.topics import ensure_topics

    settings = make_settings()
    ensure_topics(settings)
    with InfluxDBClient(url=settings.influx_url, token=settings.resolve_influx_token(), org=settings.influx_org) as c:
        c.buckets_api().create_bucket(bucket_name=settings.influx_bucket, org=settings.influx_org)
    server = Server(settings, tmp_path_factory.mktemp("ingest"))
    wait_for(lambda: request(server.url + "/health")[0] == 200, timeout=60, what="/health 200")
    yield server
    server.stop()
    log = server.log.read_text()
    # personal data: no request body reaches the log (dossier ids, source payloads)
    assert "D-" not in log and "withdrawn_at" not in log, log[-2000:]


def test_valid_single_event_is_written_keyed_and_partitioned_before_202(env):
    ev = event(ward="28261")
    status, _, body = post(env, ev)
    assert status == 202, body
    assert body["status"] == "accepted" and body["event_id"] == ev["event_id"]
    assert body["topic"] == env.settings.topic("dossier-events")
    recs = [r for r in read_topic(env.settings) if json.loads(r.value)["event_id"] == ev["event_id"]]
    (rec,) = recs
    assert rec.key == b"28261"
    assert rec.partition == body["partition"] == murmur2_partition(b"28261", env.settings.topic_partitions)
    assert rec.offset == body["offset"]
    assert json.loads(rec.value) == ev | {"schema_version": 1}  # the canonical form (dump_event)
    assert rec.timestamp == 1647396000000  # occurred_at


def test_invalid_event_is_400_naming_the_field(env):
    ev = event()
    ev["withdrawn_at"] = "2022-03-16 09:00"
    del ev["dossier_id"]
    status, _, body = post(env, ev)
    assert status == 400 and body["reason"] == "invalid_event" and body["event_id"] == ev["event_id"]
    fields = {e["field"] for e in body["errors"]}
    assert {"withdrawn_at", "dossier_id"} <= fields, body
    assert all(e["reason"] for e in body["errors"])
    assert ev["event_id"] not in {json.loads(r.value)["event_id"] for r in read_topic(env.settings)}


def test_batch_has_per_item_results_and_partial_success(env):
    good = [event(), event(ward="28249")]
    bad = event()
    bad["province_code"] = "8"
    other = event(province="01", ward="00070")
    status, _, body = post(env, [good[0], bad, other, good[1]])
    assert status == 207, body
    assert (body["accepted"], body["rejected"]) == (2, 2)
    assert [r["status"] for r in body["results"]] == [202, 400, 403, 202]
    assert [r["index"] for r in body["results"]] == [0, 1, 2, 3]
    assert body["results"][1]["errors"][0]["field"] == "province_code"
    assert body["results"][2]["reason"] == "forbidden_province"
    written = {json.loads(r.value)["event_id"] for r in read_topic(env.settings)}
    assert {g["event_id"] for g in good} <= written
    assert bad["event_id"] not in written and other["event_id"] not in written
    # all valid: 202
    status, _, body = post(env, [event(), event()])
    assert status == 202 and body["accepted"] == 2 and body["rejected"] == 0


def test_registered_former_district_is_keyed_by_its_code(env):
    ev = event()
    del ev["ward_code"]
    ev["district_code"] = "815"  # Mỹ Tho city before 1 July 2025 (GOVPULSE_EXTRA_UNITS_FILE)
    status, _, body = post(env, ev)
    assert status == 202, body
    (rec,) = [r for r in read_topic(env.settings) if json.loads(r.value)["event_id"] == ev["event_id"]]
    assert rec.key == b"815" and rec.partition == murmur2_partition(b"815", env.settings.topic_partitions)


def test_wrong_or_missing_token_is_401(env):
    status, headers, body = request(env.url + "/v1/events", "POST", json.dumps(event()).encode(), "not-a-token")
    assert status == 401 and body["reason"] == "unauthorized"
    assert headers.get("WWW-Authenticate", "").startswith("Bearer")
    status, _, _ = post(env, event(), token_name=None)
    assert status == 401


def test_other_province_is_403(env):
    ev = event(province="01", ward="00070")  # Hà Nội: a valid event, not this token's province
    status, _, body = post(env, ev)
    assert status == 403 and body["reason"] == "forbidden_province", body
    assert body["errors"][0]["field"] == "province_code"
    assert ev["event_id"] not in {json.loads(r.value)["event_id"] for r in read_topic(env.settings)}


def test_other_source_system_is_403(env):
    ev = event(source="motcua-someone-else")
    status, _, body = post(env, ev)
    assert status == 403 and body["reason"] == "forbidden_source_system"
    assert body["errors"][0]["field"] == "source_system"


def test_oversized_body_and_batch_are_413(env):
    big = json.dumps([event() for _ in range(2000)]).encode()
    assert len(big) > MAX_BODY
    status, _, body = post(env, None, raw=big)
    assert status == 413 and body["reason"] == "too_large"
    many = [event() for _ in range(501)]
    status, _, body = post(env, many)
    assert status == 413 and "500" in body["message"]


def test_bad_json_and_deep_json_are_400(env):
    status, _, body = post(env, None, raw=b'{"event_type": ')
    assert status == 400 and body["reason"] == "bad_json"
    status, _, body = post(env, None, raw=b"[" * 40 + b"]" * 40)
    assert status == 400 and body["reason"] == "too_deep"
    status, _, body = post(env, [])
    assert status == 400 and body["reason"] == "empty"


def test_rate_limit_is_429_with_retry_after(env):
    statuses = []
    for _ in range(6):
        status, headers, body = post(env, event(source="motcua-slow"), token_name="slow")
        statuses.append(status)
        if status == 429:
            assert body["reason"] == "rate_limited"
            assert int(headers["Retry-After"]) >= 1
    assert statuses[:3] == [202, 202, 202] and statuses[3:] == [429, 429, 429], statuses


def test_schemas_are_served(env):
    status, _, index = request(env.url + "/v1/schemas")
    assert status == 200
    exported = sorted(p.name for p in (REPO / "schemas" / "json").glob("*.schema.json"))
    assert index["events"].endswith("/events.schema.json")
    names = sorted(s["url"].rsplit("/", 1)[1] for s in index["schemas"])
    assert names == [n for n in exported if n != "events.schema.json"]
    for name in ("events.schema.json", "dossier.received.schema.json"):
        status, _, served = request(f"{env.url}/v1/schemas/{name}")
        assert status == 200 and served == json.loads((REPO / "schemas" / "json" / name).read_text())
    assert request(env.url + "/v1/schemas/..%2Fpyproject.toml")[0] == 404


def test_burst_of_1000_requests_all_accepted_once(env):
    import aiohttp

    events = [event(ward=w) for w in ("28261", "28249", "28273", "28270") for _ in range(250)]
    token = TOKENS["dongthap"][0]

    async def burst():
        conn = aiohttp.TCPConnector(limit=100)
        async with aiohttp.ClientSession(connector=conn, headers={"Authorization": f"Bearer {token}"}) as s:

            async def one(ev):
                async with s.post(env.url + "/v1/events", json=ev) as r:
                    return r.status, await r.json()

            return await asyncio.gather(*(one(ev) for ev in events))

    results = asyncio.run(burst())
    assert [s for s, _ in results] == [202] * 1000, [r for r in results if r[0] != 202][:3]
    ids = {ev["event_id"] for ev in events}
    recs = [r for r in read_topic(env.settings) if json.loads(r.value)["event_id"] in ids]
    assert len(recs) == 1000
    assert len({json.loads(r.value)["event_id"] for r in recs}) == 1000  # no duplicates
    for r in recs:
        assert r.partition == murmur2_partition(r.key, env.settings.topic_partitions)


def test_metrics_reach_pipeline_health(env):
    from tests.conftest import flux

    q = (
        'from(bucket: "BUCKET") |> range(start: -1h) |> filter(fn: (r) => r._measurement == "pipeline_health" '
        f'and r.app_id == "ingest" and r.topic == "ingest" and r.worker == "test-{env.port}") |> last()'
    )

    def fields():
        got = {r["_field"]: r["_value"] for r in flux(env.settings, q)}
        return got if got.get("events_accepted", 0) >= 1000 else None

    got = wait_for(fields, timeout=30, what="pipeline_health from the ingest service")
    assert got["requests"] >= 1000 and got["rejected_forbidden_province"] >= 2 and got["rejected_unauthorized"] >= 2
    assert got["rejected_invalid_event"] >= 2 and got["rejected_rate_limited"] >= 3 and got["rejected_too_large"] >= 2
    assert "latency_p99_ms" in got or "requests_per_second" in got


def test_kafka_down_is_503_with_retry_after_and_nothing_written(services, tmp_path):
    from producers.topics import ensure_topics

    settings = make_settings()
    ensure_topics(settings)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    server = Server(settings, tmp_path, kafka=f"127.0.0.1:{closed}", GOVPULSE_INGEST_METRICS="false")
    try:
        status, headers, body = request(server.url + "/health")
        assert status == 503 and body["kafka"] == "unavailable"
        assert request(server.url + "/live")[0] == 200
        ev = event()
        t0 = time.monotonic()
        status, headers, body = post(server, ev)
        assert status == 503 and body["reason"] == "kafka_unavailable", body
        assert int(headers["Retry-After"]) >= 1
        status, headers, body = post(server, [event(), event()])
        assert status == 503 and [r["status"] for r in body["results"]] == [503, 503]
        assert "Retry-After" in headers
        assert time.monotonic() - t0 < 10
    finally:
        server.stop()
    assert read_topic(settings) == []
    with contextlib.suppress(Exception):
        os.unlink(server.log)


def test_no_ack_within_the_send_timeout_is_503_never_202(services, tmp_path):
    """The broker is up but cannot acknowledge within the send timeout (1 µs here): the answer is
    503 + Retry-After. The record may still land afterwards (503 means "not acknowledged", not
    "not written"): the sender retries with the same event_id and the worker drops the duplicate."""
    from producers.topics import ensure_topics

    settings = make_settings()
    ensure_topics(settings)
    server = Server(
        settings, tmp_path, GOVPULSE_INGEST_SEND_TIMEOUT_SECONDS="0.000001", GOVPULSE_INGEST_METRICS="false"
    )
    try:
        wait_for(lambda: request(server.url + "/health")[0] == 200, timeout=60, what="/health 200")
        statuses = []
        for _ in range(5):
            status, headers, body = post(server, event())
            statuses.append(status)
            if status == 503:
                assert body["reason"] == "kafka_unavailable" and int(headers["Retry-After"]) >= 1
                assert "acknowledgement" in body["errors"][0]["reason"] or "metadata" in body["errors"][0]["reason"]
        assert 202 not in statuses and set(statuses) == {503}, statuses
    finally:
        server.stop()
