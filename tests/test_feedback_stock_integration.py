"""Citizen feedback's stock at a period's end on the real InfluxDB: the hand-counted report month of
tests/test_feedback_flows.py, written by the worker's domain through the real sink into a fresh bucket, read
back by `govpulse index`'s road (reports.service_index.read_unit_counts: the period report, feedback_flows'
stock at the period end, the period's unit_rates point) and scored for criteria 5.2 and 5.3."""

from __future__ import annotations

import pytest

from reports.periods import parse_period
from reports.service_index import read_unit_counts
from reports.source import ReportSource, Scope, influx_query
from streams.domain import service_index as si
from streams.domain.windows import LocalCalendar
from tests.conftest import make_settings, unique
from tests.domain_factories import PROVINCE, WARD, WARD2, Harness, eid, feedback_received, local
from tests.test_feedback_flows import S_HI, may_items

pytestmark = pytest.mark.integration

CAL = LocalCalendar.for_zone()


@pytest.fixture(scope="module")
def written(services):
    from streams.sink import InfluxSink, ensure_bucket

    s = make_settings()
    bucket = unique("feedback")
    ensure_bucket(s, bucket)
    h = Harness(CAL)
    sink = InfluxSink(s, bucket)
    events = [
        *may_items(),
        # another unit of the province: one item open across the end of May, within due
        feedback_received(eid(90), "K", local(2024, 5, 10, 9), local(2024, 5, 22, 17), unit=WARD2),
    ]
    for i, e in enumerate(events):
        h.feed(e)
        if i % 4 == 3:  # several flushes, as the worker's throttled snapshots
            sink.add(h.snapshot(S_HI))
            assert sink.flush()
    sink.add(h.snapshot(S_HI))
    assert sink.flush()
    sink.close()
    run, close = influx_query(s.influx_url, s.resolve_influx_token(), s.influx_org)
    yield ReportSource(run, bucket, CAL)
    close()


def test_the_stock_at_the_end_of_a_report_month_and_criteria_5_2_and_5_3(written):
    may = parse_period("report_month:2024-05", CAL)  # 15 April – 14 May
    (unit,) = read_unit_counts(written, Scope("unit", WARD, PROVINCE, "Phường Mỹ Tho"), may)
    c = unit.counts
    # open at the end: A, B, C (handled late on 17 May), D (due exactly at the end), E (due at its last ms);
    # overdue: B and C
    assert (c.feedback_open, c.feedback_open_overdue) == (5, 2)
    assert (c.feedback_handled, c.feedback_handled_early, c.feedback_handled_on_time, c.feedback_handled_late) == (
        4,
        1,
        1,
        2,
    )
    assert c.feedback_ratings_unsatisfied == 1
    r = si.compute_index(c).by_id
    assert (r["5.2"].numerator, r["5.2"].denominator) == (5, 9)
    assert (r["5.3"].numerator, r["5.3"].denominator) == (4, 9)


def test_the_next_month_and_the_province_roll_up(written):
    june = parse_period("report_month:2024-06", CAL)  # 15 May – 14 June
    (unit,) = read_unit_counts(written, Scope("unit", WARD, PROVINCE, "Phường Mỹ Tho"), june)
    c = unit.counts
    # C handled late on 17 May; A, B, D, E and I (received 16 May) open and all overdue on 15 June
    assert (c.feedback_handled, c.feedback_handled_late, c.feedback_open, c.feedback_open_overdue) == (1, 1, 5, 5)
    assert si.event_figures(c)["5.2"] == si.Figure(0, 6)
    may = parse_period("report_month:2024-05", CAL)
    units = read_unit_counts(written, Scope("province", PROVINCE, PROVINCE, "Đồng Tháp"), may)
    assert {u.unit_code for u in units} == {WARD, WARD2}
    total = si.IndexCounts.total(u.counts for u in units)
    assert (total.feedback_open, total.feedback_open_overdue) == (6, 2)  # + K, within due
    assert si.event_figures(total)["5.2"] == si.Figure(6, 10)
