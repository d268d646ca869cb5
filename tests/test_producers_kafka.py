"""Producer side against the real local Kafka: topics, bulk simulation, archive -> replay, errors.

Every test writes under its own topic prefix (``test-<uuid>``) and deletes its topics afterwards.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections import Counter, defaultdict
from pathlib import Path

import orjson
import pytest

from producers.archive import archive_topic
from producers.kafka_common import BrokerUnavailable, admin_client
from producers.kafka_sink import DeliveryError, KafkaSink
from producers.records import Record, RecordWriter
from producers.run import run_simulation
from producers.scenario import load_scenario
from producers.topics import EVENT_TOPICS, TOPICS, ensure_topics, list_topics
from tests.conftest import REPO, run_govpulse

pytestmark = pytest.mark.integration
SCENARIOS = REPO / "producers" / "scenarios"
SHIPPED = ["mytho_2022.yaml", "vinhlong_2022.yaml", "vinhyen_2024.yaml"]


def delete_topics(settings) -> None:
    admin = admin_client(settings)
    try:
        names = [n for n in admin.list_topics() if n.startswith(settings.topic_prefix + ".")]
        if names:
            admin.delete_topics(names)
    finally:
        admin.close()


@pytest.fixture
def isolated(services, unique_settings):
    made = []

    def factory(**kw):
        s = unique_settings(**kw)
        made.append(s)
        return s

    yield factory
    for s in made:
        with contextlib.suppress(Exception):  # cleanup must not hide the test result
            delete_topics(s)


def read_topic(settings, short: str) -> list:
    """All records of a topic, partition by partition in offset order."""
    from kafka import KafkaConsumer, TopicPartition

    name = settings.topic(short)
    c = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        max_poll_records=5000,
        fetch_max_bytes=32 * 2**20,
        max_partition_fetch_bytes=8 * 2**20,
    )
    try:
        parts = c.partitions_for_topic(name) or set()
        tps = [TopicPartition(name, p) for p in sorted(parts)]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        end = c.end_offsets(tps)
        out = []
        deadline = time.monotonic() + 300
        while any(c.position(tp) < end[tp] for tp in tps):
            assert time.monotonic() < deadline, "timed out reading back"
            for recs in c.poll(timeout_ms=1000).values():
                out.extend(recs)
        out.sort(key=lambda r: (r.partition, r.offset))
        return out
    finally:
        c.close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- topics ----------------------------------------------------------------------------------
def test_topics_created_idempotently_with_configs(isolated):
    s = isolated()
    first = ensure_topics(s, partitions=3)
    assert [t.short_name for t in first] == list(TOPICS) and all(t.created for t in first)
    assert {t.name for t in first} == {f"{s.topic_prefix}.{n}" for n in TOPICS}
    again = ensure_topics(s, partitions=8)  # existing topics keep their partition count
    assert not any(t.created for t in again) and all(t.partitions == 3 for t in again)
    assert {n for n, _, _ in list_topics(s)} == {s.topic(n) for n in TOPICS}
    from kafka.admin import ConfigResource, ConfigResourceType

    admin = admin_client(s)
    try:
        r = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, s.topic("dossier-events"))])
        r = r[0] if isinstance(r, list) else r
        cfg = r["topic"][s.topic("dossier-events")]
        assert cfg["retention.ms"]["value"] == "-1"
    finally:
        admin.close()


def test_topics_commands(isolated):
    s = isolated()
    out = run_govpulse(["topics", "create", "--partitions", "2"], s).stdout
    assert "created" in out and s.topic("dossier-events") in out
    out = run_govpulse(["topics", "create"], s).stdout
    assert "already existed" in out
    out = run_govpulse(["topics", "list"], s).stdout
    assert s.topic("dead-letter") in out


# --- bulk simulation into Kafka, read back ------------------------------------------------------------
@pytest.fixture(scope="module")
def simulated(services):
    """The three shipped scenarios in bulk into one prefix (Mỹ Tho through the CLI, the others via the API)."""
    from tests.conftest import make_settings

    s = make_settings()
    try:
        run_govpulse(["simulate", str(SCENARIOS / "mytho_2022.yaml")], s, timeout=900)
        expected: dict[str, Counter] = defaultdict(Counter)
        stats = {}
        for name in SHIPPED:
            sc = load_scenario(SCENARIOS / name)
            for unit, counts in sc.expected_counts().items():
                expected[unit].update(counts)
            if name == "mytho_2022.yaml":
                continue
            with KafkaSink(s) as sink:
                summary = run_simulation(sc, s, sink=sink)
                assert sink.idempotence_active()
                stats[name] = (summary.events, summary.rate, sink.stats.acked)
        yield s, expected, stats
    finally:
        delete_topics(s)


def test_bulk_counts_keys_and_timestamps(simulated):
    s, expected, stats = simulated
    got: dict[str, Counter] = defaultdict(Counter)
    last_ts: dict[tuple, int] = {}
    for short in EVENT_TOPICS:
        for r in read_topic(s, short):
            ev = orjson.loads(r.value)
            unit = ev.get("ward_code") or ev.get("district_code") or ev.get("unit_code")
            assert r.key == unit.encode(), "key must be the event's unit"
            from datetime import datetime

            assert r.timestamp == int(datetime.fromisoformat(ev["occurred_at"]).timestamp() * 1000)
            # citizen feedback (phản ánh, kiến nghị) shares the dossier topic: its alerts follow the dossier clock
            topic_of = {
                "dossier": "dossier-events",
                "feedback": "dossier-events",
                "document": "document-events",
                "meeting": "meeting-events",
            }
            assert short == topic_of[ev["event_type"].split(".")[0]]
            # per unit, timestamps never go back within its partition
            k = (r.topic, r.partition, unit)
            assert last_ts.get(k, 0) <= r.timestamp
            last_ts[k] = r.timestamp
            got[unit][ev["event_type"]] += 1
    assert {u: dict(c) for u, c in got.items()} == {u: dict(c) for u, c in expected.items()}
    for _name, (events, _rate, acked) in stats.items():
        assert events == acked


# --- archive -> replay ----------------------------------------------------------------------------
def test_archive_then_replay_reproduces_the_stream(isolated, tmp_path):
    s, target = isolated(), isolated()
    # Vĩnh Yên 2024 (65k events, all three topics' kinds but meetings) plus a few meetings of Mỹ Tho
    with KafkaSink(s) as sink:
        run_simulation(load_scenario(SCENARIOS / "vinhyen_2024.yaml"), s, sink=sink)
        from producers.simulator import K_MEET_ENDED, K_MEET_SCHEDULED, K_MEET_STARTED, Simulation

        n = 0
        for p in Simulation(load_scenario(SCENARIOS / "mytho_2022.yaml")).pending():
            if p.kind in (K_MEET_SCHEDULED, K_MEET_STARTED, K_MEET_ENDED):
                sink.send(p.event())
                n += 1
        assert n == 102
    out = tmp_path / "archive"
    for short in EVENT_TOPICS:
        res = archive_topic(s, short, out, from_beginning=True)
        assert res.new_records == res.manifest.totals()["records"] > 0
        # resumable: a second run finds nothing new
        assert archive_topic(s, short, out).new_records == 0
    ext = [
        "--extra-units",
        str(SCENARIOS / "mytho_units.yaml"),
        "--extra-units",
        str(SCENARIOS / "vinhlong_units.yaml"),
        "--extra-units",
        str(SCENARIOS / "vinhyen_units.yaml"),
    ]
    proc = run_govpulse(["replay", str(out), *ext], target, timeout=900)
    assert "0 rejected" in proc.stdout
    for short in EVENT_TOPICS:
        a = read_topic(s, short)
        b = read_topic(target, short)
        assert Counter((r.key, r.value, r.timestamp) for r in a) == Counter((r.key, r.value, r.timestamp) for r in b)

        def per_key(records):
            d = defaultdict(list)
            for r in records:
                d[r.key].append(r.value)
            return d

        assert per_key(a) == per_key(b), "each unit's events replay in their original order"


def test_archive_resumes_with_only_new_records(isolated, tmp_path):
    s = isolated()
    ensure_topics(s, partitions=2, names=EVENT_TOPICS)
    sc = load_scenario(SCENARIOS / "vinhyen_2024.yaml")
    from producers.simulator import Simulation
    from schemas import dump_event

    events = []
    for ev in Simulation(sc):
        if ev.event_type.startswith("dossier."):
            events.append(ev)
        if len(events) == 300:
            break
    with KafkaSink(s) as sink:
        for ev in events[:200]:
            sink.send(ev)
    out = tmp_path / "arch"
    assert archive_topic(s, "dossier-events", out).new_records == 0  # first run starts at the end
    # an orphan from an "interrupted" run is cleaned up
    topic_dir = out / s.topic("dossier-events")
    (topic_dir / "p000-000000000999-000000001000.jsonl.gz").write_bytes(b"junk")
    with KafkaSink(s) as sink:
        for ev in events[200:]:
            sink.send(ev)
    res = archive_topic(s, "dossier-events", out)
    assert res.new_records == 100 and res.removed_orphans == ["p000-000000000999-000000001000.jsonl.gz"]
    res2 = archive_topic(s, "dossier-events", out, from_beginning=True)  # manifest wins: nothing new
    assert res2.new_records == 0
    m = orjson.loads((topic_dir / "manifest.json").read_bytes())
    assert m["totals"]["records"] == 100
    assert sum(seg["records"] for seg in m["segments"]) == 100
    assert m["totals"]["by_type"].get("dossier.received", 0) > 0
    assert m["totals"]["event_time_min"] <= m["totals"]["event_time_max"]
    # a fresh archive from the beginning takes all 300, in partition+offset order per file
    full = archive_topic(s, "dossier-events", tmp_path / "full", from_beginning=True)
    assert full.new_records == 300
    sent = {dump_event(e) for e in events}
    from producers.records import RecordReader

    seen = []
    for seg in full.manifest.segments:
        offsets = []
        for _, _, rec in RecordReader(full.directory / seg["file"]):
            assert rec.value in sent and rec.partition == seg["partition"]
            offsets.append(rec.offset)
            seen.append(rec.value)
        assert offsets == sorted(offsets)
    assert len(seen) == 300


# --- invalid input -----------------------------------------------------------------------------------
def _file_with_invalid_line(tmp_path: Path) -> tuple[Path, int]:
    sc = load_scenario(SCENARIOS / "vinhyen_2024.yaml")
    from producers.simulator import Simulation
    from schemas import dump_event

    path = tmp_path / "in.jsonl.gz"
    with RecordWriter(path) as w:
        for i, ev in enumerate(Simulation(sc)):
            value = dump_event(ev)
            if i == 6:
                d = orjson.loads(value)
                d["due_at"] = d.get("received_at", "2024-01-01T00:00:00+07:00")  # due = received: invalid
                value = orjson.dumps(d)
            w.write(
                Record(
                    "x.dossier-events", None, None, int(ev.occurred_at.timestamp() * 1000), ev.unit_key.encode(), value
                )
            )
            if i == 19:
                break
    return path, 7


def test_replay_invalid_line_stops_with_file_and_line(isolated, tmp_path):
    s = isolated()
    path, line = _file_with_invalid_line(tmp_path)
    ext = ["--extra-units", str(SCENARIOS / "vinhyen_units.yaml")]
    proc = run_govpulse(["replay", str(path), *ext], s, check=False)
    assert proc.returncode == 1
    assert f"{path}:{line}:" in proc.stderr and "due_at" in proc.stderr


def test_replay_skip_invalid_writes_rejects_and_continues(isolated, tmp_path):
    s = isolated()
    path, line = _file_with_invalid_line(tmp_path)
    rejects = tmp_path / "rejects.jsonl"
    ext = ["--extra-units", str(SCENARIOS / "vinhyen_units.yaml")]
    proc = run_govpulse(["replay", str(path), "--skip-invalid", str(rejects), *ext], s)
    assert "19 sent, 1 rejected" in proc.stdout.replace("\n", " ")
    rows = [orjson.loads(x) for x in rejects.read_bytes().splitlines()]
    assert len(rows) == 1 and rows[0]["line"] == line and rows[0]["file"] == str(path)
    assert rows[0]["errors"][0]["field"] == "due_at" and rows[0]["raw"]
    assert sum(len(read_topic(s, t)) for t in EVENT_TOPICS) == 19


# --- failures are clear and bounded --------------------------------------------------------------------
def test_broker_unreachable_is_clear_within_the_bound(unique_settings):
    s = unique_settings(kafka_bootstrap_servers=f"127.0.0.1:{closed_port()}")
    t0 = time.monotonic()
    with pytest.raises(BrokerUnavailable, match=r"cannot reach Kafka at 127.0.0.1:.* within 5 s"):
        KafkaSink(s, connect_timeout_s=5)
    assert time.monotonic() - t0 < 10
    t0 = time.monotonic()
    with pytest.raises(BrokerUnavailable):
        ensure_topics(s, connect_timeout_s=3)
    assert time.monotonic() - t0 < 8


def test_simulate_command_broker_down_exits_1_quickly(unique_settings):
    s = unique_settings(kafka_bootstrap_servers=f"127.0.0.1:{closed_port()}")
    t0 = time.monotonic()
    proc = run_govpulse(
        ["simulate", str(SCENARIOS / "vinhyen_2024.yaml"), "--connect-timeout", "5"], s, check=False, timeout=120
    )
    elapsed = time.monotonic() - t0
    assert proc.returncode == 1
    assert "cannot reach Kafka" in proc.stderr and "within 5 s" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert elapsed < 30  # 5 s bound + interpreter start-up


def test_delivery_failure_is_not_silent(isolated):
    s = isolated()
    admin = admin_client(s)
    topic = s.topic("tiny")
    try:
        admin.create_topics(
            {topic: {"num_partitions": 1, "replication_factor": 1, "configs": {"max.message.bytes": "2000"}}},
            wait_for_metadata=True,
        )
    finally:
        admin.close()
    sink = KafkaSink(s, delivery_timeout_s=30)
    try:
        sink.send_raw(topic, b"k", b"ok", 1_640_000_000_000)
        sink.flush()
        assert sink.stats.acked == 1
        sink.send_raw(topic, b"k", os.urandom(5000), 1_640_000_000_000)  # incompressible, over the limit
        with pytest.raises(DeliveryError, match="not delivered"):
            sink.flush()
        assert sink.stats.failed == 1
    finally:
        sink.abort()
