"""Simulator (pure, no servers): exact counts, domain rules, determinism, disorder, files, replay checks."""

from __future__ import annotations

import gzip
import hashlib
import itertools
import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from common.calendar import is_working_day
from common.settings import Settings
from producers.archive import EVENT_TIME_FIELD, event_type_and_time
from producers.disorder import DisorderSpec, disorder, parse_disorder, parse_duration
from producers.records import BadLine, Record, RecordReader, RecordWriter, decode_line, encode_record
from producers.replay import ReplayError, replay
from producers.run import LiveClock, plan_start, run_simulation
from producers.scenario import load_scenario, parse_scenario
from producers.simulator import Simulation, Timeline
from schemas import EVENT_TYPES, dump_event, parse_event
from tests.simcheck import check_stream

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = REPO / "producers" / "scenarios"
SHIPPED = ["mytho_2022.yaml", "vinhlong_2022.yaml", "vinhyen_2024.yaml"]


def small_scenario(seed: int = 7, **dossier_over) -> dict:
    d = {
        "received": 400,
        "resolved": 300,
        "on_time": 270,
        "early": 0.5,
        "withdrawn": 10,
        "refused": 5,
        "open_overdue": 0.5,
        "supplements": 0.1,
        "transfers": 0.05,
        "transfer_to": ["28249"],
        "apologies": 0.8,
        "open_overdue_apologies": 0.5,
        "digitised": 0.5,
        "online_payment": 0.5,
        "channels": {"online_full": 0.3, "online_partial": 0.2, "in_person": 0.4, "postal": 0.1},
        "procedures": [
            {"code": "1.001193", "field": "Hộ tịch", "days": 1, "share": 0.5},
            {"code": "2.000815", "field": "Chứng thực", "days": 3, "fee": True, "share": 0.3},
            {"code": "X.10", "field": "Đất đai", "days": 10, "fee": True, "count": 40},
        ],
        "ratings": {"total": 0.2, "levels": {"very_satisfied": 0.8, "satisfied": 0.15, "unsatisfied": 0.05}},
    }
    d.update(dossier_over)
    return {
        "name": "small",
        "seed": seed,
        "period": {"start": "2022-01-10", "end": "2022-06-30"},
        "units": [
            {
                "province_code": "82",
                "ward_code": "28261",
                "dossiers": d,
                "documents": {"issued": 120, "signed": 100, "secret": 5, "received": 300, "processed_online": 0.9},
                "meetings": {"count": 6, "uninterrupted": 4, "endpoints": ["28261", "28249"]},
            },
            {"province_code": "82", "ward_code": "28249", "dossiers": dict(d, received=150, resolved=130, on_time=129)},
        ],
    }


def stream_digest(scenario) -> tuple[str, int]:
    h = hashlib.sha256()
    n = 0
    for ev in Simulation(scenario):
        h.update(dump_event(ev))
        h.update(b"\n")
        n += 1
    return h.hexdigest(), n


# --- exactness of the shipped scenarios ----------------------------------------------------------------
@pytest.fixture(scope="module", params=SHIPPED)
def shipped(request):
    sc = load_scenario(SCENARIOS / request.param)
    return sc, check_stream(sc, Simulation(sc))


def test_counts_per_unit_and_type_are_exact(shipped):
    sc, tally = shipped
    expected = sc.expected_counts()
    got = {u: {t: n for t, n in c.items()} for u, c in tally.by_type.items()}
    assert got == expected


def test_outcomes_match_the_plan(shipped):
    sc, tally = shipped
    for u in sc.units:
        d, o = u.dossiers, tally.outcome[u.key]
        assert o["early"] == d.early, u.key
        assert o["on_time_plain"] == d.on_time_plain, u.key
        assert o["late"] == d.late, u.key
        assert o["open_overdue"] == d.open_overdue and o["open_pending"] == d.open_pending, u.key
        assert o["online"] == d.online and o["digitised"] == d.digitised, u.key
        assert o["apologies_late_resolved"] == d.apologies and o["apologies_open"] == d.open_overdue_apologies
        for lvl, n in d.ratings:
            assert o[f"rated_{lvl}"] == n, (u.key, lvl)


def test_report_figures_from_the_stream(shipped):
    """The calibration figures, recomputed from the generated events."""
    sc, tally = shipped
    tot = Counter()
    for u in sc.units:
        for k, v in tally.outcome[u.key].items():
            tot[k] += v
        tot["received"] += tally.by_type[u.key]["dossier.received"]
        tot["resolved"] += tally.by_type[u.key]["dossier.resolved"]
    on_time = tot["early"] + tot["on_time_plain"]
    if sc.name == "mytho_2022":
        assert (tot["received"], tot["resolved"], on_time) == (20742, 20324, 20255)
        assert round(on_time / tot["resolved"] * 100, 2) == 99.66
        desk = tally.outcome["815"]
        assert desk["early"] + desk["on_time_plain"] == 3671 and tally.by_type["815"]["dossier.received"] == 4121
        assert tally.by_type["815"]["document.received"] == 70800
        assert tally.by_type["815"]["meeting.ended"] == 34
    elif sc.name == "vinhlong_2022":
        desk = tally.outcome["855"]
        assert desk["early"] + desk["on_time_plain"] == 7703 and tally.by_type["855"]["dossier.resolved"] == 8081
        assert sum(tally.by_type[u.key]["dossier.received"] for u in sc.units if u.ward_code) == 17484
    else:
        assert tally.outcome["243"]["online"] == 3612
        assert sum(tally.outcome[u.key]["online"] for u in sc.units if u.ward_code) == 19350
        assert tot["rated_very_satisfied"] == 1370 and tot["rated_satisfied"] == 49 and tot["rated_unsatisfied"] == 1


def test_documents_and_meetings_exact(shipped):
    sc, tally = shipped
    for u in sc.units:
        o = tally.outcome[u.key]
        if u.documents:
            d = u.documents
            assert (o["doc_signed"], o["doc_leader"], o["doc_secret"], o["doc_online"]) == (
                d.signed,
                d.leader_signed,
                d.secret,
                d.processed_online,
            ), u.key
            for kind, n in d.certificate:
                assert o[f"doc_cert_{kind}"] == n
        if u.meetings:
            assert o["meeting_uninterrupted"] == u.meetings.uninterrupted
    if sc.name == "mytho_2022":
        o = tally.outcome["815"]
        assert (o["doc_signed"], o["doc_online"], o["meeting_uninterrupted"], o["meeting_endpoints_18"]) == (
            13200,
            70800,
            34,
            34,
        )


# --- a small scenario exercising every path ----------------------------------------------------------
def test_small_scenario_rules_and_counts():
    sc = parse_scenario(small_scenario())
    tally = check_stream(sc, Simulation(sc))
    assert {u: dict(c) for u, c in tally.by_type.items()} == sc.expected_counts()
    for u in sc.units:
        d, o = u.dossiers, tally.outcome[u.key]
        assert (o["early"], o["on_time_plain"], o["late"]) == (d.early, d.on_time_plain, d.late)
        assert (o["open_overdue"], o["open_pending"]) == (d.open_overdue, d.open_pending)
        assert o["apologies_open"] == d.open_overdue_apologies
    # online payment: the share of fee-bearing resolved dossiers, to the nearest event
    o = tally.outcome["28261"]
    assert abs(o["paid_online"] - o["fee"] * 0.5) <= 0.5


def test_meetings_interrupted_have_a_reason():
    sc = parse_scenario(small_scenario())
    ended = [e for e in Simulation(sc) if e.event_type == "meeting.ended"]
    assert len(ended) == 6 and sum(e.uninterrupted for e in ended) == 4
    for e in ended:
        if not e.uninterrupted:
            assert e.connection_drops > 0 or e.late_start_minutes > 0


def test_keys_and_envelope():
    sc = load_scenario(SCENARIOS / "mytho_2022.yaml")
    for i, ev in enumerate(Simulation(sc)):
        if ev.ward_code:
            assert ev.district_code == "815" and ev.unit_key == ev.ward_code and ev.province_code == "82"
        else:
            assert ev.unit_key == "815"
        assert ev.source_system == "motcua-tiengiang"
        if i > 3000:
            break


def test_events_are_built_lazily():
    sc = parse_scenario(small_scenario())
    it = Simulation(sc).pending()
    first = [next(it) for _ in range(50)]
    assert all(p._event is None for p in first)
    ev = first[0].event()
    assert first[0].event() is ev  # built once
    assert first[0].ts_ms == int(ev.occurred_at.timestamp() * 1000)


# --- determinism ------------------------------------------------------------------------------
def test_same_seed_same_bytes_other_seed_differs():
    a = stream_digest(load_scenario(SCENARIOS / "vinhyen_2024.yaml"))
    b = stream_digest(load_scenario(SCENARIOS / "vinhyen_2024.yaml"))
    assert a == b
    c = stream_digest(parse_scenario(small_scenario(seed=7)))
    d = stream_digest(parse_scenario(small_scenario(seed=8)))
    assert c != d and c[1] == d[1]


def test_out_file_is_byte_identical(tmp_path):
    sc = parse_scenario(small_scenario())
    s = Settings(topic_prefix="t-file")
    run_simulation(sc, s, out=tmp_path / "a.jsonl.gz")
    run_simulation(sc, s, out=tmp_path / "b.jsonl.gz")
    assert (tmp_path / "a.jsonl.gz").read_bytes() == (tmp_path / "b.jsonl.gz").read_bytes()


def test_out_file_records(tmp_path):
    sc = parse_scenario(small_scenario())
    summary = run_simulation(sc, Settings(topic_prefix="t-file"), out=tmp_path / "s.jsonl.gz")
    n = 0
    for _, _, r in RecordReader(tmp_path / "s.jsonl.gz"):
        assert isinstance(r, Record)
        ev = parse_event(r.value)
        assert r.key == ev.unit_key.encode()
        assert r.timestamp_ms == int(ev.occurred_at.timestamp() * 1000)
        assert (
            r.topic
            == f"t-file.{'dossier' if ev.event_type.startswith('dossier') else ev.event_type.split('.')[0]}-events"
        )
        assert r.partition is None and r.offset is None
        n += 1
    assert n == summary.events == sum(sum(v.values()) for v in sc.expected_counts().values())


# --- disorder ---------------------------------------------------------------------------------
def test_parse_disorder():
    spec = parse_disorder("duplicates=0.01,late=2%,max_delay=3d")
    assert spec == DisorderSpec(0.01, 0.02, timedelta(days=3))
    assert parse_duration("90s") == timedelta(seconds=90) and parse_duration("12h") == timedelta(hours=12)
    for bad in ("late=2", "speed=1", "max_delay=soon", "duplicates"):
        with pytest.raises(ValueError, match="disorder"):
            parse_disorder(bad)


def test_disorder_keeps_the_set_of_event_ids():
    sc = parse_scenario(small_scenario())
    plain = [p.event() for p in Simulation(sc).pending()]
    spec = DisorderSpec(duplicates=0.05, late=0.05, max_delay=timedelta(days=3))
    out = list(disorder(Simulation(sc).pending(), spec, sc.seed))
    ids = Counter(p.event().event_id for _, p, _ in out)
    assert set(ids) == {e.event_id for e in plain}
    dups = sum(d for _, _, d in out)
    assert dups > 0 and sum(ids.values()) == len(plain) + dups
    assert all(n <= 2 for n in ids.values())
    # events keep their times; some now arrive after later events; emit positions never go back
    by_id = {e.event_id: e for e in plain}
    emitted = [p.event() for _, p, _ in out]
    assert all(e.occurred_at == by_id[e.event_id].occurred_at for e in emitted)
    assert any(a.occurred_at > b.occurred_at for a, b in itertools.pairwise(emitted))
    emits = [m for m, _, _ in out]
    assert emits == sorted(emits)
    assert all(0 <= m - p.ts_ms <= 3 * 86400_000 for m, p, _ in out)
    # reproducible
    again = [p.event().event_id for _, p, _ in disorder(Simulation(sc).pending(), spec, sc.seed)]
    assert again == [e.event_id for e in emitted]


# --- period shifting and live pacing ---------------------------------------------------------------
def test_plan_start_now_never_runs_ahead_of_the_clock():
    sc = load_scenario(SCENARIOS / "vinhyen_2024.yaml")
    now = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
    bulk = plan_start(sc, "now", None, now=now)
    assert bulk.end == now and bulk.duration == sc.duration
    live = plan_start(sc, "now", 1440, now=now)
    assert live.end == now + sc.duration / 1440
    at1 = plan_start(sc, "now", 1, now=now)
    assert at1.start == now


def test_plan_start_iso_and_future_refused():
    sc = parse_scenario(small_scenario())
    now = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
    s = plan_start(sc, "2025-03-03", None, now=now)
    assert s.start == datetime(2025, 3, 3, tzinfo=sc.tz)
    with pytest.raises(ValueError, match="ahead of the wall clock"):
        plan_start(sc, "2026-05-01", None, now=now)
    with pytest.raises(ValueError, match="ISO"):
        plan_start(sc, "tomorrow", None, now=now)


def test_shifted_run_gets_new_event_ids():
    sc = parse_scenario(small_scenario())
    a = [e.event_id for e in Simulation(sc)]
    b = [e.event_id for e in Simulation(sc.shifted(datetime(2025, 1, 20, tzinfo=UTC)))]
    assert a == [e.event_id for e in Simulation(sc)]  # same period: same ids
    assert not set(a) & set(b)


def test_shifted_scenario_is_still_exact_and_consistent():
    sc = parse_scenario(small_scenario()).shifted(datetime(2025, 1, 20, 14, 37, tzinfo=UTC))
    tally = check_stream(sc, Simulation(sc))  # receipts on working days of 2025, in office hours
    assert {u: dict(c) for u, c in tally.by_type.items()} == sc.expected_counts()


def test_timeline_inverse_and_office_hours():
    sc = parse_scenario(small_scenario())
    tl = Timeline(sc.start, sc.end, sc.office_hours, sc.tz)
    rng = random.Random(3)
    for _ in range(2000):
        o = rng.randrange(tl.total)
        t = tl.instant(o)
        assert tl.offset(t) == o
        loc = datetime.fromtimestamp(t, sc.tz)
        assert is_working_day(loc.date())
        assert any(a <= loc.time() < b for a, b in sc.office_hours)


def test_live_clock_paces():
    slept = []
    clock = LiveClock(0, speed=1000, sleep=lambda s: (slept.append(s), time.sleep(s)))
    clock.wait_until(0)
    assert not slept  # already due
    t0 = time.monotonic()
    clock.wait_until(300)  # 300 ms of event time at 1000x = 0.3 ms of wall time
    assert time.monotonic() - t0 < 0.5
    clock2 = LiveClock(0, speed=10, sleep=lambda s: (slept.append(s), time.sleep(s)))
    t0 = time.monotonic()
    clock2.wait_until(2000)  # 2 s of event time at 10x = 0.2 s
    assert 0.15 <= time.monotonic() - t0 < 1.0 and slept


# --- records format -----------------------------------------------------------------------------
def test_record_roundtrip_keeps_raw_bytes():
    raw = b'{"a": 1,   "b": "c\xc3\xa0"}'
    r = Record("t.dossier-events", 1, 2, 3, b"28261", raw)
    assert decode_line(encode_record(r).strip()) == r
    bin_ = Record(None, None, None, 5, b"\xff\x00", b"\xfe")
    line = encode_record(bin_)
    assert b"value_b64" in line and b"key_b64" in line
    assert decode_line(line.strip()) == bin_
    assert isinstance(decode_line(b"{nope"), BadLine)
    assert isinstance(decode_line(b'{"timestamp_ms": 1}'), BadLine)
    assert isinstance(decode_line(b'{"value": "x", "timestamp_ms": "soon"}'), BadLine)


def test_event_time_field_matches_models():
    sc = parse_scenario(small_scenario())
    seen = set()
    for ev in Simulation(sc):
        et, t = event_type_and_time(dump_event(ev))
        assert et == ev.event_type and t == ev.event_time()
        seen.add(et)
    assert set(EVENT_TIME_FIELD) == set(EVENT_TYPES)
    assert seen >= {"dossier.received", "dossier.resolved", "document.issued", "meeting.scheduled"}
    assert event_type_and_time(b"not json") == ("<invalid>", None)


# --- replay validation (no Kafka: sink=None validates only) ----------------------------------------------
def _write_lines(path: Path, lines: list[bytes]) -> Path:
    with gzip.open(path, "wb") as f:
        for line in lines:
            f.write(line + b"\n")
    return path


def _good_lines(n: int = 5) -> list[bytes]:
    sc = parse_scenario(small_scenario())
    out = []
    for ev in Simulation(sc):
        out.append(
            encode_record(
                Record(
                    "x.dossier-events",
                    None,
                    None,
                    int(ev.occurred_at.timestamp() * 1000),
                    ev.unit_key.encode(),
                    dump_event(ev),
                )
            ).strip()
        )
        if len(out) == n:
            return out
    return out


def test_replay_stops_at_invalid_line_with_file_line_and_field(tmp_path):
    lines = _good_lines()
    bad = orjson.loads(lines[2])
    v = orjson.loads(bad["value"])
    v["ward_code"] = "99999"
    bad["value"] = orjson.dumps(v).decode()
    lines[2] = orjson.dumps(bad)
    f = _write_lines(tmp_path / "in.jsonl.gz", lines)
    with pytest.raises(ReplayError) as e:
        replay(Settings(topic_prefix="t"), [f])
    assert f"{f}:3:" in str(e.value) and "ward_code" in str(e.value)
    assert e.value.line == 3


def test_replay_skip_invalid_writes_rejects(tmp_path):
    lines = _good_lines()
    lines.insert(1, b"{broken json")
    v = orjson.loads(lines[4])
    ev = orjson.loads(v["value"])
    ev["occurred_at"] = "2022-01-10T09:00:00"  # naive
    v["value"] = orjson.dumps(ev).decode()
    lines[4] = orjson.dumps(v)
    f = _write_lines(tmp_path / "in.jsonl.gz", lines)
    rej = tmp_path / "rejects.jsonl"
    s = replay(Settings(topic_prefix="t"), [f], rejects=rej)
    assert (s.read, s.sent, s.rejected) == (6, 4, 2)
    rows = [orjson.loads(x) for x in rej.read_bytes().splitlines()]
    assert [r["line"] for r in rows] == [2, 5]
    assert rows[0]["file"] == str(f) and "not valid JSON" in rows[0]["reason"] and rows[0]["raw"] == "{broken json"
    assert rows[1]["errors"][0]["field"] == "occurred_at"


def test_replay_merges_files_by_timestamp_and_filters(tmp_path):
    lines = _good_lines(10)
    a = _write_lines(tmp_path / "a.jsonl.gz", lines[0::2])
    b = tmp_path / "b.jsonl"
    b.write_bytes(b"\n".join(lines[1::2]) + b"\n")  # plain JSON Lines too
    s = replay(Settings(topic_prefix="t"), [a, b])
    assert s.sent == 10 and s.files == 2
    ts = [orjson.loads(x)["timestamp_ms"] for x in lines]
    since, until = ts[3], ts[7]
    s2 = replay(Settings(topic_prefix="t"), [tmp_path], since_ms=since, until_ms=until)
    assert s2.sent == sum(since <= t < until for t in ts) and s2.filtered == 10 - s2.sent


def test_replay_sends_original_bytes_in_timestamp_order(tmp_path):
    lines = _good_lines(8)
    a = _write_lines(tmp_path / "a.jsonl.gz", lines[0::2])
    b = _write_lines(tmp_path / "b.jsonl.gz", lines[1::2])

    class Capture:
        def __init__(self):
            self.got = []

        def send_raw(self, topic, key, value, ts):
            self.got.append((topic, key, value, ts))

        def flush(self):
            pass

    cap = Capture()
    replay(Settings(topic_prefix="again"), [b, a], sink=cap)
    want = [orjson.loads(x) for x in lines]
    assert [(k, v, t) for _, k, v, t in cap.got] == [
        (w["key"].encode(), w["value"].encode(), w["timestamp_ms"]) for w in want
    ]
    assert {t for t, *_ in cap.got} <= {"again.dossier-events", "again.document-events", "again.meeting-events"}


def test_writer_is_atomic(tmp_path):
    p = tmp_path / "x.jsonl.gz"
    with pytest.raises(RuntimeError), RecordWriter(p) as w:
        w.write(Record("t", None, None, 1, b"k", b"{}"))
        raise RuntimeError("boom")
    assert not p.exists() and not list(tmp_path.iterdir())
