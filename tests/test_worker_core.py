"""streams/core.py (WorkerCore) with a plain dict as the record store: dead letters, duplicates,
lateness, alert flags and rebuilds — no Kafka, no InfluxDB."""

from __future__ import annotations

import base64
import time
from datetime import datetime, timedelta

import orjson
import pytest

from common import measurements as m
from common.settings import Settings
from schemas import dump_event
from streams.core import IDLE_FOLLOWS_WALL_SECONDS, LIVE_HORIZON_MS, RecordStore, WorkerCore
from streams.domain.record_codec import decode_record, encode_record
from streams.domain.records import new_record
from streams.kafka.checkpoint import Admission, Checkpoint
from tests.domain_factories import (
    DAY,
    HOUR,
    MIN,
    WARD,
    WARD2,
    apology,
    doc_issued,
    eid,
    iso,
    local,
    ms_of,
    received,
    resolved,
)

TOPIC = "govpulse.dossier-events"
DOCS = "govpulse.document-events"
RCV, DUE = local(2024, 3, 4, 9), local(2024, 3, 7, 9)


@pytest.fixture
def core(tmp_path):
    s = Settings(
        home=tmp_path,
        timezone="Asia/Ho_Chi_Minh",
        report_year_start="12-15",
        allowed_lateness=timedelta(days=10),
        due_soon_lead_working_days=1,
        apology_grace=timedelta(days=1),
    )
    return WorkerCore(s, RecordStore({}), replay=True, app_id="test-core")


def handle(core, event, offset=0, partition=0, topic=TOPIC, key=None):
    return core.handle(
        topic,
        partition,
        offset,
        (key if key is not None else event.unit_key.encode()),
        dump_event(event),
        1_700_000_000_123,
    )


def raw_wire(**over) -> dict:
    d = {
        "event_type": "dossier.received",
        "event_id": eid(1),
        "occurred_at": iso(RCV),
        "source_system": "motcua",
        "province_code": "82",
        "ward_code": WARD,
        "dossier_id": "HS-1",
        "procedure_code": "1.001612",
        "field": "Hộ tịch",
        "channel": "in_person",
        "received_at": iso(RCV),
        "due_at": iso(DUE),
    }
    d.update(over)
    return {k: v for k, v in d.items() if v is not None}


# -- dead letters ----------------------------------------------------------------------------------
def test_invalid_json_goes_to_dead_letter_with_source_and_raw(core):
    value = b'{"event_type": "dossier.received", '
    dl = core.handle(TOPIC, 3, 41, WARD.encode(), value, 1_700_000_000_123)
    assert dl["reason_kind"] == "invalid_event"
    assert "not valid JSON" in dl["reason"]
    assert dl["errors"][0]["field"] == ""
    assert dl["source"] == {"topic": TOPIC, "partition": 3, "offset": 41, "timestamp_ms": 1_700_000_000_123}
    assert dl["raw"] == value.decode() and dl["raw_encoding"] == "utf-8"
    assert dl["key"] == WARD and dl["app_id"] == "test-core"
    orjson.dumps(dl)  # the payload itself is JSON
    st = core.stats[TOPIC]
    assert (st.events_total, st.dead_letters, st.duplicates, st.late_events) == (1, 1, 0, 0)
    assert core.store.data == {}


def test_non_utf8_bytes_are_kept_as_base64(core):
    value = b"\xff\xfe{\x00\x9c garbage"
    dl = core.handle(TOPIC, 0, 7, None, value, None)
    assert dl["reason_kind"] == "invalid_event"
    assert dl["raw_encoding"] == "base64"
    assert base64.b64decode(dl["raw"]) == value
    assert dl["key"] is None and dl["source"]["timestamp_ms"] is None


def test_tombstone_and_non_object(core):
    dl = core.handle(TOPIC, 0, 1, None, None, None)
    assert dl["reason_kind"] == "invalid_event" and dl["raw"] == "" and dl["raw_encoding"] == "utf-8"
    dl = core.handle(TOPIC, 0, 2, None, b"[1, 2]", None)
    assert dl["reason_kind"] == "invalid_event" and "JSON object" in dl["reason"]
    assert core.stats[TOPIC].dead_letters == 2


@pytest.mark.parametrize(
    "override,field",
    [
        ({"due_at": None}, "due_at"),  # missing
        ({"ward_code": "99999"}, "ward_code"),  # not an official ward
        ({"ward_code": "00070"}, "ward_code"),  # a Hà Nội ward with province 82
        ({"due_at": iso(RCV - HOUR)}, "due_at"),  # before reception (model-level rule, field lifted out)
        ({"channel": "fax"}, "channel"),
        ({"channel": "online"}, "online_service"),
        ({"event_type": "dossier.lost"}, "event_type"),
        ({"occurred_at": "2024-03-04T09:00:00"}, "occurred_at"),  # naive timestamp
        ({"surprise": 1}, "surprise"),  # extra fields are forbidden
    ],
)
def test_schema_errors_name_the_field(core, override, field):
    value = orjson.dumps(raw_wire(**override))
    dl = core.handle(TOPIC, 2, 99, WARD.encode(), value, 5)
    assert dl["reason_kind"] == "invalid_event"
    assert field in [e["field"] for e in dl["errors"]], dl["errors"]
    assert all(e["reason"] for e in dl["errors"])
    assert dl["source"] == {"topic": TOPIC, "partition": 2, "offset": 99, "timestamp_ms": 5}
    assert orjson.loads(dl["raw"]) == orjson.loads(value)
    assert core.store.data == {} and core.stats[TOPIC].dead_letters == 1


def test_wrong_kafka_key_is_a_dead_letter_naming_the_key(core):
    e = received(eid(1), "HS-1", RCV, DUE)
    dl = handle(core, e, offset=12, key=WARD2.encode())
    assert dl["reason_kind"] == "wrong_key"
    assert dl["errors"] == [{"field": "key", "reason": dl["reason"]}]
    assert WARD2 in dl["reason"] and WARD in dl["reason"]
    assert dl["key"] == WARD2 and dl["source"]["offset"] == 12
    assert orjson.loads(dl["raw"])["event_id"] == eid(1)
    assert core.store.data == {} and core.stats[TOPIC].dead_letters == 1
    # unkeyed records are accepted (the unit comes from the event)
    assert core.handle(TOPIC, 0, 13, None, dump_event(e), None) is None
    assert len(core.store.data) == 1


# -- duplicates and lateness -----------------------------------------------------------------------
def test_duplicates_are_counted_and_change_nothing(core):
    e = received(eid(1), "HS-1", RCV, DUE)
    assert handle(core, e, offset=0) is None
    stored = dict(core.store.data)
    assert handle(core, e, offset=1) is None  # redelivery
    assert handle(core, e, offset=2) is None
    assert core.store.data == stored
    st = core.stats[TOPIC]
    assert (st.events_total, st.duplicates, st.dead_letters) == (3, 2, 0)
    rec = core.store.get(f"{WARD}|d|HS-1")
    assert rec["event_ids"] == [eid(1)]


def test_too_late_events_go_to_dead_letter_and_are_counted(core):
    lateness = 10 * DAY
    t = RCV + 30 * DAY
    assert handle(core, received(eid(1), "HS-1", t, t + 3 * DAY), offset=0) is None
    # exactly at the limit: still applied
    ok = received(eid(2), "HS-2", t - lateness, t - lateness + DAY)
    assert handle(core, ok, offset=1) is None
    # 1 ms beyond: dead letter
    late = received(eid(3), "HS-3", t - lateness - 1, t)
    dl = handle(core, late, offset=2)
    assert dl["reason_kind"] == "too_late"
    assert dl["errors"][0]["reason"] == dl["reason"] and "allowed lateness" in dl["reason"]
    assert dl["source"] == {"topic": TOPIC, "partition": 0, "offset": 2, "timestamp_ms": 1_700_000_000_123}
    assert orjson.loads(dl["raw"])["event_id"] == eid(3)
    st = core.stats[TOPIC]
    assert (st.events_total, st.late_events, st.dead_letters, st.duplicates) == (3, 1, 0, 0)
    assert core.store.get(f"{WARD}|d|HS-3") is None
    assert core.store.get(f"{WARD}|d|HS-2") is not None


def test_lateness_is_judged_by_event_time_not_occurred_at(core):
    t = RCV + 30 * DAY
    handle(core, received(eid(1), "HS-1", t, t + DAY))
    # resolved long after it was received: its event time (resolved_at) is recent, so it is applied
    res = resolved(eid(2), "HS-0", RCV, RCV + DAY, t - HOUR)
    assert handle(core, res, offset=1) is None
    # an event whose event time is old is late even when it occurred recently
    old = resolved(eid(3), "HS-9", RCV, RCV + DAY, RCV + HOUR, occ=t)
    assert handle(core, old, offset=2)["reason_kind"] == "too_late"


# -- rows, alerts, rebuild -------------------------------------------------------------------------
def _rows(rows, measurement, **tags):
    return [r for r in rows if r[0] == measurement and all(r[1].get(k) == v for k, v in tags.items())]


def test_events_become_rows_with_counts(core):
    handle(core, received(eid(1), "HS-1", RCV, DUE, "online", "full"), offset=0)
    handle(core, received(eid(2), "HS-2", RCV + HOUR, DUE, "in_person"), offset=1)
    handle(core, resolved(eid(3), "HS-1", RCV, DUE, RCV + 2 * HOUR, digitised=True), offset=2)
    handle(core, doc_issued(eid(4), "VB-1", RCV + 3 * HOUR, True), offset=0, topic=DOCS)
    rows = core.snapshot(wall=time.time())
    (month,) = _rows(rows, m.UNIT_RATES, window="month")
    assert month[3] == local(2024, 3, 1)
    f = month[2]
    assert (
        f["received"],
        f["received_online"],
        f["resolved"],
        f["resolved_early"],
        f["documents_issued"],
        f["documents_signed"],
    ) == (2, 1, 1, 1, 1, 1)
    assert f["online_share"] == 0.5 and f["on_time_rate"] == 1.0 and f["signature_adoption"] == 1.0
    (gauge,) = _rows(rows, m.OPEN_DOSSIERS)
    assert gauge[2] == {"open": 1, "overdue": 0, "due_soon": 0, "overdue_without_apology": 0}
    activity = _rows(rows, m.UNIT_ACTIVITY)
    assert [r[1]["source_system"] for r in activity] == ["motcua-dongthap"]
    assert datetime.fromisoformat(activity[0][2]["last_event_at"]) == datetime.fromisoformat(iso(RCV + 3 * HOUR))


def test_unit_activity_is_written_on_news_and_otherwise_once_a_minute(core):
    from streams.domain.aggregator import ACTIVITY_REFRESH_MS

    wall = 1_800_000_000.0
    handle(core, received(eid(1), "HS-1", RCV, DUE))
    assert len(_rows(core.snapshot(wall=wall), m.UNIT_ACTIVITY)) == 1
    assert _rows(core.snapshot(wall=wall + 5), m.UNIT_ACTIVITY) == []  # nothing new, too soon
    handle(core, received(eid(2), "HS-2", RCV + HOUR, DUE), offset=1)
    (news,) = _rows(core.snapshot(wall=wall + 6), m.UNIT_ACTIVITY)  # news: at once
    assert datetime.fromisoformat(news[2]["last_event_at"]) == datetime.fromisoformat(iso(RCV + HOUR))
    assert _rows(core.snapshot(wall=wall + 7), m.UNIT_ACTIVITY) == []
    later = wall + 6 + ACTIVITY_REFRESH_MS / 1000
    (refresh,) = _rows(core.snapshot(wall=later), m.UNIT_ACTIVITY)  # silent: refreshed once a minute
    assert refresh[3] == int(later * 1000) and refresh[2]["last_event_at"] == news[2]["last_event_at"]


def test_health_rows_report_the_counters(core):
    e = received(eid(1), "HS-1", RCV, DUE)
    handle(core, e)
    handle(core, e, offset=1)
    core.handle(TOPIC, 0, 2, None, b"nope", None)
    (row,) = core.health_rows({TOPIC: 17}, wall=1_700_000_000.0)
    assert row[0] == m.PIPELINE_HEALTH and row[1] == {"app_id": "test-core", "worker": "worker", "topic": TOPIC}
    assert {k: row[2][k] for k in ("events_total", "duplicates", "dead_letters", "late_events", "consumer_lag")} == {
        "events_total": 3,
        "duplicates": 1,
        "dead_letters": 1,
        "late_events": 0,
        "consumer_lag": 17,
    }
    assert row[3] == 1_700_000_000_000


def test_alerts_fire_once_and_survive_a_rebuild(core):
    handle(core, received(eid(1), "HS-1", RCV, DUE), offset=0)
    # a later dossier event on the partition moves its clock past all three alert points at once
    later = DUE + 3 * DAY
    handle(core, received(eid(2), "HS-2", later, later + 5 * DAY), offset=1)
    alerts = core.advance(wall=time.time())
    assert [(a["dossier_id"], a["kind"]) for a in alerts] == [
        ("HS-1", "dossier_due_soon"),
        ("HS-1", "dossier_overdue"),
        ("HS-1", "apology_missing"),
    ]
    rec = core.store.get(f"{WARD}|d|HS-1")
    assert sorted(rec["alerts_raised"]) == ["apology_missing", "dossier_due_soon", "dossier_overdue"]
    at, due, ns = rec["alerts_raised"]["dossier_overdue"]  # [at, due, ns within the ms of its point]
    assert [at, due] == [DUE, DUE] and 0 <= ns < 1_000_000
    assert core.advance(wall=time.time()) == []
    # a restart: aggregates rebuilt from the store, nothing fires again, gauges are right
    n = core.rebuild({0})
    assert n == 2
    assert core.advance(wall=time.time()) == []
    handle(core, received(eid(3), "HS-3", later + HOUR, later + 4 * DAY), offset=2)
    assert core.advance(wall=time.time()) == []
    rows = core.snapshot(wall=time.time())
    (gauge,) = _rows(rows, m.OPEN_DOSSIERS)
    assert gauge[2] == {"open": 3, "overdue": 1, "due_soon": 0, "overdue_without_apology": 1}
    # the alert rows are rewritten in place after the rebuild (same series and times)
    hs1 = [r for r in _rows(rows, m.DOSSIER_ALERTS) if r[2]["dossier_id"] == "HS-1"]
    times = sorted(r[3] for r in hs1)
    assert times == [local(2024, 3, 6, 9), DUE, DUE + DAY]
    assert {(r[3], r[4]) for r in hs1} == {(v[0], v[2]) for v in rec["alerts_raised"].values()}


def test_apology_stops_the_apology_alert(core):
    handle(core, received(eid(1), "HS-1", RCV, DUE), offset=0)
    handle(core, apology(eid(2), "HS-1", DUE + HOUR), offset=1)
    handle(core, received(eid(3), "HS-2", DUE + 5 * DAY, DUE + 8 * DAY), offset=2)
    kinds = [a["kind"] for a in core.advance(wall=time.time()) if a["dossier_id"] == "HS-1"]
    assert kinds == ["dossier_due_soon", "dossier_overdue"]


def test_replay_reproduces_the_same_alerts_and_records(tmp_path):
    events = [
        received(eid(1), "HS-1", RCV, DUE),
        resolved(eid(2), "HS-1", RCV, DUE, DUE + 5 * HOUR),
        received(eid(3), "HS-2", RCV + DAY, DUE + DAY),
        received(eid(4), "HS-3", DUE + 9 * DAY, DUE + 12 * DAY),
    ]
    outs = []
    for run in range(2):
        s = Settings(home=tmp_path, allowed_lateness=timedelta(days=30))
        c = WorkerCore(s, RecordStore({}), replay=True)
        order = events if run == 0 else [events[2], events[0], events[1], events[2], events[3]]
        for i, e in enumerate(order):
            c.handle(TOPIC, 0, i, e.unit_key.encode(), dump_event(e), None)
        alerts = c.advance(wall=time.time())
        outs.append((sorted(a["alert_id"] for a in alerts), c.store.data))
    assert outs[0][0] and outs[0] == outs[1]


# -- clocks ------------------------------------------------------------------------------------------
def test_live_clock_follows_the_wall_only_when_idle_and_caught_up(tmp_path):
    c = WorkerCore(Settings(home=tmp_path), RecordStore({}), replay=False)
    now = time.time()
    t = ms_of(datetime.now().astimezone()) - 10 * MIN
    e = received(eid(1), "HS-1", t, t + 3 * DAY)
    c.handle(TOPIC, 0, 0, e.unit_key.encode(), dump_event(e), None)
    last = c.last_event_wall[0]
    assert c.clock(0, wall=last) == t  # busy: event time rules
    idle_wall = last + IDLE_FOLLOWS_WALL_SECONDS + 1
    assert c.clock(0, wall=idle_wall) == int(idle_wall * 1000)  # idle and live: the wall clock
    far_wall = (t + LIVE_HORIZON_MS) / 1000 + 1  # idle, but the stream is an hour behind the wall
    assert far_wall - last > IDLE_FOLLOWS_WALL_SECONDS
    assert c.clock(0, wall=far_wall) == t  # e.g. a finished replay: no jump to the wall clock
    assert c.clock(5, wall=now) is None
    r = WorkerCore(Settings(home=tmp_path), RecordStore({}), replay=True)
    r.handle(TOPIC, 0, 0, e.unit_key.encode(), dump_event(e), None)
    assert r.clock(0, wall=idle_wall) == t


def test_changed_records_are_handed_to_the_changelog_once_per_batch_with_their_last_value(core):
    """What the worker sends to the changelog (and waits for) after a batch: each changed record
    once, with its final value and its partition; nothing twice."""
    handle(core, received(eid(1), "D1", RCV, DUE), partition=4)
    handle(core, resolved(eid(2), "D1", RCV, DUE, RCV + 2 * HOUR), partition=4)
    unsent = core.store.take_unsent()
    assert len(unsent) == 1
    ((key, (partition, value)),) = unsent.items()
    assert partition == 4 and key.decode().endswith("|d|D1")
    assert decode_record(value) == core.store.get(key.decode())
    assert "res" in orjson.loads(value) and "rcv" in orjson.loads(value)  # stored with the short keys
    assert core.store.take_unsent() == {}


def test_a_stored_record_takes_about_its_own_size_in_memory():
    """orjson hands back its whole 4 KiB write buffer as the bytes object; a stored record must
    not keep it (that alone was 4 GiB with a million open dossiers)."""
    import tracemalloc

    store = RecordStore({})
    rec = new_record(received(eid(1), "HS-0", RCV, DUE), "d", 0)
    size = len(encode_record(rec))
    tracemalloc.start()
    try:
        for i in range(2000):
            store.put(0, f"{WARD}|d|HS-{i}", rec)
        per_record, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    per_record /= 2000
    assert size < 400
    assert per_record < size + 600, f"{per_record:.0f} bytes held per {size}-byte record"


PROCESS, DUPLICATE, MISSING, UNPOSITIONED = (
    Admission.PROCESS,
    Admission.DUPLICATE,
    Admission.MISSING,
    Admission.UNPOSITIONED,
)


def test_records_are_admitted_in_offset_order_from_the_sought_position(core):
    cp = Checkpoint()
    key = (TOPIC, 0)
    assert cp.admit(key, 5) is UNPOSITIONED  # between a rebalance and the seek: read again later
    assert cp.set_positions({key: 10}) == {key: 10}  # ... from the position, which the consumer seeks
    assert cp.set_positions({key: 10}) == {}  # nothing dropped since
    assert [cp.admit(key, o) for o in (10, 11)] == [PROCESS, PROCESS]
    assert cp.admit(key, 11) is DUPLICATE and cp.admit(key, 3) is DUPLICATE
    assert cp.admit(key, 15) is MISSING  # 12-14 never came: not processed, read again
    assert cp.admit(key, 16) is MISSING
    assert cp.offset_gaps[TOPIC] == 1  # one gap, however many records queue behind it
    assert cp.processed_next(key) == 12
    assert [cp.admit(key, o) for o in (12, 13, 14, 15)] == [PROCESS] * 4
    handle(core, received(eid(1), "HS-1", RCV, DUE), 12)
    (row,) = core.health_rows({}, wall=1_700_000_000.0, offset_gaps=cp.offset_gaps)
    assert row[2]["offset_gaps"] == 1


def test_commit_limit_moves_only_when_the_state_is_durable():
    cp = Checkpoint()
    key = (TOPIC, 2)
    cp.set_positions({key: 100})
    assert cp.commit_limit(key) == 100  # the committed offset itself
    cp.admit(key, 100)
    cp.admit(key, 101)
    assert cp.commit_limit(key) == 100  # processed, but its changelog is not acknowledged yet
    cp.mark_durable()
    assert cp.commit_limit(key) == 102
    cp.set_positions({key: 90})  # sought back to an older commit (rebalance): re-read from there
    assert cp.commit_limit(key) == 90 and cp.admit(key, 90) is PROCESS


def test_the_checkpoint_orders_changelog_then_deliveries_then_committable():
    """Quix Streams' order: state acknowledged in the changelog, then what the batch sent on, then
    the offsets committable; a failure on the way leaves the commit limit where it was."""
    import asyncio

    cp = Checkpoint()
    key = (TOPIC, 0)
    cp.set_positions({key: 0})
    cp.admit(key, 0)
    seen: list[str] = []

    class Changelog:
        async def write(self, records):
            seen.append(f"changelog {sorted(records)} limit {cp.commit_limit(key)}")
            return len(records)

    class Store:
        def take_unsent(self):
            return {b"k": (0, b"v")}

    async def delivery(fail: bool):
        seen.append(f"delivery limit {cp.commit_limit(key)}")
        if fail:
            raise RuntimeError("broker refused")

    asyncio.run(cp.complete(Changelog(), Store(), [delivery(False)]))
    assert seen == ["changelog [b'k'] limit 0", "delivery limit 0"] and cp.commit_limit(key) == 1
    cp.admit(key, 1)
    with pytest.raises(RuntimeError):
        asyncio.run(cp.complete(Changelog(), Store(), [delivery(True)]))
    assert cp.commit_limit(key) == 1  # offset 1 processed, but not committable


def test_unknown_position_takes_the_first_record_and_holes_can_be_accepted():
    cp = Checkpoint()
    key = (TOPIC, 1)
    cp.set_positions({key: None})
    assert cp.commit_limit(key) is None  # nothing committed until something is processed
    assert cp.admit(key, 7) is PROCESS
    assert cp.admit(key, 20) is MISSING
    cp.accept_hole(key, 20)  # the log has nothing in 8-19
    assert cp.admit(key, 20) is PROCESS
    cp.mark_durable()
    assert cp.commit_limit(key) == 21


def test_a_rebalance_forgets_the_positions_of_partitions_no_longer_owned():
    cp = Checkpoint()
    cp.set_positions({(TOPIC, 0): 5, (TOPIC, 1): 6})
    cp.retain_partitions({1})
    assert cp.admit((TOPIC, 0), 5) is UNPOSITIONED and cp.admit((TOPIC, 1), 6) is PROCESS
    assert cp.commit_limit((TOPIC, 0)) is None


def test_the_fence_and_the_checkpoint_share_one_offset_table():
    """One table of offsets per partition: the fence's fetch cursor and the checkpoint's processing
    cursor and commit limit are fields of the same PartitionOffsets."""
    from streams.kafka.fence import OffsetFence, Verdict

    cp = Checkpoint()
    fence = OffsetFence(table=cp.table)
    key = (TOPIC, 3)
    fence.reset({key: 4})
    cp.set_positions({key: 4})
    assert fence.check(key, 4) is Verdict.DELIVER and cp.admit(key, 4) is PROCESS
    part = cp.table[key]
    assert (part.delivered_next, part.processed_next, part.durable_next) == (5, 5, 4)
    fence.forget([key])  # a revocation forgets the fetch cursor only
    assert cp.table[key].delivered_next is None and cp.commit_limit(key) == 4
    assert list(cp.table) == [key]


# -- issue 9: bounded dead letters, reused ids, partitions, processing errors ----------------------
def test_a_dead_letter_keeps_at_most_the_bound_of_a_huge_record(core):
    import hashlib

    limit = core.settings.dead_letter_max_raw_bytes
    for value, encoding in ((("é" * 600_000).encode(), "utf-8"), (bytes(range(256)) * 4000, "base64")):
        dl = core.handle(TOPIC, 2, 9, b"k" * 5000, value, None)
        assert dl["reason_kind"] == "invalid_event" and dl["raw_encoding"] == encoding
        assert dl["raw_size"] == len(value) and dl["raw_truncated"] is True
        assert dl["raw_sha256"] == hashlib.sha256(value).hexdigest()
        kept = base64.b64decode(dl["raw"]) if encoding == "base64" else dl["raw"].encode()
        assert value.startswith(kept) and limit - 4 <= len(dl["raw"].encode()) <= limit
        assert len(dl["key"]) == 256 and len(orjson.dumps(dl)) < limit + 8192
    assert core.dead_letter_key(b"k" * 5000) == b"k" * 256 and core.dead_letter_key(None) is None
    small = core.handle(TOPIC, 2, 10, None, b"tiny", None)
    assert small["raw"] == "tiny" and small["raw_truncated"] is False and small["raw_size"] == 4


def test_a_dead_letter_bounds_reasons_built_from_the_input(core):
    dl = core.handle(TOPIC, 0, 1, None, orjson.dumps({"event_type": "x" * 500_000}), None)
    assert len(dl["reason"]) <= 2000 and all(len(e["reason"]) <= 500 for e in dl["errors"])


def test_same_id_same_content_is_a_duplicate_other_content_a_conflict(core):
    first = received(eid(1), "HS-1", RCV, DUE)
    assert handle(core, first, 0) is None
    assert handle(core, first, 1) is None  # a redelivery
    other = received(eid(1), "HS-1", RCV, DUE, proc="2.000815")
    dl = handle(core, other, 2)
    assert dl["reason_kind"] == "conflicting_event_id" and dl["first_fingerprint"] != dl["fingerprint"]
    assert dl["errors"][0]["field"] == "event_id"
    elsewhere = received(eid(1), "HS-2", RCV, DUE)  # the same id on another dossier of the partition
    assert handle(core, elsewhere, 3)["reason_kind"] == "conflicting_event_id"
    st = core.stats[TOPIC]
    assert (st.duplicates, st.conflicting_event_ids, st.dead_letters) == (1, 2, 2)
    assert set(core.store.data) == {f"{WARD}|d|HS-1".encode()}
    rec = core.store.get(f"{WARD}|d|HS-1")
    assert rec["reception"]["procedure_code"] == first.procedure_code  # the first version stays


def test_the_id_index_is_rebuilt_from_the_records(core):
    first = received(eid(1), "HS-1", RCV, DUE)
    handle(core, first, 0)
    core.rebuild({0})
    assert handle(core, first, 1) is None and core.stats[TOPIC].duplicates == 1
    assert handle(core, received(eid(1), "HS-1", RCV, DUE, proc="2.000815"), 2)["reason_kind"] == "conflicting_event_id"
    # a record merged by a version that kept no fingerprints: its ids count as redeliveries
    rec = core.store.get(f"{WARD}|d|HS-1")
    del rec["fingerprints"]
    core.store.put(0, f"{WARD}|d|HS-1", rec)
    core.rebuild({0})
    assert handle(core, received(eid(1), "HS-1", RCV, DUE, proc="2.000815"), 3) is None


def test_kafka_partition_is_javas_murmur2():
    from streams.kafka.partitioner import kafka_partition

    # org.apache.kafka.common.utils.Utils.murmur2 test vectors (toPositive(murmur2) as in the Java partitioner)
    vectors = {
        b"21": -973932308,
        b"foobar": -790332482,
        b"a-little-bit-long-string": -985981536,
        b"a-little-bit-longer-string": -1486304829,
        b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
        b"abc": 479470107,
    }
    for key, h in vectors.items():
        assert kafka_partition(key, 2**31 - 1) == (h & 0x7FFFFFFF) % (2**31 - 1)


def test_a_record_outside_its_units_partition_is_forwarded(core):
    from streams.core import Forward
    from streams.kafka.partitioner import UnitPartitioner, kafka_partition

    core.home_partition = UnitPartitioner({TOPIC: 6})
    home = kafka_partition(WARD.encode(), 6)
    e = received(eid(1), "HS-1", RCV, DUE)
    out = handle(core, e, 0, partition=(home + 1) % 6)
    assert out == Forward(WARD.encode(), dump_event(e), home)
    assert core.store.data == {} and core.stats[TOPIC].repartitioned == 1
    assert handle(core, e, 0, partition=home) is None and core.store.get(f"{WARD}|d|HS-1")


def test_a_record_without_key_is_counted_and_used(core):
    e = received(eid(1), "HS-1", RCV, DUE)
    assert core.handle(TOPIC, 0, 0, None, dump_event(e), None) is None
    assert core.stats[TOPIC].unkeyed == 1 and core.store.get(f"{WARD}|d|HS-1")


def test_a_processing_error_is_a_dead_letter(core):
    dl = core.processing_error(ZeroDivisionError("boom"), TOPIC, 1, 5, b"k", b"{}", None)
    assert dl["reason_kind"] == "processing_error" and "ZeroDivisionError: boom" in dl["reason"]
    assert "traceback" in dl and core.stats[TOPIC].processing_errors == 1 and core.stats[TOPIC].dead_letters == 1
    rows = core.health_rows({}, points_rejected=3)
    fields = {k for r in rows for k in r.fields}
    assert {"conflicting_event_ids", "repartitioned", "unkeyed", "processing_errors", "points_rejected"} <= fields


def test_from_a_rebalance_to_the_next_seek_nothing_is_processed_and_what_came_is_read_again():
    """CI of stop 18 lost counts when workers joined and left: records of a fetch made before a
    rebalance reached the worker after it, for a partition another worker owned by then, and a stale
    copy of their fact records went to the changelog. The checkpoint admits nothing from the
    revocation (``suspend``) to the seek after recovery, and reads again what it dropped."""
    cp = Checkpoint()
    kept, other, lost = (TOPIC, 0), (TOPIC, 1), (TOPIC, 2)
    cp.set_positions({kept: 10, other: 0, lost: 40})
    assert [cp.admit(kept, 10), cp.admit(lost, 40)] == [PROCESS, PROCESS]
    cp.mark_durable()
    cp.suspend()
    assert cp.admit(kept, 11) is UNPOSITIONED and cp.admit(lost, 41) is UNPOSITIONED
    assert cp.commit_limit(kept) is None  # nothing committed meanwhile either
    cp.retain_partitions({0, 1})  # recovered: partition 2 is another worker's now
    assert lost not in cp.table
    # the seek to the committed offsets: the kept partition, where a record was dropped, is read again
    assert cp.set_positions({kept: 11, other: 0}) == {kept: 11}
    assert cp.admit(kept, 11) is PROCESS and cp.admit(other, 0) is PROCESS
