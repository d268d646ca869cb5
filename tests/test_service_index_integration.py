"""The Decision 766 index on the real pipeline: Mỹ Tho 2022 → Kafka → worker → InfluxDB → `govpulse index`
(a subprocess, as a person runs it) → the service_index points, checked against the same criteria computed
here, by another road, from the dossier events read back from Kafka; then the dashboards' index panels."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from common.calendar import LOCAL_TIMEZONE
from reports.periods import months_of, parse_period
from streams.domain.windows import LocalCalendar
from tests.conftest import flux, run_govpulse
from tests.test_pipeline_integration import _read_topic

pytestmark = pytest.mark.integration

CAL = LocalCalendar.for_zone()
DISTRICT = "815"  # Mỹ Tho city: its desk and its wards
WEIGHTS = {  # a user's weights file: 2.1 proportional, 3.3 with F's 50 % rule, 3.6 and 4.1 with their own
    "criteria": {
        "2.1": {"points": 20, "full_at": 1.0},
        "3.3": {"points": 8},
        "3.6": {"points": 6, "full_at": 0.8},
        "4.1": {"points": 8, "full_at": 0.9},
    }
}


def _events_by_dossier(settings):
    """Dossier events of the district read back from Kafka, deduplicated, by (unit, dossier)."""
    from schemas import events as ev

    seen: set = set()
    dossiers: dict[tuple, dict] = defaultdict(dict)
    supplements: dict[tuple, list] = defaultdict(list)
    ratings: list = []
    feedback: dict[str, dict] = defaultdict(dict)  # feedback id -> event type -> event
    for items in _read_topic(settings, "dossier-events").values():
        for _offset, e in items:
            if e.event_id in seen or not (e.unit_key == DISTRICT or e.district_code == DISTRICT):
                continue
            seen.add(e.event_id)
            if isinstance(e, ev.SatisfactionRated):
                ratings.append(e)
            elif isinstance(e, (ev.FeedbackReceived, ev.FeedbackHandled, ev.FeedbackRated)):
                feedback[e.feedback_id][type(e)] = e
            elif isinstance(e, ev.SupplementRequested):
                supplements[(e.unit_key, e.dossier_id)].append(e)
            elif isinstance(e, (ev.DossierReceived, ev.DossierResolved, ev.DossierWithdrawn, ev.DossierRefused)):
                dossiers[(e.unit_key, e.dossier_id)].setdefault(type(e), e)
    return dossiers, supplements, ratings, feedback


def expected_counts(settings, start: datetime, stop: datetime) -> dict[str, int]:
    """The criteria's counts over [start, stop) from the events: receptions, closures (the resolution if any,
    else the withdrawal, else the refusal, never before the reception), open dossiers at ``stop`` and whether
    their due date then in force (the last supplement request's, else the reception's) has passed."""
    from schemas import events as ev

    dossiers, supplements, ratings, feedback = _events_by_dossier(settings)
    n: dict[str, int] = defaultdict(int)
    local = ZoneInfo(LOCAL_TIMEZONE)
    for key, evs in dossiers.items():
        rcv, res = evs.get(ev.DossierReceived), evs.get(ev.DossierResolved)
        if rcv is None and res is None:
            continue
        received_at = rcv.received_at if rcv else res.received_at
        if start <= received_at < stop:
            n["received"] += 1
            channel = rcv.channel if rcv else res.channel
            n["received_online"] += channel is not None and channel.value == "online"
        closure = res or evs.get(ev.DossierWithdrawn) or evs.get(ev.DossierRefused)
        closed_at = None
        if closure is not None:
            at = {ev.DossierResolved: "resolved_at", ev.DossierWithdrawn: "withdrawn_at"}.get(
                type(closure), "refused_at"
            )
            closed_at = max(getattr(closure, at), received_at)
        if res is not None and start <= closed_at < stop:
            n["resolved"] += 1
            if res.resolved_at > res.due_at:
                n["late"] += 1
            else:
                n["in_time"] += 1
                assert res.resolved_at.astimezone(local).date() <= res.due_at.astimezone(local).date()
        if res is not None and start <= res.resolved_at < stop:  # the window counts at the resolution's time
            n["window_resolved"] += 1
            n["digitised"] += res.result_digitised
            n["fee"] += res.fee_paid_online is not None
            n["paid_online"] += bool(res.fee_paid_online)
        if received_at < stop and (closed_at is None or closed_at >= stop):
            n["in_process"] += 1
            due = rcv.due_at if rcv else res.due_at
            earlier = sorted((s for s in supplements[key] if s.requested_at < stop), key=lambda s: s.requested_at)
            if rcv is not None and earlier:
                due = earlier[-1].new_due_at
            n["overdue"] += due < stop
    for items in feedback.values():
        fb_rcv, handled, rated = (
            items.get(ev.FeedbackReceived),
            items.get(ev.FeedbackHandled),
            items.get(ev.FeedbackRated),
        )
        if handled is not None and start <= handled.handled_at < stop:
            n["feedback_handled"] += 1
            n["feedback_late"] += handled.handled_at > handled.due_at
        # open at the period's end: received before it, not handled by then; overdue if its due date (the
        # reception's) had passed at the period's last millisecond
        if fb_rcv is not None or handled is not None:
            fb_received_at = fb_rcv.received_at if fb_rcv else handled.received_at
            fb_due = fb_rcv.due_at if fb_rcv else handled.due_at
            if fb_received_at < stop and (handled is None or max(handled.handled_at, fb_received_at) >= stop):
                n["feedback_open"] += 1
                n["feedback_open_overdue"] += fb_due + timedelta(milliseconds=1) < stop
        if rated is not None and start <= rated.rated_at < stop:
            n["feedback_unsatisfied"] += rated.rating.value == "unsatisfied"
    n["unsatisfied"] = sum(1 for r in ratings if start <= r.rated_at < stop and r.rating.value == "unsatisfied")
    return n


def _points(settings, bucket: str, scope: str, unit: str, window: str) -> dict[str, dict]:
    rows = flux(
        settings,
        f'''from(bucket: "BUCKET") |> range(start: 0)
        |> filter(fn: (r) => r._measurement == "service_index" and r.scope == "{scope}" and r.unit_code == "{unit}"
                  and r.window == "{window}")''',
        bucket,
    )
    out: dict[str, dict] = defaultdict(dict)
    for r in rows:
        out[r["criterion"] if r["criterion"] != "group" else f"group {r['group']}"][r["_field"]] = r["_value"]
    return out


@pytest.fixture(scope="module")
def written(pipeline_influx, tmp_path_factory):
    """`govpulse index` for the city (roll-up) over report year 2022, with a weights file and a figures file."""
    d: Path = tmp_path_factory.mktemp("index")
    weights = d / "weights.yaml"
    weights.write_text(json.dumps(WEIGHTS), encoding="utf-8")  # JSON is YAML
    figures = d / "figures.csv"
    months = [f"report_month:{mo.label}" for mo in months_of(parse_period("report_year:2022", CAL), CAL)]
    figures.write_text(
        "unit_code,period,criterion,numerator,denominator,source\n"
        + "".join(f"815,{m},1.2,{9 if i % 2 else 10},10,CSDL quốc gia về TTHC\n" for i, m in enumerate(months)),
        encoding="utf-8",
    )
    s = pipeline_influx.settings
    proc = run_govpulse(
        ["index", "--unit", DISTRICT, "--period", "report_year:2022", "--rollup", "district", "--each-month",
         "--weights", str(weights), "--figures", str(figures), "--bucket", pipeline_influx.bucket],
        s,
    )  # fmt: skip
    return pipeline_influx, proc.stdout


def test_the_city_index_is_the_events_criteria(written):
    pipeline, stdout = written
    s, b = pipeline.settings, pipeline.bucket
    year = parse_period("report_year:2022", CAL)
    start, stop = (datetime.fromtimestamp(t / 1000, tz=UTC) for t in (year.start_ms, year.end_ms))
    n = expected_counts(s, start, stop)
    # DOMAIN.md: city-wide 20,742 received, 20,324 resolved, 20,255 on time or early
    assert (n["received"], n["resolved"], n["in_time"]) == (20742, 20324, 20255)
    got = _points(s, b, "district", DISTRICT, "report_year")
    handled = n["resolved"] + n["in_process"]
    expect = {
        "2.1": (n["in_time"] + n["in_process"] - n["overdue"], handled),
        "3.3": (n["received_online"], n["received"]),
        "3.6": (n["paid_online"], n["fee"]),
        "4.1": (n["digitised"], n["window_resolved"]),
        "5.4": (max(0, handled - n["late"] - n["overdue"] - n["unsatisfied"]), handled),
        # citizen feedback: Mỹ Tho's city desk handled 16 items (DOMAIN.md); every item in the competence,
        # the ones still open at the period's end within due counting as on time
        "5.2": (
            n["feedback_handled"] - n["feedback_late"] + n["feedback_open"] - n["feedback_open_overdue"],
            n["feedback_handled"] + n["feedback_open"],
        ),
        "5.3": (
            max(
                0,
                n["feedback_handled"]
                + n["feedback_open"]
                - n["feedback_late"]
                - n["feedback_open_overdue"]
                - n["feedback_unsatisfied"],
            ),
            n["feedback_handled"] + n["feedback_open"],
        ),
    }
    assert n["feedback_handled"] == 16
    for cid, (num, den) in expect.items():
        assert (got[cid]["numerator"], got[cid]["denominator"]) == (num, den), cid
        assert got[cid]["value"] == pytest.approx(num / den), cid
    # the scores, by the rule min(1, value / full_at) × points, written out here
    rule = {"2.1": (20, 1.0), "3.3": (8, 0.5), "3.6": (6, 0.8), "4.1": (8, 0.9), "5.4": (6, 0.9)}
    for cid, (points, full_at) in rule.items():
        num, den = expect[cid]
        assert got[cid]["score"] == pytest.approx(points * min(1.0, num / den / full_at)), cid
        assert got[cid]["status"] == "scored" and got[cid]["max"] == points
    # 1.2: the supplied monthly figures summed over the year (12 months: six of 10/10, six of 9/10), 4 points
    # sourced but no published rule: a value, not scored
    assert (got["1.2"]["numerator"], got["1.2"]["denominator"]) == (114, 120)
    assert got["1.2"]["status"] == "not scored" and "score" not in got["1.2"]
    # criteria nobody supplied: missing, no value, no score
    assert got["5.1"]["status"] == "missing" and "value" not in got["5.1"]
    assert got["5.2"]["status"] == "not scored" and got["5.3"]["status"] == "not scored"  # no points published
    # group 2 = 2.1's score; the total adds the groups; scored_max = the scored criteria's points
    assert got["group 2"]["score"] == pytest.approx(got["2.1"]["score"])
    groups = sum(got[f"group {g}"]["score"] for g in range(1, 6))
    assert got["total"]["score"] == pytest.approx(groups)
    assert got["total"]["scored_max"] == 20 + 8 + 6 + 8 + 6
    assert "Tổng điểm" in stdout and "wrote" in stdout
    print({cid: round(got[cid]["value"], 4) for cid in expect}, round(got["total"]["score"], 2))


def test_the_units_sum_to_the_city_and_are_ranked(written):
    pipeline, _ = written
    s, b = pipeline.settings, pipeline.bucket
    units = flux(
        s,
        """from(bucket: "BUCKET") |> range(start: 0)
        |> filter(fn: (r) => r._measurement == "service_index" and r.scope == "unit" and r.window == "report_year"
                  and (r._field == "numerator" or r._field == "denominator"))""",
        b,
    )
    assert len({r["unit_code"] for r in units}) == 6  # the desk and the five wards
    city = _points(s, b, "district", DISTRICT, "report_year")
    for cid in ("2.1", "3.3", "3.6", "4.1"):
        for f in ("numerator", "denominator"):
            assert sum(r["_value"] for r in units if r["criterion"] == cid and r["_field"] == f) == city[cid][f]


def test_the_dashboard_panels_show_the_written_index(written):
    """The index panels of the generated JSON, as Grafana sends them, on this bucket."""
    from tests.test_dashboard_queries import Influx, _panel_query

    pipeline, _ = written
    db = Influx(pipeline.settings)
    try:
        year = parse_period("report_year:2022", CAL)
        start = datetime.fromtimestamp(year.start_ms / 1000, tz=UTC)
        stop = datetime.fromtimestamp(year.end_ms / 1000, tz=UTC)
        rows = db.grafana(
            _panel_query("unit-detail.json", "Chỉ số phục vụ người dân, doanh nghiệp (Quyết định 766/QĐ-TTg)"),
            start=start,
            stop=stop,
            unit=DISTRICT,
            window="report_year",
        )
        by = {r["criterion"]: r for r in rows}
        desk = _points(pipeline.settings, pipeline.bucket, "unit", DISTRICT, "report_year")
        assert by["2.1"]["value"] == pytest.approx(desk["2.1"]["value"])
        assert by["total"]["score"] == pytest.approx(desk["total"]["score"])
        # where the score goes: the scored criteria losing points, most first, as max - score of the written index
        lost = db.grafana(
            _panel_query("unit-detail.json", "Chỉ số 766: tiêu chí mất nhiều điểm nhất"),
            start=start,
            stop=stop,
            unit=DISTRICT,
            window="report_year",
        )
        want = sorted(
            (
                (p["max"] - p["score"], cid)
                for cid, p in desk.items()
                if "score" in p and cid[0].isdigit() and p["max"] - p["score"] > 1e-9
            ),
            reverse=True,
        )[:5]
        assert len(want) >= 3  # 2.1, 3.3, 3.6 and 4.1 are scored below their maximum with the test's weights
        assert [r["criterion"] for r in lost] == [cid for _, cid in want]
        for r, (points, _) in zip(lost, want, strict=True):
            assert r["lost"] == pytest.approx(points)
        ranking = db.grafana(
            _panel_query("province-overview.json", "Xếp hạng đơn vị theo Chỉ số 766"),
            start=start,
            stop=stop,
            window="report_year",
        )
        assert [r["rank"] for r in ranking] == list(range(1, 7))
        scores = [r["score"] for r in ranking]
        assert scores == sorted(scores, reverse=True)
    finally:
        db.client.close()


def test_the_month_by_month_index_and_its_history_panel(written):
    """`--each-month` writes the index of every report month of the year: one month's criteria checked
    against the events of that month, the months' counts adding up to the year's, and the history panel
    showing the total month by month as written."""
    from tests.test_dashboard_queries import Influx, _panel_query

    pipeline, stdout = written
    s, b = pipeline.settings, pipeline.bucket
    year = parse_period("report_year:2022", CAL)
    months = months_of(year, CAL)
    assert len(months) == 12 and "Chỉ số 766 theo tháng" in stdout
    rows = flux(
        s,
        f"""from(bucket: "BUCKET") |> range(start: 0)
        |> filter(fn: (r) => r._measurement == "service_index" and r.scope == "district" and r.unit_code == "{DISTRICT}"
                  and r.window == "report_month")""",
        b,
    )
    by_month: dict[datetime, dict[str, dict]] = defaultdict(lambda: defaultdict(dict))
    for r in rows:
        cid = r["criterion"] if r["criterion"] != "group" else f"group {r['group']}"
        by_month[r["_time"]][cid][r["_field"]] = r["_value"]
    starts = [datetime.fromtimestamp(mo.start_ms / 1000, tz=UTC) for mo in months]
    assert sorted(by_month) == starts
    # flows add up over the months: receptions online and in all (3.3), digitised results (4.1)
    city = _points(s, b, "district", DISTRICT, "report_year")
    for cid in ("3.3", "4.1"):
        for f in ("numerator", "denominator"):
            assert sum(by_month[t][cid].get(f, 0) for t in starts) == city[cid][f], (cid, f)
    # one month recomputed from the events by the test's own road, with the scoring rule written out
    june = next(mo for mo in months if mo.label.endswith("-06"))
    t0, t1 = (datetime.fromtimestamp(ms / 1000, tz=UTC) for ms in (june.start_ms, june.end_ms))
    n = expected_counts(s, t0, t1)
    got = by_month[t0]
    handled = n["resolved"] + n["in_process"]
    num21 = n["in_time"] + n["in_process"] - n["overdue"]
    assert (got["2.1"]["numerator"], got["2.1"]["denominator"]) == (num21, handled)
    assert got["2.1"]["score"] == pytest.approx(20 * min(1.0, num21 / handled))
    assert (got["3.3"]["numerator"], got["3.3"]["denominator"]) == (n["received_online"], n["received"])
    # 5.2 over the month: the feedback handled in it and the items still open at its end (the stock of
    # feedback_flows, read at the month's end); no feedback at all makes it not applicable
    fb_total = n["feedback_handled"] + n["feedback_open"]
    fb_in_time = n["feedback_handled"] - n["feedback_late"] + n["feedback_open"] - n["feedback_open_overdue"]
    if fb_total:
        assert (got["5.2"]["numerator"], got["5.2"]["denominator"]) == (fb_in_time, fb_total)
    else:
        assert got["5.2"]["status"] == "not applicable"
    # the history panel as Grafana sends it, for the desk (a unit): one point per month, the written totals
    desk = flux(
        s,
        f"""from(bucket: "BUCKET") |> range(start: 0)
        |> filter(fn: (r) => r._measurement == "service_index" and r.scope == "unit" and r.unit_code == "{DISTRICT}"
                  and r.window == "report_month" and r.criterion == "total" and r._field == "score")""",
        b,
    )
    db = Influx(s)
    try:
        shown = db.grafana(
            _panel_query("unit-detail.json", "Chỉ số 766 theo tháng"),
            start=starts[0],
            stop=datetime.fromtimestamp(year.end_ms / 1000, tz=UTC),
            unit=DISTRICT,
        )
    finally:
        db.client.close()
    totals = [(r["_time"], r["score"]) for r in shown if r["name"] == "Tổng điểm"]
    assert totals == sorted((r["_time"], r["_value"]) for r in desk) and len(totals) == 12
    assert {r["name"] for r in shown} >= {"Tổng điểm"} and len({r["name"] for r in shown}) == 6  # total + 5 groups
