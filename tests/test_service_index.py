"""The Decision 766 index (streams/domain/service_index.py): each criterion's formula on hand-computed
examples (zero denominators included), the weights and figures files' validation, and roll-ups: the
index of summed counts, never an average of scores (hypothesis)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reports.periods import parse_period
from reports.service_index import figures_for, parse_figures_csv
from streams.domain import service_index as si
from streams.domain.windows import LocalCalendar

CAL = LocalCalendar.for_zone()

# a desk's month, by hand: 100 to handle (10 carried over + 90 received), 80 resolved (50 early, 20 on
# time, 10 late), 2 withdrawn, 3 refused, 15 in process at the end of which 4 overdue
DESK = si.IndexCounts(
    carried_over=10,
    received=90,
    received_online=36,
    received_online_full=20,
    resolved_early=50,
    resolved_on_time=20,
    resolved_late=10,
    withdrawn=2,
    refused=3,
    in_process=15,
    in_process_overdue=4,
    window_resolved=80,
    results_digitised=60,
    fee_applicable=40,
    paid_online=10,
    late_with_apology=7,
    ratings=50,
    ratings_very_satisfied=40,
    ratings_satisfied=5,
    ratings_unsatisfied=5,
)


def test_event_criteria_by_hand():
    f = si.event_figures(DESK)
    # 2.1: (50 + 20 + (15 - 4)) / (80 + 15) = 81 / 95; withdrawn and refused left out
    assert (f["2.1"].numerator, f["2.1"].denominator) == (81, 95)
    # 3.3: 36 / 90 = 40 %
    assert (f["3.3"].numerator, f["3.3"].denominator) == (36, 90)
    # 3.6: 10 / 40; 4.1: 60 / 80
    assert (f["3.6"].numerator, f["3.6"].denominator) == (10, 40)
    assert (f["4.1"].numerator, f["4.1"].denominator) == (60, 80)
    # 5.4: (95 - (10 late + 4 overdue) - 5 unsatisfied) / 95 = 76 / 95
    assert (f["5.4"].numerator, f["5.4"].denominator) == (76, 95)
    # no feedback in DESK: 5.2 and 5.3 have a zero denominator (not applicable)
    assert f["5.2"].denominator == 0 and f["5.3"].denominator == 0
    ind = si.indicator_figures(DESK)
    assert (ind["on_time_rate"].numerator, ind["on_time_rate"].denominator) == (70, 80)
    assert (ind["apology_coverage"].numerator, ind["apology_coverage"].denominator) == (7, 10)
    assert (ind["online_full_share"].numerator, ind["online_full_share"].denominator) == (20, 90)
    assert (ind["satisfaction_rate"].numerator, ind["satisfaction_rate"].denominator) == (45, 50)


def test_default_scores_use_only_sourced_points_and_rules():
    r = si.compute_index(DESK).by_id
    # 5.4: 6 points (S8), 90 % threshold (F): 76/95 = 80 % → 6 × 0.8 / 0.9
    assert r["5.4"].status is si.Status.SCORED
    assert r["5.4"].score == pytest.approx(6 * (76 / 95) / 0.9)
    # 2.1: 20 points (S8) but no published rule: its value, not scored
    assert r["2.1"].status is si.Status.NOT_SCORED and r["2.1"].score is None and r["2.1"].max == 20
    assert r["2.1"].value == pytest.approx(81 / 95)
    assert "full_at" in r["2.1"].reason
    # 3.3: F's rule (50 %) but no points: not scored, never a made-up score
    assert r["3.3"].status is si.Status.NOT_SCORED and r["3.3"].score is None and "points" in r["3.3"].reason
    # group 1 has no event figures: missing
    assert all(r[c].status is si.Status.MISSING for c in ("1.1", "1.2", "1.3", "1.4"))
    idx = si.compute_index(DESK)
    assert idx.score == pytest.approx(r["5.4"].score) and idx.scored_max == 6 and not idx.complete


def test_weights_score_with_thresholds():
    w = si.parse_weights(
        {"criteria": {"3.3": 6, "3.6": {"points": 4, "full_at": 0.5}, "2.1": {"full_at": 1.0, "points": 20}}}, "w"
    )
    r = si.compute_index(DESK, weights=w).by_id
    # 3.3: 40 % online under F's 50 % threshold → 6 × 0.4 / 0.5 = 4.8
    assert r["3.3"].score == pytest.approx(4.8)
    # 3.6: 25 % under the file's 50 % → 4 × 0.25 / 0.5 = 2
    assert r["3.6"].score == pytest.approx(2.0)
    # 2.1 proportional (full_at 1.0): 20 × 81/95
    assert r["2.1"].score == pytest.approx(20 * 81 / 95)
    assert r["3.3"].points_source == "w"
    # at or above the threshold: the maximum
    assert si.score_of(0.97, 6, 0.9) == 6 and si.score_of(0.45, 6, 0.9) == pytest.approx(3)


def test_zero_denominators_are_not_applicable():
    r = si.compute_index(si.IndexCounts(), weights=si.parse_weights({"criteria": {"3.3": 5}}, "w")).by_id
    for cid in ("2.1", "3.3", "3.6", "4.1", "5.4"):
        assert r[cid].status is si.Status.NOT_APPLICABLE and r[cid].value is None and r[cid].score is None, cid
    assert r["on_time_rate"].value is None and r["in_process_overdue"].value == 0
    idx = si.compute_index(si.IndexCounts())
    assert idx.score == 0 and idx.scored_max == 0  # not applicable: its points leave the scored maximum


def test_only_withdrawn_and_refused_is_not_applicable_for_2_1():
    c = si.IndexCounts(received=3, withdrawn=2, refused=1)
    r = si.compute_index(c).by_id
    assert r["2.1"].status is si.Status.NOT_APPLICABLE
    assert r["3.3"].value == 0.0  # 0 of 3 received online: a value, not N/A


def test_5_4_never_below_zero():
    c = si.IndexCounts(received=2, resolved_late=2, window_resolved=2, ratings=2, ratings_unsatisfied=2)
    f = si.event_figures(c)["5.4"]
    assert (f.numerator, f.denominator) == (0, 2)


def test_supplied_figures_fill_the_missing_criteria_and_the_sync_factor():
    supplied = {"1.4": si.Figure(90, 100, "portal"), "1.2": si.Figure(9, 10)}
    r = si.compute_index(DESK, supplied).by_id
    # 1.2: supplied, 4 points (S8), but no scoring rule published: its value, not scored
    assert r["1.2"].origin == "supplied" and r["1.2"].value == 0.9 and r["1.2"].status is si.Status.NOT_SCORED
    # 3.3 × 1.4's share (F): 36 × 0.9 / 90
    assert r["3.3"].value == pytest.approx(0.4 * 0.9)


def test_weights_file_errors_name_the_criterion_and_reason():
    cases = {
        "9.9": ({"criteria": {"9.9": 1}}, "not a criterion of Decision 766"),
        "on_time_rate": ({"criteria": {"on_time_rate": 1}}, "govpulse indicator"),
        "3.3 points": ({"criteria": {"3.3": {"points": "six"}}}, "criterion 3.3: points: 'six' is not a number"),
        "3.3 range": ({"criteria": {"3.3": 30}}, "criterion 3.3: points 30 outside 0–22"),
        "3.3 full_at": (
            {"criteria": {"3.3": {"points": 2, "full_at": 80}}},
            "criterion 3.3: full_at 80 outside (0, 1]",
        ),
        "3.3 key": ({"criteria": {"3.3": {"points": 2, "weight": 1}}}, "criterion 3.3: unknown keys weight"),
        "group": (
            {"criteria": {"1.1": 10, "1.3": 5}},
            "group 1 (Công khai, minh bạch): points add up to 19 > its maximum 18",
        ),
        "shape": ({"weights": {}}, "one key 'criteria'"),
    }
    for name, (data, message) in cases.items():
        with pytest.raises(si.IndexConfigError) as e:
            si.parse_weights(data, "weights.yaml")
        assert message in str(e.value), (name, str(e.value))
    assert si.parse_weights(None, "w") == {}


def test_figures_file_rows_are_checked():
    ok = "unit_code,period,criterion,numerator,denominator,source\n815,month:2022-06,1.2,9,10,CSDL TTHC\n"
    (row,) = parse_figures_csv(ok, "f.csv")
    assert row.figure == si.Figure(9, 10, "CSDL TTHC")
    for text, message in (
        ("unit_code,period,criterion,numerator\n", "missing columns denominator"),
        ("unit_code,period,criterion,numerator,denominator\n815,month:2022-06,7.1,1,2\n", "line 2: criterion '7.1'"),
        (
            "unit_code,period,criterion,numerator,denominator\n815,month:2022-06,1.2,11,10\n",
            "numerator 11 > denominator 10",
        ),
        ("unit_code,period,criterion,numerator,denominator\n815,month:2022-06,1.2,x,10\n", "are not numbers"),
        ("unit_code,period,criterion,numerator,denominator\n815,2022-06,1.2,1,10\n", "WINDOW:LABEL"),
        (
            "unit_code,period,criterion,numerator,denominator\n815,month:2022-06,1.2,1,10\n815,month:2022-06,1.2,1,10\n",
            "line 3: criterion 1.2: a second figure",
        ),
    ):
        with pytest.raises(si.IndexConfigError) as e:
            parse_figures_csv(text, "f.csv")
        assert message in str(e.value), (text, str(e.value))
    # 2.2 (an average time) may exceed its denominator: total days / dossiers
    (avg,) = parse_figures_csv("unit_code,period,criterion,numerator,denominator\n815,month:2022-06,2.2,120,40\n", "f")
    assert si.compute_index(si.IndexCounts(), {"2.2": avg.figure}).by_id["2.2"].value == 3.0


def test_monthly_figures_add_up_to_the_period_and_the_rollup():
    text = (
        "unit_code,period,criterion,numerator,denominator\n"
        + "".join(f"{u},month:2022-{mo:02d},1.2,{mo},20\n" for u in ("28261", "28258") for mo in range(1, 13))
        + "99999,month:2022-03,1.2,1,1\n"
    )
    rows = parse_figures_csv(text, "f")
    year = parse_period("year:2022", CAL)
    got = figures_for(rows, ["28261", "28258"], year, CAL)["1.2"]
    assert (got.numerator, got.denominator) == (2 * 78, 480)  # 1+…+12 = 78 per unit; 99999 not a member
    march = figures_for(rows, ["28261"], parse_period("month:2022-03", CAL), CAL)["1.2"]
    assert (march.numerator, march.denominator) == (3, 20)


# ---------------------------------------------------------------------------------------------
# roll-ups: the score of summed counts (hypothesis)
# ---------------------------------------------------------------------------------------------
@st.composite
def unit_counts(draw: st.DrawFn) -> si.IndexCounts:
    n = st.integers(0, 400)
    early, on_time, late = draw(n), draw(n), draw(n)
    in_process = draw(n)
    overdue = draw(st.integers(0, in_process))
    received = draw(n)
    fee = draw(n)
    ratings = draw(n)
    unsat = draw(st.integers(0, ratings))
    return si.IndexCounts(
        carried_over=draw(n),
        received=received,
        received_online=draw(st.integers(0, received)),
        received_online_full=draw(st.integers(0, received)),
        resolved_early=early,
        resolved_on_time=on_time,
        resolved_late=late,
        withdrawn=draw(n),
        refused=draw(n),
        in_process=in_process,
        in_process_overdue=overdue,
        window_resolved=early + on_time + late,
        results_digitised=draw(st.integers(0, early + on_time + late)),
        fee_applicable=fee,
        paid_online=draw(st.integers(0, fee)),
        late_with_apology=draw(st.integers(0, late)),
        ratings=ratings,
        ratings_unsatisfied=unsat,
        ratings_satisfied=draw(st.integers(0, ratings - unsat)),
    )


WEIGHTS = si.parse_weights(
    {
        "criteria": {
            "2.1": {"points": 20, "full_at": 1.0},
            "3.3": 8,
            "3.6": {"points": 6, "full_at": 0.8},
            "4.1": {"points": 8, "full_at": 0.9},
        }
    },
    "hypothesis",
)


@settings(max_examples=200, deadline=None)
@given(st.lists(unit_counts(), min_size=1, max_size=6))
def test_rollup_is_the_index_of_summed_counts(units):
    total = si.IndexCounts.total(units)
    rolled = si.compute_index(total, weights=WEIGHTS)
    # the counts add field by field, and every criterion of the roll-up is its formula over the sums
    for cid, fig in si.event_figures(total).items():
        assert rolled.by_id[cid].numerator == sum(si.event_figures(u)[cid].numerator for u in units) or cid == "5.4"
        assert rolled.by_id[cid].denominator == fig.denominator
        if fig.denominator:
            assert rolled.by_id[cid].value == pytest.approx(fig.numerator / fig.denominator)
    # order does not matter
    assert si.compute_index(si.IndexCounts.total(reversed(units)), weights=WEIGHTS).score == pytest.approx(rolled.score)
    # the group scores add to the total; nothing exceeds its maximum
    assert rolled.score == pytest.approx(sum(g.score for g in rolled.groups))
    for g in rolled.groups:
        assert 0 <= g.score <= g.scored_max + 1e-9 <= g.maximum + 1e-9
    # 2.1 of a roll-up weights the units by their dossiers: it lies between the units' values
    values = [v for v in (si.compute_index(u).by_id["2.1"].value for u in units) if v is not None]
    if values:
        assert min(values) - 1e-12 <= rolled.by_id["2.1"].value <= max(values) + 1e-12


@settings(max_examples=100, deadline=None)
@given(unit_counts(), unit_counts())
def test_rollup_is_not_the_average_of_scores(a, b):
    """The roll-up's 2.1 is sum/sum; the mean of the two units' values only equals it when their
    denominators are equal (or a value is undefined)."""
    ra, rb = (si.compute_index(x).by_id["2.1"] for x in (a, b))
    rolled = si.compute_index(a + b).by_id["2.1"]
    if ra.value is not None and rb.value is not None:
        ha, hb = a.handled, b.handled
        assert rolled.value == pytest.approx((ra.value * ha + rb.value * hb) / (ha + hb))
        if ha != hb and not math.isclose(ra.value, rb.value):
            assert rolled.value != pytest.approx((ra.value + rb.value) / 2, abs=1e-12)


def test_feedback_criteria_by_hand():
    """5.2 and 5.3 from the feedback counts (phản ánh, kiến nghị): 16 handled, 9 early, 4 on time, 3 late;
    2 unsatisfied ratings of the handling; nothing open at the period's end."""
    c = si.IndexCounts(
        feedback_handled=16,
        feedback_handled_early=9,
        feedback_handled_on_time=4,
        feedback_handled_late=3,
        feedback_ratings_unsatisfied=2,
    )
    f = si.event_figures(c)
    assert (f["5.2"].numerator, f["5.2"].denominator) == (13, 16)  # 9 + 4 handled in time
    assert (f["5.3"].numerator, f["5.3"].denominator) == (11, 16)  # 16 - 3 late - 2 unsatisfied
    # never below zero: more late + unsatisfied than handled (a late item rated unsatisfied counts twice)
    worst = si.IndexCounts(feedback_handled=2, feedback_handled_late=2, feedback_ratings_unsatisfied=2)
    assert si.event_figures(worst)["5.3"].numerator == 0
    r = si.compute_index(c).by_id
    # no points published for 5.2 / 5.3: a value, not a score
    assert r["5.2"].value == pytest.approx(13 / 16) and r["5.2"].status is si.Status.NOT_SCORED
    assert r["5.3"].value == pytest.approx(11 / 16) and r["5.3"].score is None


def test_feedback_criteria_count_the_items_open_at_the_period_end():
    """Decision 766 counts every item in the unit's competence: handled in the period + open at its end,
    the open ones within due as on time, the overdue ones as late. 10 handled (4 early, 3 on time, 3 late),
    6 open at the end of which 2 overdue, 1 unsatisfied rating."""
    c = si.IndexCounts(
        feedback_handled=10,
        feedback_handled_early=4,
        feedback_handled_on_time=3,
        feedback_handled_late=3,
        feedback_open=6,
        feedback_open_overdue=2,
        feedback_ratings_unsatisfied=1,
    )
    assert (c.feedback_in_competence, c.feedback_in_time, c.feedback_late) == (16, 11, 5)
    f = si.event_figures(c)
    assert (f["5.2"].numerator, f["5.2"].denominator) == (11, 16)  # 4 + 3 handled in time + 4 open within due
    assert (f["5.3"].numerator, f["5.3"].denominator) == (10, 16)  # 16 - 3 late - 2 overdue - 1 unsatisfied
    r = si.compute_index(c).by_id
    assert r["5.2"].value == pytest.approx(11 / 16) and r["5.3"].value == pytest.approx(10 / 16)


def test_feedback_criteria_with_only_open_items_or_none():
    # nothing handled and nothing open: not applicable, not a zero
    r = si.compute_index(si.IndexCounts()).by_id
    assert r["5.2"].status is si.Status.NOT_APPLICABLE and r["5.2"].value is None and r["5.2"].denominator == 0
    assert r["5.3"].status is si.Status.NOT_APPLICABLE and r["5.3"].value is None
    # received, not handled, all still within due at the end: 100 %; all overdue: 0 %
    within = si.event_figures(si.IndexCounts(feedback_open=3))
    assert (within["5.2"].numerator, within["5.2"].denominator) == (3, 3)
    assert (within["5.3"].numerator, within["5.3"].denominator) == (3, 3)
    overdue = si.event_figures(si.IndexCounts(feedback_open=3, feedback_open_overdue=3))
    assert (overdue["5.2"].numerator, overdue["5.2"].denominator) == (0, 3)
    assert (overdue["5.3"].numerator, overdue["5.3"].denominator) == (0, 3)
    # 5.3 never below zero: late and overdue items also rated unsatisfied are subtracted twice
    worst = si.IndexCounts(
        feedback_handled=1,
        feedback_handled_late=1,
        feedback_open=1,
        feedback_open_overdue=1,
        feedback_ratings_unsatisfied=3,
    )
    assert si.event_figures(worst)["5.3"] == si.Figure(0, 2)


def test_feedback_open_counts_roll_up_as_sums():
    """A roll-up (two units, or the months of a quarter for the handled counts) adds the counts, then divides:
    unit a 1 handled on time + 1 open within due; unit b 2 open, 1 overdue."""
    a = si.IndexCounts(feedback_handled=1, feedback_handled_on_time=1, feedback_open=1)
    b = si.IndexCounts(feedback_open=2, feedback_open_overdue=1)
    total = si.IndexCounts.total([a, b])
    assert (total.feedback_open, total.feedback_open_overdue) == (3, 1)
    f = si.event_figures(total)
    assert (f["5.2"].numerator, f["5.2"].denominator) == (3, 4)  # 1 on time + 2 open within due
    assert (f["5.3"].numerator, f["5.3"].denominator) == (3, 4)  # 4 - 1 overdue
    # from the mapping `govpulse index` reads (feedback_stock's columns)
    assert si.IndexCounts.of({"feedback_open": 2, "feedback_open_overdue": 1, "unit_code": "x"}) == b
