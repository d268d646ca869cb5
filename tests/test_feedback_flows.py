"""Citizen feedback's daily flows (feedback_flows) and the stocks read from them at a period's end, which
Decision 766's criteria 5.2 and 5.3 count (phản ánh, kiến nghị đang xử lý cuối kỳ: trong hạn / quá hạn).

The oracles read the merged record (its winning reception and handling) and the definitions: open at T =
received before T and not handled before T; overdue at T = open at T with its due date passed at T's last
millisecond before (handled exactly at due_at is on time). They never call feedback_flows."""

from __future__ import annotations

import copy
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from common import measurements as m
from streams.domain import service_index as si
from streams.domain.feedback_flows import FEEDBACK_FLOW_INDEX, feedback_flows, feedback_rewrite_days
from streams.domain.windows import LocalCalendar
from tests.domain_factories import (
    DAY,
    HOUR,
    WARD,
    WARD2,
    Harness,
    daily_flows,
    eid,
    feedback_handled,
    feedback_rated,
    feedback_received,
    feedback_transferred,
    local,
    local_date,
    received,
)

CAL = LocalCalendar.for_zone()
S_LO, S_HI = local(2024, 4, 1), local(2024, 6, 10)


def names(flows):
    return sorted((t, m.FEEDBACK_FLOW_FIELDS[i], d) for t, i, d in flows)


def record_of(*events):
    h = Harness(CAL)
    h.feed_all(events)
    (rec,) = h.store.values()
    return rec


# -- one item's flows by hand ------------------------------------------------------------------------------
R, DUE = local(2024, 5, 2, 9), local(2024, 5, 10, 17)


def test_handled_exactly_at_its_due_date_was_never_overdue():
    rec = record_of(feedback_received(eid(1), "PAKN-1", R, DUE), feedback_handled(eid(2), "PAKN-1", R, DUE, DUE))
    assert names(feedback_flows(rec)) == [(R, "received", 1), (DUE, "handled", 1)]


def test_handled_late_was_overdue_from_just_after_due_to_the_handling():
    at = local(2024, 5, 17, 10)
    rec = record_of(feedback_received(eid(1), "PAKN-1", R, DUE), feedback_handled(eid(2), "PAKN-1", R, DUE, at))
    assert names(feedback_flows(rec)) == [
        (R, "received", 1),
        (DUE + 1, "overdue_started", 1),
        (at, "handled", 1),
        (at, "overdue_ended", 1),
    ]


def test_open_past_due_is_overdue_with_no_end_and_open_within_due_has_only_its_reception():
    rec = record_of(feedback_received(eid(1), "PAKN-1", R, DUE))
    assert names(feedback_flows(rec)) == [(R, "received", 1), (DUE + 1, "overdue_started", 1)]
    # a transfer does not close it (the receiving unit stays accountable) and a rating adds no flow
    rec = record_of(
        feedback_received(eid(1), "PAKN-1", R, DUE),
        feedback_transferred(eid(2), "PAKN-1", R + HOUR),
        feedback_rated(eid(3), "PAKN-1", R + 2 * HOUR, "unsatisfied"),
    )
    assert names(feedback_flows(rec)) == [(R, "received", 1), (DUE + 1, "overdue_started", 1)]


def test_a_handling_without_its_reception_counts_from_the_received_at_and_due_at_it_carries():
    at = local(2024, 5, 12, 8)
    rec = record_of(feedback_handled(eid(2), "PAKN-1", R, DUE, at))
    assert names(feedback_flows(rec)) == [
        (R, "received", 1),
        (DUE + 1, "overdue_started", 1),
        (at, "handled", 1),
        (at, "overdue_ended", 1),
    ]


def test_a_transfer_or_a_rating_alone_counts_nothing_and_other_kinds_have_no_feedback_flows():
    assert feedback_flows(record_of(feedback_transferred(eid(2), "PAKN-1", R))) == []
    assert feedback_flows(record_of(feedback_rated(eid(3), "PAKN-1", R, "satisfied"))) == []
    assert feedback_flows(record_of(received(eid(4), "HS-1", R, DUE))) == []
    assert feedback_flows(None) == []


def test_a_handling_stamped_before_the_reception_counts_at_the_reception():
    # the handling system had an earlier reception instant than the reception event says
    early = R - 3 * HOUR
    rec = record_of(
        feedback_received(eid(1), "PAKN-1", R, DUE), feedback_handled(eid(2), "PAKN-1", R - DAY, DUE, early)
    )
    assert names(feedback_flows(rec)) == [(R, "handled", 1), (R, "received", 1)]


def test_a_corrected_reception_moves_the_flows_and_its_old_days_are_rewritten_after_a_rebuild():
    later_r, later_due = local(2024, 5, 4, 9), local(2024, 5, 14, 17)
    rec = record_of(
        feedback_received(eid(1), "PAKN-1", R, DUE, occ=R),
        feedback_received(eid(2), "PAKN-1", later_r, later_due, occ=later_r + HOUR),  # the correction wins
    )
    assert names(feedback_flows(rec)) == [(later_r, "received", 1), (later_due + 1, "overdue_started", 1)]
    days = {local_date(CAL.day_start(d)) for d in feedback_rewrite_days(rec, CAL)}
    # the superseded reception's days (received, overdue start) as well as the winner's
    assert {local_date(R), local_date(DUE + 1), local_date(later_r), local_date(later_due + 1)} <= days
    assert FEEDBACK_FLOW_INDEX["overdue_ended"] == m.FEEDBACK_FLOW_FIELDS.index("overdue_ended")


# -- a report month by hand: the stocks at its end, and 5.2 / 5.3 from them ---------------------------------
def flow_rows(h: Harness) -> dict[int, dict[str, int]]:
    """feedback_flows rows summed over units, per day start (as InfluxDB holds them)."""
    return daily_flows(h, m.FEEDBACK_FLOWS, m.FEEDBACK_FLOW_FIELDS)


def stocks_at(flows: dict[int, dict[str, int]], t: int) -> tuple[int, int]:
    """(open, open and overdue) at instant t: flows summed over the days before it (the contract)."""
    open_ = overdue = 0
    for day_start, f in flows.items():
        if day_start < t:
            open_ += f["received"] - f["handled"]
            overdue += f["overdue_started"] - f["overdue_ended"]
    return open_, overdue


def window_counts(h: Harness, window: str, start: int) -> dict[str, int]:
    """The unit_rates point of a calendar window at its start, summed over units."""
    out: dict[str, int] = {}
    for (meas, tags, t, _ns), fields in h.rows.items():
        if meas == m.UNIT_RATES and dict(tags)["window"] == window and t == start:
            for k, v in fields.items():
                if k in m.COUNT_FIELDS:
                    out[k] = out.get(k, 0) + v
    return out


# report month 2024-05 (Decree 09/2019): 15 April to 14 May, local time; its end T is 15 May 00:00
MONTH_START, MONTH_END = local(2024, 4, 15), local(2024, 5, 15)


def may_items():
    """Ten items, with what each is at the month's end (open within due / open overdue / handled in it)."""
    f = feedback_received
    h = feedback_handled
    return [
        # A: open across the end, within due
        f(eid(1), "A", local(2024, 5, 2, 9), local(2024, 5, 20, 17)),
        # B: open across the end, overdue since 10 May
        f(eid(2), "B", local(2024, 4, 20, 9), local(2024, 5, 10, 17)),
        # C: handled late after the end (17 May): at the end it was open and overdue
        f(eid(3), "C", local(2024, 5, 3, 9), local(2024, 5, 13, 17)),
        h(eid(4), "C", local(2024, 5, 3, 9), local(2024, 5, 13, 17), local(2024, 5, 17, 10)),
        # D: due exactly at the period end (15 May 00:00): within due at the end
        f(eid(5), "D", local(2024, 5, 5, 9), MONTH_END),
        # E: due at the period's last millisecond: not yet past, within due at the end
        f(eid(6), "E", local(2024, 5, 6, 9), MONTH_END - 1),
        # F: handled early in the month
        f(eid(7), "F", local(2024, 5, 1, 9), local(2024, 5, 8, 17)),
        h(eid(8), "F", local(2024, 5, 1, 9), local(2024, 5, 8, 17), local(2024, 5, 6, 10)),
        # G: handled late in the month, and rated unsatisfied in it
        f(eid(9), "G", local(2024, 4, 16, 9), local(2024, 4, 25, 17)),
        h(eid(10), "G", local(2024, 4, 16, 9), local(2024, 4, 25, 17), local(2024, 4, 30, 10)),
        feedback_rated(eid(11), "G", local(2024, 5, 2, 10), "unsatisfied"),
        # H: carried over (received 2 April, overdue at the month's start), handled late in the month
        f(eid(12), "H", local(2024, 4, 2, 9), local(2024, 4, 12, 17)),
        h(eid(13), "H", local(2024, 4, 2, 9), local(2024, 4, 12, 17), local(2024, 4, 16, 10)),
        # I: received after the end: not in this month
        f(eid(14), "I", local(2024, 5, 16, 9), local(2024, 5, 24, 17)),
        # J: handled exactly at its due instant: on time
        f(eid(15), "J", local(2024, 5, 1, 9), local(2024, 5, 8, 17)),
        h(eid(16), "J", local(2024, 5, 1, 9), local(2024, 5, 8, 17), local(2024, 5, 8, 17)),
    ]


def test_a_report_month_by_hand_stocks_at_its_end_and_criteria_5_2_and_5_3():
    h = Harness(CAL)
    h.feed_all(may_items())
    h.snapshot(S_HI)
    flows = flow_rows(h)
    assert all(t == CAL.day_start(CAL.local_day(t)) for t in flows)  # points at local midnights
    # at the end: A, B, C, D, E open; B and C overdue
    assert stocks_at(flows, MONTH_END) == (5, 2)
    # at the start: H open and overdue (carried over)
    assert stocks_at(flows, MONTH_START) == (1, 1)
    # carried over + received in the month = handled in the month + open at the end, exactly
    received_in = sum(f["received"] for t, f in flows.items() if MONTH_START <= t < MONTH_END)
    handled_in = sum(f["handled"] for t, f in flows.items() if MONTH_START <= t < MONTH_END)
    assert (received_in, handled_in) == (8, 4)  # A B C D E F G J; F G H J
    assert 1 + received_in == handled_in + 5
    # the index counts as `govpulse index` merges them: the window point + the stocks at the end
    win = window_counts(h, m.REPORT_MONTH, MONTH_START)
    assert (win["feedback_handled_early"], win["feedback_handled_on_time"], win["feedback_handled_late"]) == (1, 1, 2)
    counts = si.IndexCounts.of({**win, "feedback_open": 5, "feedback_open_overdue": 2})
    f = si.event_figures(counts)
    # 5.2 = (1 early + 1 on time + 3 open within due) / (4 handled + 5 open)
    assert (f["5.2"].numerator, f["5.2"].denominator) == (5, 9)
    # 5.3 = (9 − 2 handled late − 2 open overdue − 1 unsatisfied) / 9
    assert (f["5.3"].numerator, f["5.3"].denominator) == (4, 9)
    # the next month: C handled late after the period end counts there, handled late
    june_start = MONTH_END
    # at its end A, B, D, E and I (received 16 May) are still open, and all past due by then
    assert stocks_at(flows, local(2024, 6, 15)) == (5, 5)
    nxt = window_counts(h, m.REPORT_MONTH, june_start)
    assert nxt["feedback_handled_late"] == 1 and nxt["feedback_handled"] == 1


# -- generated items: stocks from the written rows equal the direct count; duplicates, replays, rebuilds ----
@st.composite
def feedback_items(draw):
    """A few items of two units: a reception (sometimes corrected by a second one, sometimes never read),
    maybe a handling (sometimes corrected, sometimes exactly at due, before reception, or much later),
    transfers and ratings."""
    rng = random.Random(draw(st.integers(0, 2**32)))
    ids = iter(rng.sample(range(1, 10**6), 200))
    events = []
    for i in range(draw(st.integers(1, 6))):
        fid, unit = f"PAKN-{i}", draw(st.sampled_from([WARD, WARD2]))
        r = S_LO + draw(st.integers(0, 40)) * DAY + draw(st.integers(0, 23)) * HOUR
        due = r + draw(st.integers(0, 15)) * DAY + draw(st.sampled_from([1, 8 * HOUR, DAY - 1]))
        has_rcv = draw(st.integers(0, 5)) > 0
        if has_rcv:
            events.append(feedback_received(eid(next(ids)), fid, r, due, occ=r, unit=unit))
            if draw(st.integers(0, 4)) == 0:  # a correction, read later
                r2 = r + draw(st.integers(-2, 3)) * DAY
                due2 = r2 + draw(st.integers(0, 10)) * DAY + HOUR
                events.append(feedback_received(eid(next(ids)), fid, r2, due2, occ=r + 5 * DAY, unit=unit))
        for _ in range(draw(st.integers(0 if has_rcv else 1, 2))):
            at = draw(st.sampled_from([due, due + 1, r - HOUR, r + draw(st.integers(0, 30)) * DAY]))
            # a handling before the reception event's instant carries an earlier received_at of its own
            events.append(feedback_handled(eid(next(ids)), fid, min(r, at), due, at, unit=unit))
        if draw(st.booleans()):
            events.append(feedback_transferred(eid(next(ids)), fid, r + HOUR, unit=unit))
        if draw(st.booleans()):
            events.append(feedback_rated(eid(next(ids)), fid, r + 2 * DAY, "unsatisfied", unit=unit))
    return events


def oracle_stocks(h: Harness, t: int) -> tuple[int, int]:
    """(open, overdue) just before instant t, from the merged records and the definitions."""
    open_ = overdue = 0
    for rec in h.store.values():
        rcv, hdl = rec.get("feedback_reception"), rec.get("feedback_handling")
        if rcv is None and hdl is None:
            continue
        r, due = (rcv["at_ms"], rcv["due_ms"]) if rcv else (hdl["received_ms"], hdl["due_ms"])
        if r < t and (hdl is None or max(hdl["at_ms"], r) >= t):
            open_ += 1
            overdue += t - 1 > due
    return open_, overdue


def dense_rows(h: Harness) -> dict:
    """feedback_flows points with every field (missing = 0), all-zero points left out."""
    dense = {k: {f: v.get(f, 0) for f in m.FEEDBACK_FLOW_FIELDS} for k, v in h.rows.items() if k[0] == m.FEEDBACK_FLOWS}
    return {k: v for k, v in dense.items() if any(v.values())}


@settings(max_examples=150, deadline=None)
@given(events=feedback_items(), rnd=st.randoms(use_true_random=False))
def test_stocks_at_every_local_midnight_equal_a_direct_count(events, rnd):
    rnd.shuffle(events)
    h = Harness(CAL)
    for e in events:
        h.feed(e)
        if rnd.random() < 0.3:
            h.snapshot(S_HI)
    h.snapshot(S_HI)
    flows = flow_rows(h)
    for t in range(CAL.day_start(CAL.local_day(S_LO)) - DAY, S_HI + 40 * DAY, DAY):
        assert stocks_at(flows, t) == oracle_stocks(h, t), local_date(t)


@settings(max_examples=80, deadline=None)
@given(events=feedback_items(), seed=st.integers(0, 2**32))
def test_duplicated_shuffled_rebuilt_and_rebalanced_runs_write_the_same_rows(events, seed):
    clean = Harness(CAL)
    clean.feed_all(events)
    clean.snapshot(S_HI)
    want = dense_rows(clean)
    rnd = random.Random(seed)
    noisy_events = events + [copy.deepcopy(e) for e in rnd.sample(events, k=len(events) // 2)]
    rnd.shuffle(noisy_events)
    noisy = Harness(CAL)
    for e in noisy_events:
        noisy.feed(e)
        if rnd.random() < 0.4:
            noisy.snapshot(S_HI)
    noisy.snapshot(S_HI)
    assert dense_rows(noisy) == want
    rebuilt = clean.rebuilt()
    rebuilt.snapshot(S_HI)
    assert dense_rows(rebuilt) == want
    # a rebalance: the first owner writes part of the events, the new owner rebuilds and writes over it
    order = list(events)
    rnd.shuffle(order)
    first = Harness(CAL)
    cut = rnd.randint(0, len(order))
    for i, e in enumerate(order):
        first.feed(e)
        if i < cut and rnd.random() < 0.5:
            first.snapshot(S_HI)
    second = first.rebuilt()
    second.rows = dict(first.rows)  # the same InfluxDB
    second.snapshot(S_HI)
    assert dense_rows(second) == want


def test_feedback_flows_rows_carry_the_unit_tags_only_and_no_personal_data():
    h = Harness(CAL)
    h.feed(feedback_received(eid(1), "PAKN-1", R, DUE, fld="Đất đai", dossier="HS-7"))
    h.snapshot(R + HOUR)
    ((meas, tags, t, _ns),) = [k for k in h.rows if k[0] == m.FEEDBACK_FLOWS and k[2] == local(2024, 5, 2)]
    assert set(dict(tags)) <= set(m.UNIT_TAGS) and dict(tags)["unit_code"] == WARD
    assert h.rows[(meas, tags, t, 0)] == {"received": 1}
    assert "PAKN-1" not in repr(h.rows) and "HS-7" not in repr(h.rows)
