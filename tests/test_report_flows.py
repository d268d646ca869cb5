"""The periodic report's flows (report_counts): stocks at any period boundary equal a direct count.

The oracles here read the generator's specification (DossierSpec) and DOMAIN.md's definitions:
open at T = received before T and not closed before T; overdue at T = open at T with the due
date in force just before T passed. They never call report_flows or overdue_intervals.
"""

from __future__ import annotations

import copy
import itertools
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from common import measurements as m
from streams.domain.report_flows import REPORT_INDEX, overdue_intervals, report_flows, report_group
from streams.domain.windows import LocalCalendar
from tests.domain_factories import (
    DAY,
    HOUR,
    WARD,
    WARD2,
    DossierSpec,
    Harness,
    Ids,
    classify,
    daily_flows,
    dossier_specs,
    local,
    local_date,
    received,
    resolved,
    supplement,
    withdrawn,
)

CAL = LocalCalendar.for_zone()
S_LO, S_HI = local(2023, 12, 8), local(2024, 1, 20)


# -- overdue intervals by hand ---------------------------------------------------------------------------
def test_resolved_before_or_exactly_at_due_was_never_overdue():
    assert overdue_intervals(0, [(0, 100)], 50) == []
    assert overdue_intervals(0, [(0, 100)], 100) == []  # at the due instant: on time


def test_resolved_late_was_overdue_from_just_after_due_to_resolution():
    assert overdue_intervals(0, [(0, 100)], 150) == [(101, 150)]


def test_open_and_past_due_is_overdue_with_no_end():
    assert overdue_intervals(0, [(0, 100)], None) == [(101, None)]


def test_a_supplement_while_overdue_ends_the_interval_and_a_later_due_may_start_another():
    # due 100, supplement at 130 gives due 200, resolved at 260: overdue 101-130, then 201-260
    assert overdue_intervals(0, [(0, 100), (130, 200)], 260) == [(101, 130), (201, 260)]


def test_a_supplement_before_due_moves_the_due_date():
    assert overdue_intervals(0, [(0, 100), (50, 300)], 250) == []
    assert overdue_intervals(0, [(0, 100), (50, 300)], None) == [(301, None)]


def test_a_supplement_giving_a_passed_due_date_keeps_the_interval_whole():
    # due 100, at 130 a supplement sets due 120 (already passed): one interval, merged
    assert overdue_intervals(0, [(0, 100), (130, 120)], 200) == [(101, 200)]


def test_a_supplement_after_closure_changes_nothing():
    assert overdue_intervals(0, [(0, 100), (300, 400)], 150) == [(101, 150)]


@settings(max_examples=400, deadline=None)
@given(
    received_at=st.integers(0, 30),
    due=st.integers(0, 60),
    sups=st.lists(st.tuples(st.integers(0, 60), st.integers(0, 90)), max_size=3),
    closed=st.one_of(st.none(), st.integers(0, 90)),
)
def test_overdue_intervals_hold_exactly_the_overdue_instants(received_at, due, sups, closed):
    sups = sorted(sups)
    if closed is not None:
        closed = max(closed, received_at)
    schedule = [(received_at, due), *sups]
    intervals = overdue_intervals(received_at, schedule, closed)
    for t in range(0, 100):
        is_open = received_at <= t and (closed is None or t < closed)
        in_force = due
        for since, d in sups:
            if since <= t:
                in_force = d
        expected = is_open and t > in_force
        got = any(a <= t and (b is None or t < b) for a, b in intervals)
        assert got == expected, (t, intervals)
    # merged and ordered: no two intervals touch
    for (_, b1), (a2, _) in itertools.pairwise(intervals):
        assert b1 is not None and b1 < a2


# -- one dossier's flows by hand ------------------------------------------------------------------------
def names(flows):
    return sorted((t, m.REPORT_FIELDS[i], d) for t, i, d in flows)


def record_of(*events):
    h = Harness(CAL)
    h.feed_all(events)
    (rec,) = h.store.values()
    return rec


def test_flows_of_a_dossier_resolved_late_after_a_supplement():
    r, due = local(2024, 1, 2, 9), local(2024, 1, 5, 17)
    sup_at, new_due = local(2024, 1, 8, 10), local(2024, 1, 10, 17)
    res_at = local(2024, 1, 12, 8)
    rec = record_of(
        received("00000000-0000-0000-0000-000000000001", "HS-1", r, due, "postal"),
        supplement("00000000-0000-0000-0000-000000000002", "HS-1", sup_at, new_due),
        resolved("00000000-0000-0000-0000-000000000003", "HS-1", r, new_due, res_at),
    )
    assert names(report_flows(rec, CAL)) == [
        (r, "received_postal", 1),
        (due + 1, "overdue_started", 1),
        (sup_at, "overdue_ended", 1),
        (new_due + 1, "overdue_started", 1),
        (res_at, "overdue_ended", 1),
        (res_at, "resolved_late", 1),
    ]


def test_a_resolution_without_its_reception_counts_from_the_received_at_it_carries():
    r, due, at = local(2024, 1, 2, 9), local(2024, 1, 5, 17), local(2024, 1, 4, 9)
    rec = record_of(resolved("00000000-0000-0000-0000-000000000003", "HS-1", r, due, at))
    assert names(report_flows(rec, CAL)) == [(r, "received_unknown_channel", 1), (at, "resolved_early", 1)]
    assert report_group(rec) == ("-", "-", "-")  # field, procedure and channel: the resolution did not say


def test_a_withdrawal_alone_counts_nothing_until_its_reception_arrives():
    rec = record_of(withdrawn("00000000-0000-0000-0000-000000000004", "HS-1", local(2024, 1, 3)))
    assert report_flows(rec, CAL) == []


def test_only_one_closure_counts_when_a_dossier_was_both_resolved_and_withdrawn():
    r, due = local(2024, 1, 2, 9), local(2024, 1, 5, 17)
    rec = record_of(
        received("00000000-0000-0000-0000-000000000001", "HS-1", r, due),
        withdrawn("00000000-0000-0000-0000-000000000004", "HS-1", local(2024, 1, 3)),
        resolved("00000000-0000-0000-0000-000000000003", "HS-1", r, due, local(2024, 1, 5, 9)),
    )
    closures = [n for _, n, _ in names(report_flows(rec, CAL)) if n in ("withdrawn", "resolved_on_time")]
    assert closures == ["resolved_on_time"]


# -- generated scenarios: stocks from the written rows equal the direct count at every midnight ----------
def closure_of(s: DossierSpec) -> tuple[int, str] | None:
    if s.winner:
        _, _, at, _, _ = s.winner
        return max(at, s.rcv_at), "resolved_" + classify(at, s.eff_due)
    if s.wd:
        return max(s.wd[1], s.rcv_at), "withdrawn"
    if s.ref:
        return max(s.ref[1], s.rcv_at), "refused"
    return None


def oracle_stocks(specs: list[DossierSpec], t: int) -> tuple[int, int]:
    """(open, overdue) just before instant t, from the definitions."""
    open_, overdue = 0, 0
    for s in specs:
        c = closure_of(s)
        if not (s.rcv_at < t and (c is None or c[0] >= t)):
            continue
        open_ += 1
        in_force = s.due
        for _, at, nd in sorted(s.sups, key=lambda x: (x[1], x[0])):
            if at <= t - 1:
                in_force = nd
        overdue += t - 1 > in_force
    return open_, overdue


def day_flows(h: Harness) -> dict[int, dict[str, int]]:
    """report_counts rows summed over units and groups, per day start (as InfluxDB holds them)."""
    return daily_flows(h, m.REPORT_COUNTS, m.REPORT_FIELDS)


def stocks_from_rows(flows: dict[int, dict[str, int]], t: int) -> tuple[int, int]:
    open_ = overdue = 0
    for day_start, f in flows.items():
        if day_start < t:
            open_ += sum(f[k] for k in m.REPORT_FIELDS if k.startswith("received_"))
            open_ -= f["resolved_early"] + f["resolved_on_time"] + f["resolved_late"] + f["withdrawn"] + f["refused"]
            overdue += f["overdue_started"] - f["overdue_ended"]
    return open_, overdue


@st.composite
def report_scenarios(draw):
    ids = Ids(draw)
    return [
        draw(dossier_specs(dossier=f"HS-{i}", unit=draw(st.sampled_from([WARD, WARD2])), t_lo=S_LO, t_hi=S_HI, ids=ids))
        for i in range(draw(st.integers(1, 6)))
    ]


@settings(max_examples=150, deadline=None)
@given(specs=report_scenarios(), rnd=st.randoms(use_true_random=False))
def test_stocks_at_every_local_midnight_equal_a_direct_count(specs, rnd):
    events = [e for s in specs for e in s.events()]
    rnd.shuffle(events)
    h = Harness(CAL)
    for e in events:
        h.feed(e)
        if rnd.random() < 0.3:
            h.snapshot(S_HI)
    h.snapshot(S_HI)
    flows = day_flows(h)
    assert all(t == CAL.day_start(CAL.local_day(t)) for t in flows)  # points at local midnights
    for t in range(CAL.day_start(CAL.local_day(S_LO)), S_HI + 60 * DAY, DAY):
        assert stocks_from_rows(flows, t) == oracle_stocks(specs, t), local_date(t)
    # each closure counts once, on its local day, as the definitions classify it
    expected: dict[tuple[int, str], int] = {}
    for s in specs:
        c = closure_of(s)
        if c:
            k = (CAL.day_start(CAL.local_day(c[0])), c[1])
            expected[k] = expected.get(k, 0) + 1
    got = {
        (t, k): v
        for t, f in flows.items()
        for k, v in f.items()
        if v and k in ("resolved_early", "resolved_on_time", "resolved_late", "withdrawn", "refused")
    }
    assert got == expected


@settings(max_examples=60, deadline=None)
@given(specs=report_scenarios(), seed=st.integers(0, 2**32))
def test_duplicated_shuffled_and_rebuilt_runs_write_the_same_report_rows(specs, seed):
    events = [e for s in specs for e in s.events()]
    clean = Harness(CAL)
    clean.feed_all(events)
    clean.snapshot(S_HI)
    rnd = random.Random(seed)
    noisy_events = events + [copy.deepcopy(e) for e in rnd.sample(events, k=len(events) // 2)]
    rnd.shuffle(noisy_events)
    noisy = Harness(CAL)
    for e in noisy_events:
        noisy.feed(e)
        if rnd.random() < 0.4:
            noisy.snapshot(S_HI)
    noisy.snapshot(S_HI)
    # a run may have written points that are now all zeros (a later event moved a count away, e.g. an
    # overdue start undone by the resolution): InfluxDB then holds zeros there, which sum to nothing
    dense = report_rows(clean)
    assert report_rows(noisy) == dense
    rebuilt = clean.rebuilt()
    rebuilt.snapshot(S_HI)
    assert report_rows(rebuilt) == dense


def report_rows(h: Harness) -> dict:
    """report_counts points with every field (missing = 0), all-zero points left out."""
    dense = {k: {f: v.get(f, 0) for f in m.REPORT_FIELDS} for k, v in h.rows.items() if k[0] == m.REPORT_COUNTS}
    return {k: v for k, v in dense.items() if any(v.values())}


def test_report_rows_carry_field_and_procedure_tags():
    r, due = local(2024, 1, 2, 9), local(2024, 1, 5, 17)
    h = Harness(CAL)
    h.feed(received("00000000-0000-0000-0000-000000000001", "HS-1", r, due, proc="1.000894", fld="Hộ tịch"))
    h.snapshot(r + HOUR)
    # the reception, and (on 5 Jan) the overdue start just after its due date, which no closure undid
    ((meas, tags, t, _ns),) = [k for k in h.rows if k[0] == m.REPORT_COUNTS and k[2] == local(2024, 1, 2)]
    tags = dict(tags)
    assert (tags["field"], tags["procedure_code"], tags["channel"], tags["unit_code"]) == (
        "Hộ tịch",
        "1.000894",
        "in_person",
        WARD,
    )
    assert t == local(2024, 1, 2)
    assert h.rows[(meas, frozenset(tags.items()), t, 0)] == {"received_in_person": 1}
    assert REPORT_INDEX["received_in_person"] == m.REPORT_FIELDS.index("received_in_person")


@settings(max_examples=80, deadline=None)
@given(specs=report_scenarios(), seed=st.integers(0, 2**32))
def test_a_new_owner_rewrites_what_an_earlier_owner_wrote_of_earlier_states(specs, seed):
    """A worker writes some of a partition's events, then loses it before writing the rest (a
    rebalance): the new owner rebuilds from the records and writes over the same InfluxDB. The
    report points end as one clean run writes them, though the first owner wrote overdue starts
    of dossiers that were closed in time, and receptions under the unknown group."""
    events = [e for s in specs for e in s.events()]
    rnd = random.Random(seed)
    rnd.shuffle(events)
    clean = Harness(CAL)
    clean.feed_all(events)
    clean.snapshot(S_HI)
    first = Harness(CAL)
    cut = rnd.randint(0, len(events))
    for i, e in enumerate(events):
        first.feed(e)
        if i < cut and rnd.random() < 0.5:
            first.snapshot(S_HI)  # what reached InfluxDB before the partition moved
    second = first.rebuilt()
    second.rows = dict(first.rows)  # the same InfluxDB
    second.snapshot(S_HI)
    assert report_rows(second) == report_rows(clean)


def test_a_new_owner_rewrites_the_points_of_a_resolution_a_correction_replaced():
    """The first owner reads a resolution alone and writes its points (under the unknown group, on
    its day), then a correction moves the resolution to another day and the reception comes; it
    loses the partition before writing again. The new owner must overwrite the first day's point,
    which only the replaced resolution knew of (found by the property test above)."""
    r, due = local(2024, 1, 2, 9), local(2024, 1, 9, 17)
    first_word = resolved("00000000-0000-0000-0000-000000000002", "HS-1", r, due, local(2024, 1, 3, 10))
    correction = resolved(
        "00000000-0000-0000-0000-000000000003", "HS-1", r, due, local(2024, 1, 5, 10), occ=local(2024, 1, 6)
    )
    reception = received("00000000-0000-0000-0000-000000000001", "HS-1", r, due)
    clean = Harness(CAL)
    clean.feed_all([reception, first_word, correction])
    clean.snapshot(S_HI)
    first = Harness(CAL)
    first.feed(first_word)
    first.snapshot(S_HI)
    stale_day = local(2024, 1, 3)
    assert any(k[2] == stale_day for k in report_rows(first))
    first.feed(correction)
    first.feed(reception)
    second = first.rebuilt()
    second.rows = dict(first.rows)
    second.snapshot(S_HI)
    assert report_rows(second) == report_rows(clean)
    assert not any(k[2] == stale_day for k in report_rows(second))
