"""Citizen feedback (phản ánh, kiến nghị) on the real pipeline: simulator → Kafka → worker → InfluxDB.

The feedback rates reach ``unit_rates`` with their counts, and the overdue alerts reach
``feedback_alerts``, as computed independently here from the simulated events."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import yaml

from tests.conftest import flux, make_settings, run_govpulse, run_worker

pytestmark = pytest.mark.integration

FEEDBACK_FIELDS = (
    "feedback_received",
    "feedback_handled",
    "feedback_handled_early",
    "feedback_handled_on_time",
    "feedback_handled_late",
    "feedback_ratings",
    "feedback_ratings_very_satisfied",
    "feedback_ratings_satisfied",
    "feedback_ratings_unsatisfied",
    "feedback_on_time_rate",
    "feedback_satisfaction_rate",
)


def feedback_point(settings, bucket: str, unit: str, window: str = "report_year") -> dict:
    rows = flux(
        settings,
        f'''from(bucket: "BUCKET") |> range(start: 0)
        |> filter(fn: (r) => r._measurement == "unit_rates" and r.window == "{window}" and r.unit_code == "{unit}")
        |> filter(fn: (r) => r._field =~ /^feedback_/)''',
        bucket,
    )
    by_time: dict[datetime, dict] = {}
    for r in rows:
        by_time.setdefault(r["_time"], {})[r["_field"]] = r["_value"]
    (point,) = by_time.values()  # the whole period lies in one report year
    return point


def test_mytho_2022_feedback_rates_in_influxdb(pipeline_influx):
    """The city desk's 16 items, all handled on time (12 early), 8 rated (7 very satisfied, 1 satisfied):
    the scenario's choices (mytho_2022.yaml), through the real worker."""
    p = feedback_point(pipeline_influx.settings, pipeline_influx.bucket, "815")
    assert {f: p[f] for f in FEEDBACK_FIELDS} == {
        "feedback_received": 16,
        "feedback_handled": 16,
        "feedback_handled_early": 12,
        "feedback_handled_on_time": 4,
        "feedback_handled_late": 0,
        "feedback_ratings": 8,
        "feedback_ratings_very_satisfied": 7,
        "feedback_ratings_satisfied": 1,
        "feedback_ratings_unsatisfied": 0,
        "feedback_on_time_rate": 1.0,
        "feedback_satisfaction_rate": 1.0,
    }
    alerts = flux(
        pipeline_influx.settings,
        'from(bucket: "BUCKET") |> range(start: 0) |> filter(fn: (r) => r._measurement == "feedback_alerts")',
        pipeline_influx.bucket,
    )
    assert alerts == []  # none was ever open past its due date


SCENARIO = {
    "name": "feedback_small",
    "seed": 5,
    "period": {"start": "2022-01-10", "end": "2022-06-30"},
    "units": [
        {
            "province_code": "82",
            "ward_code": "28261",
            "feedback": {
                "received": 20,
                "handled": 16,
                "on_time": 12,
                "early": 0.5,
                "open_overdue": 2,
                "days": 10,
                "channels": {"national_portal": 0.5, "hotline": 0.5},
                "subjects": {"procedure_handling": 0.5, "conduct": 0.5},
                "ratings": {"total": 10, "levels": {"very_satisfied": 5, "satisfied": 3, "unsatisfied": 2}},
            },
        }
    ],
}


def test_feedback_rates_and_overdue_alerts_of_a_small_scenario(services, tmp_path):
    from producers.scenario import load_scenario
    from producers.simulator import Simulation

    path = tmp_path / "feedback_small.yaml"
    path.write_text(yaml.safe_dump(SCENARIO, allow_unicode=True), encoding="utf-8")
    settings = make_settings()
    run_govpulse(["simulate", str(path)], settings, timeout=300)
    run_worker(settings, timeout=300)
    bucket = settings.influx_bucket

    # hand-computed from the plan: 12 of 16 handled on time (6 early), 4 late -> 75%; 8 of 10 satisfied -> 80%
    p = feedback_point(settings, bucket, "28261")
    assert {f: p[f] for f in FEEDBACK_FIELDS} == {
        "feedback_received": 20,
        "feedback_handled": 16,
        "feedback_handled_early": 6,
        "feedback_handled_on_time": 6,
        "feedback_handled_late": 4,
        "feedback_ratings": 10,
        "feedback_ratings_very_satisfied": 5,
        "feedback_ratings_satisfied": 3,
        "feedback_ratings_unsatisfied": 2,
        "feedback_on_time_rate": 0.75,
        "feedback_satisfaction_rate": 0.8,
    }

    # alerts, independently from the events: an item alerts when the partition's clock passes its due
    # date while it is open. Replaying history, that clock is the event-time watermark (the latest event
    # time of the partition: one unit, one partition here), so: handled after due_at, or never handled
    # and due before the last event
    evs = list(Simulation(load_scenario(path)))
    last = max(e.event_time() for e in evs)
    due = {e.feedback_id: e.due_at for e in evs if e.event_type == "feedback.received"}
    handled = {e.feedback_id: e.handled_at for e in evs if e.event_type == "feedback.handled"}
    want = {
        (fid, d.astimezone(UTC), fid in handled)
        for fid, d in due.items()
        if (handled[fid] > d if fid in handled else d < last)
    }
    # 4 handled late + the 2 open overdue at the end (the 2 others are not due by the last event)
    assert len(want) == 6 and sum(not h for _, _, h in want) == 2
    rows = flux(
        settings,
        """from(bucket: "BUCKET") |> range(start: 0)
        |> filter(fn: (r) => r._measurement == "feedback_alerts")
        |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")""",
        bucket,
    )
    # the item is a field; its point is at its alert instant plus a nanosecond offset below 1 ms
    got = {
        (r["feedback_id"], r["_time"].replace(microsecond=r["_time"].microsecond // 1000 * 1000), r["handled"])
        for r in rows
    }
    assert got == want
    assert {r["kind"] for r in rows} == {"feedback_overdue"}
    assert not flux(
        settings, 'from(bucket: "BUCKET") |> range(start: 0) |> filter(fn: (r) => r._measurement == "dossier_alerts")'
    )
