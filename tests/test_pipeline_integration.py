"""The real pipeline (simulator → Kafka → Faust worker → InfluxDB) against the real servers.

Expected figures come from the public report in DOMAIN.md (Mỹ Tho 2022) and, for alerts, from
an independent brute-force reading of the events read back from Kafka.
"""

from __future__ import annotations

import bisect
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import (
    GOVPULSE,
    REPO,
    flux,
    make_settings,
    run_govpulse,
    run_pipeline,
    run_worker,
    settings_env,
    unique,
    wait_for,
)

pytestmark = pytest.mark.integration

COMPARED_FIELDS = (
    "received",
    "received_online",
    "resolved",
    "resolved_early",
    "resolved_on_time",
    "resolved_late",
    "late_with_apology",
    "documents_issued",
    "documents_signed",
    "meetings_held",
    "meetings_uninterrupted",
    "ratings",
    "on_time_rate",
    "signature_adoption",
)


def figures(settings, bucket: str) -> dict:
    """Every compared field of every window point of every unit: {(unit, window, time, field): value},
    every non-zero report_counts field: {(unit, "report:<field>:<procedure>", day, field): value}, and
    every non-zero feedback_flows field: {(unit, "feedback_flows", day, field): value}."""
    fields = " or ".join(f'r._field == "{f}"' for f in COMPARED_FIELDS)
    rows = flux(
        settings,
        f"""from(bucket: "BUCKET") |> range(start: 0)
        |> filter(fn: (r) => r._measurement == "unit_rates") |> filter(fn: (r) => {fields})""",
        bucket,
    )
    out = {(r["unit_code"], r["window"], r["_time"].isoformat(), r["_field"]): r["_value"] for r in rows}
    # the periodic report's flows (report_counts) too: every failure-invariance test compares them.
    # A zero there is the same as no point (a run that saw a flow come and go wrote zeros)
    report = flux(
        settings,
        """from(bucket: "BUCKET") |> range(start: 0)
        |> filter(fn: (r) => r._measurement == "report_counts" and r._value != 0)""",
        bucket,
    )
    out.update(
        {
            (
                r["unit_code"],
                f"report:{r['field']}:{r['procedure_code']}:{r['channel']}",
                r["_time"].isoformat(),
                r["_field"],
            ): r["_value"]
            for r in report
        }
    )
    # citizen feedback's daily flows (feedback_flows), the stocks of criteria 5.2 and 5.3: likewise
    feedback = flux(
        settings,
        """from(bucket: "BUCKET") |> range(start: 0)
        |> filter(fn: (r) => r._measurement == "feedback_flows" and r._value != 0)""",
        bucket,
    )
    for r in feedback:  # summed over a unit's series (its tags may have gained a district_code)
        k = (r["unit_code"], "feedback_flows", r["_time"].isoformat(), r["_field"])
        out[k] = out.get(k, 0) + r["_value"]
    return out


def alerts_in(settings, bucket: str) -> set:
    """(unit, dossier, kind, alert instant, late_seconds) of every dossier_alerts point. The dossier
    is a field: one row per point after the pivot. The point time is the instant to the millisecond
    plus nanoseconds that keep a unit's alerts of one millisecond apart: compared to the millisecond."""
    rows = flux(
        settings,
        """from(bucket: "BUCKET") |> range(start: 0)
        |> filter(fn: (r) => r._measurement == "dossier_alerts")
        |> filter(fn: (r) => r._field == "late_seconds" or r._field == "dossier_id")
        |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")""",
        bucket,
    )
    return {
        (r["unit_code"], r["dossier_id"], r["kind"], _to_ms(r["_time"]).isoformat(), r["late_seconds"]) for r in rows
    }


def _to_ms(t):
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


def assert_same(a: dict, b: dict, what: str, logs: list[Path] = ()) -> None:
    """Same points with the same values; on failure the message ends with the workers' log tails."""
    assert a, f"{what}: the reference run wrote nothing"
    missing = a.keys() - b.keys()
    extra = b.keys() - a.keys()
    diff = {k: (a[k], b[k]) for k in a.keys() & b.keys() if a[k] != b[k]}
    assert not missing and not extra and not diff, (
        f"{what}: {len(missing)} points missing, {len(extra)} extra, {len(diff)} different; e.g. "
        f"missing={sorted(missing)[:3]} extra={sorted(extra)[:3]} diff={list(diff.items())[:3]}\n"
        + "\n".join(_tail(log, 3000) for log in logs)
    )


# ---------------------------------------------------------------------------------------------
def _sum(
    settings,
    bucket,
    predicate: str,
    field: str,
    window: str = "report_year",
    start: str = "2021-12-01T00:00:00Z",
    stop: str = "2022-12-31T00:00:00Z",
) -> int:
    rows = flux(
        settings,
        f'''from(bucket: "BUCKET") |> range(start: {start}, stop: {stop})
        |> filter(fn: (r) => r._measurement == "unit_rates" and r.window == "{window}" and r._field == "{field}")
        |> filter(fn: (r) => {predicate})
        |> group() |> sum()''',
        bucket,
    )
    return int(rows[0]["_value"]) if rows else 0


def test_mytho_2022_report_figures(pipeline_influx):
    """DOMAIN.md: city desk 3,671 of 3,739 on time (98.2%); city-wide 20,255 on time, 99.66% over resolved;
    13,200 digitally signed documents; 34 meetings, all without interruption."""
    s, b = pipeline_influx.settings, pipeline_influx.bucket
    desk = 'r.unit_code == "815"'
    desk_resolved = _sum(s, b, desk, "resolved")
    desk_on_time = _sum(s, b, desk, "resolved_early") + _sum(s, b, desk, "resolved_on_time")
    assert (desk_resolved, desk_on_time) == (3739, 3671)
    assert round(100 * desk_on_time / desk_resolved, 1) == 98.2
    assert _sum(s, b, desk, "received") == 4121

    city = 'r.district_code == "815"'
    resolved = _sum(s, b, city, "resolved")
    on_time = _sum(s, b, city, "resolved_early") + _sum(s, b, city, "resolved_on_time")
    assert on_time == 20255
    assert round(100 * on_time / resolved, 2) == 99.66
    assert _sum(s, b, city, "received") == 20742
    assert resolved == _sum(s, b, city, "resolved_early") + _sum(s, b, city, "resolved_on_time") + _sum(
        s, b, city, "resolved_late"
    )

    assert _sum(s, b, city, "documents_signed") == 13200
    assert _sum(s, b, city, "meetings_held") == 34
    assert _sum(s, b, city, "meetings_uninterrupted") == 34

    # the rate field written by the worker is the same ratio (desk, one unit)
    rate = flux(
        s,
        """from(bucket: "BUCKET") |> range(start: 2021-12-01T00:00:00Z, stop: 2022-12-31T00:00:00Z)
        |> filter(fn: (r) => r._measurement == "unit_rates" and r.window == "report_year" and r.unit_code == "815"
                  and r._field == "on_time_rate")""",
        b,
    )
    assert len(rate) == 1 and abs(rate[0]["_value"] - 3671 / 3739) < 1e-12


def test_report_periods_add_up_to_the_report_year(pipeline_influx):
    """Report months, quarters and halves (Decree 09/2019, from the 15th) tile report year 2022
    (15/12/2021-14/12/2022): their counts add up to the year's, for the city desk and city-wide."""
    s, b = pipeline_influx.settings, pipeline_influx.bucket
    # point times are period starts: 15 Dec 2021 00:00 +07:00 up to (not including) 15 Dec 2022
    span = {"start": "2021-12-14T17:00:00Z", "stop": "2022-12-14T17:00:00Z"}
    for predicate in ('r.unit_code == "815"', 'r.district_code == "815"'):
        for field in (
            "received",
            "resolved",
            "resolved_early",
            "resolved_on_time",
            "resolved_late",
            "documents_signed",
            "meetings_held",
        ):
            year = _sum(s, b, predicate, field, window="report_year", **span)
            for window in ("report_month", "report_quarter", "report_half"):
                assert _sum(s, b, predicate, field, window=window, **span) == year, (predicate, field, window)
    assert _sum(s, b, 'r.unit_code == "815"', "received", window="report_year", **span) == 4121
    halves = flux(
        s,
        """from(bucket: "BUCKET") |> range(start: 2021-12-01T00:00:00Z, stop: 2022-12-31T00:00:00Z)
        |> filter(fn: (r) => r._measurement == "unit_rates" and r.window == "report_half" and r.unit_code == "815"
                  and r._field == "received")""",
        b,
    )
    assert sorted(r["_time"].isoformat() for r in halves) == ["2021-12-14T17:00:00+00:00", "2022-06-14T17:00:00+00:00"]


# ---------------------------------------------------------------------------------------------
def _read_topic(settings, short: str) -> dict[int, list]:
    """All events of a topic by partition, in offset order: {partition: [(offset, event)]}."""
    from kafka import KafkaConsumer, TopicPartition

    from schemas import parse_event

    topic = settings.topic(short)
    c = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, enable_auto_commit=False)
    parts = [TopicPartition(topic, p) for p in c.partitions_for_topic(topic)]
    c.assign(parts)
    c.seek_to_beginning(*parts)
    end = c.end_offsets(parts)
    out: dict[int, list] = {tp.partition: [] for tp in parts}
    while any(c.position(tp) < end[tp] for tp in parts):
        for tp, msgs in c.poll(timeout_ms=2000, max_records=50000).items():
            out[tp.partition].extend((m.offset, parse_event(m.value)) for m in msgs)
    c.close()
    return out


def expected_alerts(settings) -> set:
    """Brute force from the dossier topic: which dossiers deserve which alert, at what instant.

    Within a partition (read in offset order, event time non-decreasing), an alert with trigger T,
    scheduled when its due date came into force at event index j, is decided on the dossier's state
    after event index max(j, last index with time <= T); it fires if the dossier is then open with
    that due date (due soon / overdue) or went late without an apology (apology missing).
    """
    from common.calendar import subtract_working_days
    from schemas import events as ev
    from streams.domain.windows import to_ms

    grace_ms = int(settings.apology_grace.total_seconds() * 1000)
    lead = settings.due_soon_lead_working_days
    expected = set()
    for partition, items in _read_topic(settings, "dossier-events").items():
        times = [to_ms(e.event_time()) for _, e in items]
        assert times == sorted(times), f"partition {partition} is not in event-time order"
        by_dossier: dict[tuple, list] = {}
        for idx, (_, e) in enumerate(items):
            if hasattr(e, "dossier_id") and not isinstance(e, ev.SatisfactionRated):
                by_dossier.setdefault((e.unit_key, e.dossier_id), []).append((idx, e))
        for (unit, dossier_id), evs in by_dossier.items():
            rcv = next((e for _, e in evs if isinstance(e, ev.DossierReceived)), None)
            if rcv is None:
                continue
            received = to_ms(rcv.received_at)
            in_force = [
                (i, to_ms(e.due_at if isinstance(e, ev.DossierReceived) else e.new_due_at))
                for i, e in evs
                if isinstance(e, (ev.DossierReceived, ev.SupplementRequested))
            ]

            def state(upto: int, evs=evs, rcv=rcv):  # this dossier's, called in this iteration
                seen = [e for i, e in evs if i <= upto]
                due = None
                sups = sorted(
                    (to_ms(e.requested_at), str(e.event_id), to_ms(e.new_due_at))
                    for e in seen
                    if isinstance(e, ev.SupplementRequested)
                )
                if any(isinstance(e, ev.DossierReceived) for e in seen):
                    due = sups[-1][2] if sups else to_ms(rcv.due_at)
                closed = any(isinstance(e, (ev.DossierResolved, ev.DossierWithdrawn, ev.DossierRefused)) for e in seen)
                res = [to_ms(e.resolved_at) for e in seen if isinstance(e, ev.DossierResolved)]
                apology = any(isinstance(e, ev.ApologyIssued) for e in seen)
                return due, closed, (res[0] if res else None), apology

            entries = []
            for j, due in in_force:
                if lead > 0:
                    from streams.domain.windows import from_ms

                    soon = to_ms(subtract_working_days(from_ms(due), lead))
                    if soon > received:
                        entries.append((soon, j, "dossier_due_soon", due))
                entries.append((due, j, "dossier_overdue", due))
                entries.append((due + grace_ms, j, "apology_missing", due))
            fired_kinds = set()
            for trigger, j, kind, due in sorted(entries):
                if kind in fired_kinds:
                    continue
                k = bisect.bisect_right(times, trigger)  # first index with time > trigger
                if k >= len(times):
                    continue  # the clock never passed the trigger
                cur_due, closed, resolved_at, apology = state(max(j, k - 1))
                if cur_due != due:
                    continue
                if kind == "apology_missing":
                    went_late = (not closed) or (resolved_at is not None and resolved_at > due)
                    if not went_late or apology:
                        continue
                elif closed:
                    continue
                fired_kinds.add(kind)
                from streams.domain.windows import from_ms

                expected.add((unit, dossier_id, kind, from_ms(trigger).isoformat(), (trigger - due) // 1000))
    return expected


def test_alerts_fire_exactly_for_dossiers_that_deserve_them(pipeline_influx):
    s, b = pipeline_influx.settings, pipeline_influx.bucket
    got = alerts_in(s, b)
    want = expected_alerts(s)
    kinds = {k for _, _, k, _, _ in want}
    assert {"dossier_overdue", "dossier_due_soon"} <= kinds, "the scenario should leave some dossiers late"
    assert got == want, f"{len(want - got)} missing, {len(got - want)} unexpected; e.g. {sorted(want ^ got)[:5]}"


def test_alerts_topic_has_each_alert_once(pipeline_influx):
    """The alerts topic as the pipeline's worker left it, read by the fixture before other tests run
    workers of other app ids on the same topics (each of those sends its own copy of every alert:
    with the reliability tests first, the topic held every alert twice)."""
    s = pipeline_influx.settings
    ids = pipeline_influx.alert_ids
    assert ids and len(ids) == len(set(ids))
    assert len(ids) == len(alerts_in(s, pipeline_influx.bucket))


# ---------------------------------------------------------------------------------------------
def test_malformed_events_go_to_dead_letter_and_the_rest_is_processed(services):
    import orjson
    from kafka import KafkaConsumer, KafkaProducer

    from schemas import dump_event, parse_event

    s = make_settings()
    run_govpulse(["topics", "create"], s)
    p = KafkaProducer(bootstrap_servers=s.kafka_bootstrap_servers, acks="all")
    good = []
    for i in range(30):
        e = parse_event(
            {
                "event_id": str(uuid.uuid4()),
                "event_type": "document.issued",
                "source_system": "qlvb",
                "occurred_at": f"2022-05-{i % 28 + 1:02d}T09:00:00+07:00",
                "province_code": "82",
                "ward_code": "28261",
                "document_id": f"VB-{i}",
                "issued_at": f"2022-05-{i % 28 + 1:02d}T09:00:00+07:00",
                "digitally_signed": i % 3 != 0,
                **({"certificate_kind": "organisation"} if i % 3 else {}),
            }
        )
        good.append(e)
    bad = [
        (b"28261", b"{not json"),
        (b"28261", orjson.dumps({"event_type": "document.issued", "event_id": "nope"})),
        (b"28261", b"\xff\xfe\x00binary"),
        (b"99999", dump_event(good[0])),  # wrong key: would put the unit's state in the wrong partition
    ]
    for i, e in enumerate(good):
        p.send(s.topic("document-events"), key=b"28261", value=dump_event(e))
        if i % 10 == 5:
            k, v = bad.pop()
            p.send(s.topic("document-events"), key=k, value=v)
    for k, v in bad:
        p.send(s.topic("document-events"), key=k, value=v)
    p.flush()
    run_worker(s)
    c = KafkaConsumer(
        s.topic("dead-letter"),
        bootstrap_servers=s.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        consumer_timeout_ms=5000,
    )
    dead = [orjson.loads(m.value) for m in c]
    c.close()
    assert len(dead) == 4
    kinds = sorted(d["reason_kind"] for d in dead)
    assert kinds == ["invalid_event", "invalid_event", "invalid_event", "wrong_key"]
    for d in dead:
        assert d["source"]["topic"] == s.topic("document-events") and d["source"]["offset"] >= 0
        assert d["errors"] and d["reason"]
    schema_error = next(d for d in dead if "event_id" in d["reason"])
    assert {e["field"] for e in schema_error["errors"]} >= {"event_id", "document_id"}
    binary = next(d for d in dead if d["raw_encoding"] == "base64")
    import base64

    assert base64.b64decode(binary["raw"]) == b"\xff\xfe\x00binary"
    issued = _sum(s, s.influx_bucket, 'r.unit_code == "28261"', "documents_issued", window="year")
    signed = _sum(s, s.influx_bucket, 'r.unit_code == "28261"', "documents_signed", window="year")
    assert (issued, signed) == (30, sum(1 for e in good if e.digitally_signed))
    dl = flux(
        s,
        """from(bucket: "BUCKET") |> range(start: 0) |> filter(fn: (r) => r._measurement == "pipeline_health"
        and r._field == "dead_letters") |> last()""",
    )
    assert [r["_value"] for r in dl] == [4]


# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def reference(pipeline_influx):
    s = pipeline_influx.settings
    return figures(s, pipeline_influx.bucket), alerts_in(s, pipeline_influx.bucket)


def test_duplicated_and_shuffled_input_gives_the_same_figures(reference, services):
    run = run_pipeline("mytho_2022.yaml", disorder="duplicates=0.05,late=0.05,max_delay=3d")
    assert_same(reference[0], figures(run.settings, run.bucket), "disordered input")


def test_replay_into_a_second_bucket_equals_the_live_bucket(pipeline_influx, reference):
    s = pipeline_influx.settings
    bucket = unique("replay")
    run_worker(s, bucket=bucket, app_id=f"{s.app_id}-replay", replay=True)
    assert_same(reference[0], figures(s, bucket), "replay")
    assert alerts_in(s, bucket) == reference[1]


def _spawn_worker(
    settings,
    bucket: str,
    app_id: str,
    until_idle: float | None,
    log: Path,
    loglevel: str = "info",
    env: dict | None = None,
    web_port: int | None = None,
):
    """Start a worker whose output goes to ``log``. A file, not a pipe: a pipe nobody reads while
    the worker runs fills up and blocks the worker's event loop mid-write (heartbeats stop, the
    group evicts it), which is not the situation these tests are about."""
    from tests.conftest import _free_port

    args = [
        *GOVPULSE,
        "worker",
        "--bucket",
        bucket,
        "--app-id",
        app_id,
        "--web-port",
        str(_free_port() if web_port is None else web_port),
        "--loglevel",
        loglevel,
    ]
    if until_idle:
        args += ["--until-idle", str(until_idle)]
    with open(log, "w") as out:
        return subprocess.Popen(
            args, cwd=REPO, env=env or settings_env(settings), stdout=out, stderr=subprocess.STDOUT, text=True
        )


def _tail(log: Path, n: int = 6000) -> str:
    return f"--- {log.name} ---\n" + log.read_text(errors="replace")[-n:]


def _wait_workers(workers: list[subprocess.Popen], logs: list[Path], timeout: float = 600) -> list[int | None]:
    """Wait for ``workers`` to end (within ``timeout`` seconds in all, below the test's own time
    limit). One that hangs is asked what each of its asyncio tasks waits for (SIGUSR2, see
    streams/task_stacks.py) and stopped, and the failure shows that with its log."""
    deadline = time.monotonic() + timeout
    hung: list[str] = []
    for w, log in zip(workers, logs, strict=True):
        try:
            w.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            w.send_signal(signal.SIGUSR2)
            time.sleep(3)
            w.kill()
            w.wait(timeout=30)
            hung.append(_tail(log, 40_000))
    assert not hung, f"{len(hung)} worker(s) did not end within {timeout:.0f} s:\n" + "\n".join(hung)
    return [w.returncode for w in workers]


def test_three_workers_write_the_same_figures_as_one(pipeline_influx, reference, tmp_path):
    """Workers in one group split the partitions. Three, not two: Mỹ Tho's busy units sit in
    partitions 1 and 3, and Faust gives two workers the even and the odd partitions, so one of
    two workers would have nothing to do; three get {0, 3}, {1, 4}, {2, 5}."""
    import re

    s = pipeline_influx.settings
    bucket, app_id = unique("three"), f"{s.app_id}-three"
    logs = [tmp_path / f"worker-{i}.log" for i in range(3)]
    workers = [_spawn_worker(s, bucket, app_id, until_idle=8, log=log) for log in logs]
    _wait_workers(workers, logs)
    outputs = [log.read_text(errors="replace") for log in logs]
    assert [w.returncode for w in workers] == [0, 0, 0], "\n".join(_tail(log) for log in logs)
    handled = [
        int(m.group(1))
        for out in outputs
        for m in [re.search(r"stopping \(--until-idle\) after (\d+) events", out)]
        if m
    ]
    assert len(handled) == 3, "each worker should report how many events it handled"
    assert sum(1 for n in handled if n > 0) >= 2, f"the work was not shared: events per worker {handled}"
    assert_same(reference[0], figures(s, bucket), "three workers", logs)
    assert alerts_in(s, bucket) == reference[1]


def test_workers_joining_and_leaving_mid_stream_write_the_same_figures(pipeline_influx, reference, tmp_path):
    """One worker processes the stream while a second one joins and leaves the group again and
    again: every rebalance hands partitions back and forth, and the partitions the first worker
    keeps are sought back to their committed offsets. Around exactly these seeks Faust used to lose
    records (a stale prefetched record moving its read offset; the first record after a resume
    never reaching the agent, then a commit past it): this run lost events before the offset
    fence and the worker's own ordering and commit limit (streams/kafka/: fence.py, checkpoint.py)."""
    s = pipeline_influx.settings
    bucket, app_id = unique("churn"), f"{s.app_id}-churn"
    logs = [tmp_path / "steady.log"]
    steady = _spawn_worker(s, bucket, app_id, until_idle=10, log=logs[0])
    try:
        time.sleep(6)
        for i in range(5):
            logs.append(tmp_path / f"visitor-{i}.log")
            visitor = _spawn_worker(s, bucket, app_id, until_idle=None, log=logs[-1])
            time.sleep(9)
            visitor.send_signal(signal.SIGTERM)  # leaves the group: another rebalance
            assert visitor.wait(timeout=120) == 0, _tail(logs[-1])
            time.sleep(3)
            if steady.poll() is not None:
                break
        assert _wait_workers([steady], logs[:1], timeout=600) == [0], _tail(logs[0])
    finally:
        if steady.poll() is None:
            steady.kill()
    rebalances = logs[0].read_text(errors="replace").count("rebuilt aggregates")
    assert rebalances >= 3, f"the steady worker should have gone through several rebalances, saw {rebalances}"
    assert_same(reference[0], figures(s, bucket), "workers joining and leaving", logs)
    assert alerts_in(s, bucket) == reference[1]


def test_worker_killed_mid_stream_ends_with_the_same_figures(pipeline_influx, reference, tmp_path):
    s = pipeline_influx.settings
    bucket, app_id = unique("crash"), f"{s.app_id}-crash"
    logs = [tmp_path / "killed.log", tmp_path / "restarted.log"]
    w = _spawn_worker(s, bucket, app_id, until_idle=None, log=logs[0])
    try:
        # let it commit offsets and table changelog for part of the stream, then kill it hard
        try:
            wait_for(
                lambda: flux(
                    s,
                    """from(bucket: "BUCKET") |> range(start: 0)
                |> filter(fn: (r) => r._measurement == "pipeline_health" and r._field == "events_total")
                |> filter(fn: (r) => r._value > 20000)""",
                    bucket,
                ),
                timeout=300,
                interval=1,
                what="progress",
            )
        except AssertionError as e:
            raise AssertionError(f"{e}\n{_tail(logs[0])}") from None
    finally:
        w.send_signal(signal.SIGKILL)
        w.wait(timeout=30)
    partial = figures(s, bucket)
    assert partial != reference[0], "the worker should have been killed before finishing"
    r = _spawn_worker(s, bucket, app_id, until_idle=4, log=logs[1])
    assert _wait_workers([r], logs[1:], timeout=600) == [0], _tail(logs[1])
    assert_same(reference[0], figures(s, bucket), "crash and restart", logs)
    assert alerts_in(s, bucket) == reference[1]


def test_worker_rides_out_an_influxdb_outage(pipeline_influx, reference, tmp_path_factory):
    """InfluxDB stops mid-stream: the worker keeps consuming (points stay pending), does not die,
    and once InfluxDB is back it writes everything: the same figures as an uninterrupted run."""
    from common.settings import Settings
    from govpulse.services import InfluxService
    from tests.conftest import _free_port

    real = Settings()
    home = tmp_path_factory.mktemp("influx-outage")
    (home / "influxdb").mkdir()
    os.symlink(real.home / "influxdb" / real.influx_version, home / "influxdb" / real.influx_version)
    iso = Settings(home=home, influx_url=f"http://127.0.0.1:{_free_port()}")
    influx = InfluxService(iso)
    influx.start(timeout=120)
    try:
        s = pipeline_influx.settings
        bucket, app_id = unique("outage"), f"{s.app_id}-outage"
        env = settings_env(s)
        env.update(
            GOVPULSE_INFLUX_URL=iso.influx_url,
            GOVPULSE_INFLUX_TOKEN=iso.resolve_influx_token(),
            GOVPULSE_INFLUX_BUCKET=bucket,
            GOVPULSE_APP_ID=app_id,
        )
        log = tmp_path_factory.mktemp("outage-logs") / "worker.log"
        w = _spawn_worker(s, bucket, app_id, until_idle=8, log=log, env=env, web_port=0)
        try:
            wait_for(
                lambda: flux(
                    iso,
                    """from(bucket: "BUCKET") |> range(start: 0)
                |> filter(fn: (r) => r._measurement == "pipeline_health" and r._field == "events_total")
                |> filter(fn: (r) => r._value > 10000)""",
                    bucket,
                ),
                timeout=300,
                interval=1,
                what="progress",
            )
            influx.stop()
            time.sleep(15)
            assert w.poll() is None, "the worker must not die while InfluxDB is down\n" + _tail(log)
            influx.start(timeout=120)
            _wait_workers([w], [log], timeout=600)
        finally:
            if w.poll() is None:
                w.kill()
        out = log.read_text(errors="replace")
        assert w.returncode == 0, out[-3000:]
        assert "InfluxDB write failed" in out or "keeping" in out, "the outage should have been noticed"
        assert_same(reference[0], figures(iso, bucket), "InfluxDB outage")
        assert alerts_in(iso, bucket) == reference[1]
    finally:
        influx.stop()


def test_alerts_tail_shows_the_alerts(pipeline_influx):
    s = pipeline_influx.settings
    out = run_govpulse(
        ["alerts", "tail", "--from-beginning", "--limit", "5", "--timeout", "15"], s, extra_env={"COLUMNS": "300"}
    ).stdout
    lines = [line for line in out.splitlines() if "hồ sơ" in line]
    assert len(lines) == 5, out
    assert all(any(k in line for k in ("dossier_overdue", "dossier_due_soon", "apology_missing")) for line in lines)


def test_rocksdb_table_store_gives_the_same_figures(pipeline_influx, reference):
    """GOVPULSE_TABLE_STORE=rocksdb:// (state on disk, for large deployments) writes the same figures."""
    s = pipeline_influx.settings
    bucket, app_id = unique("rocks"), f"{s.app_id}-rocks"
    run_govpulse(
        ["worker", "--until-idle", "4", "--web-port", "0", "--bucket", bucket, "--app-id", app_id],
        s,
        extra_env={"GOVPULSE_TABLE_STORE": "rocksdb://"},
    )
    assert (s.home / "worker" / app_id).exists()
    assert_same(reference[0], figures(s, bucket), "rocksdb store")
    assert alerts_in(s, bucket) == reference[1]
