"""Citizen feedback (phản ánh, kiến nghị — PAKN) in the pure domain: the feedback record is an
idempotent, commutative merge of its events; its stored form; the counts and rates it contributes
(hand-computed); and the overdue alert (streams/domain/aggregator.py)."""

from __future__ import annotations

import copy
import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common import measurements as m
from streams.domain.counts import FIELD_INDEX, Counts, rates
from streams.domain.record_codec import decode_record, encode_record
from streams.domain.records import (
    ONE_STOP_KINDS,
    apply_event,
    contributions,
    feedback_due,
    feedback_is_open,
    fingerprint,
    latest_time,
    new_record,
    record_key,
)
from streams.domain.windows import LocalCalendar, to_ms
from tests.domain_factories import (
    DAY,
    HOUR,
    MIN,
    WARD,
    WARD2,
    Harness,
    classify,
    eid,
    feedback_handled,
    feedback_rated,
    feedback_received,
    feedback_transferred,
    local,
)

CAL = LocalCalendar.for_zone()
NAME = {i: n for n, i in FIELD_INDEX.items()}
T = local(2022, 3, 1, 9)  # a Tuesday


def build(events, partition: int = 2, with_fingerprints: bool = False):
    rec = None
    for e in events:
        if rec is None:
            _key, kind = record_key(e)
            rec = new_record(e, kind, partition)
        apply_event(rec, e, fingerprint(e) if with_fingerprints else None)
    return rec


def named(contribs) -> Counter:
    return Counter((t, NAME[i], d) for t, i, d in contribs)


def full_life(t=T):
    return [
        feedback_received(eid(61), "PAKN-1", t, t + 21 * DAY, fld="Đất đai", dossier="HS-7"),
        feedback_transferred(eid(62), "PAKN-1", t + HOUR),
        feedback_handled(eid(63), "PAKN-1", t, t + 21 * DAY, t + 14 * DAY),
        feedback_rated(eid(64), "PAKN-1", t + 15 * DAY, "very_satisfied"),
    ]


# -- keys and records ---------------------------------------------------------------------------------
def test_every_feedback_event_keys_the_same_record_of_kind_f():
    keys = {record_key(e) for e in full_life()}
    assert keys == {(f"{WARD}|f|PAKN-1", "f")}
    assert "f" in ONE_STOP_KINDS  # on the dossier topic: its events drive the alert clock


def test_a_record_holds_no_personal_data_only_what_the_events_say():
    rec = build(full_life())
    assert set(rec) == {
        "kind",
        "partition",
        "unit",
        "province_code",
        "district_code",
        "ward_code",
        "source_system",
        "event_ids",
        "feedback_reception",
        "transfers",
        "feedback_handling",
        "feedback_rating",
    }
    assert set(rec["feedback_reception"]) == {
        "event_id",
        "occurred_ms",
        "at_ms",
        "due_ms",
        "channel",
        "subject",
        "field",
        "related_dossier_id",
    }
    assert rec["feedback_reception"]["related_dossier_id"] == "HS-7"


def test_open_until_handled_and_due_from_the_reception():
    rcv, _trf, handled, _rated = full_life()
    rec = build([rcv])
    assert feedback_is_open(rec) and feedback_due(rec) == T + 21 * DAY
    apply_event(rec, handled)
    assert not feedback_is_open(rec)
    only_handled = build([handled])
    assert not feedback_is_open(only_handled) and feedback_due(only_handled) is None


def test_latest_time_covers_the_feedback_facts():
    assert latest_time(build(full_life())) == T + 15 * DAY


# -- merges: duplicates and any order give the same record ------------------------------------------------
@st.composite
def feedback_lives(draw):
    """A feedback item's events: reception, 0-2 transfers, maybe a handling (possibly corrected by a
    second one), 0-2 ratings (a later one replaces an earlier one); ids and times drawn."""
    fid = draw(st.sampled_from(["PAKN-1", "PAKN-2"]))
    rcv_at = T + draw(st.integers(0, 30)) * DAY + draw(st.integers(0, 9 * 60)) * MIN
    due = rcv_at + draw(st.integers(1, 20)) * DAY
    ids = iter(random.Random(draw(st.integers(0, 2**32))).sample(range(1, 10**6), 20))
    evs = [feedback_received(eid(next(ids)), fid, rcv_at, due, subject=draw(st.sampled_from(["conduct", "other"])))]
    for _ in range(draw(st.integers(0, 2))):
        evs.append(feedback_transferred(eid(next(ids)), fid, rcv_at + draw(st.integers(0, 48)) * HOUR))
    for _ in range(draw(st.integers(0, 2))):
        at = rcv_at + draw(st.integers(0, 30 * 24)) * HOUR
        evs.append(feedback_handled(eid(next(ids)), fid, rcv_at, due, at))
    for _ in range(draw(st.integers(0, 2))):
        level = draw(st.sampled_from(["very_satisfied", "satisfied", "unsatisfied"]))
        evs.append(feedback_rated(eid(next(ids)), fid, due + draw(st.integers(0, 72)) * HOUR, level))
    dups = draw(st.lists(st.sampled_from(evs), max_size=4))
    return evs, dups


@settings(max_examples=150, deadline=None)
@given(feedback_lives(), st.randoms(use_true_random=False))
def test_duplicates_and_shuffles_give_the_same_feedback_record(life, rnd):
    events, dups = life
    ref = build(events)
    for _ in range(4):
        shuffled = events + dups
        rnd.shuffle(shuffled)
        rec = build(shuffled)
        assert rec == ref
        assert named(contributions(rec, CAL)) == named(contributions(ref, CAL))
        assert decode_record(encode_record(rec)) == ref
    again = copy.deepcopy(ref)
    assert not any(apply_event(again, e) for e in events)
    assert again == ref


@settings(max_examples=60, deadline=None)
@given(feedback_lives(), st.randoms(use_true_random=False))
def test_a_persisted_prefix_then_the_rest_converges(life, rnd):
    events, dups = life
    ref = build(events)
    order = events + dups
    rnd.shuffle(order)
    cut = rnd.randrange(1, len(order) + 1)
    rec = decode_record(encode_record(build(order[:cut])))
    for e in order[cut:] + order[: rnd.randrange(len(order) + 1)]:
        apply_event(rec, e)
    assert rec == ref


def test_the_latest_handling_and_rating_win_whatever_the_order():
    rcv = feedback_received(eid(1), "PAKN-1", T, T + 10 * DAY)
    first = feedback_handled(eid(2), "PAKN-1", T, T + 10 * DAY, T + 12 * DAY)  # late
    correction = feedback_handled(eid(3), "PAKN-1", T, T + 10 * DAY, T + 9 * DAY, occ=T + 13 * DAY)  # on time
    unhappy = feedback_rated(eid(4), "PAKN-1", T + 14 * DAY, "unsatisfied")
    happy = feedback_rated(eid(5), "PAKN-1", T + 15 * DAY, "satisfied")
    for order in ([rcv, first, correction, unhappy, happy], [happy, correction, unhappy, rcv, first]):
        rec = build(order)
        assert rec["feedback_handling"]["event_id"] == eid(3)
        assert rec["feedback_rating"]["rating"] == "satisfied"
        c = named(contributions(rec, CAL))
        assert c[(T + 9 * DAY, "feedback_handled_early", 1)] == 1
        assert not any(name == "feedback_handled_late" for _, name, _ in c)
        assert sum(d for _, name, d in c if name == "feedback_ratings") == 1


# -- the stored form ---------------------------------------------------------------------------------------
# What this version writes for a feedback record (short keys: record_codec). Pinned so that a later
# version reading this state back can be checked byte for byte, as the dossier records are.
STORED_FEEDBACK = '{"k":"f","p":2,"u":"28261","pc":"82","dc":null,"wc":"28261","src":"motcua-dongthap","eids":["00000000-0000-0000-0000-00000000003d","00000000-0000-0000-0000-00000000003e","00000000-0000-0000-0000-00000000003f","00000000-0000-0000-0000-000000000040"],"eh":{"00000000-0000-0000-0000-00000000003d":3427323014959124110,"00000000-0000-0000-0000-00000000003e":2849902591704143433,"00000000-0000-0000-0000-00000000003f":7297728283829932580,"00000000-0000-0000-0000-000000000040":7279956607106559170},"frcv":{"eid":"00000000-0000-0000-0000-00000000003d","occ":1646100000000,"at":1646100000000,"due":1647914400000,"ch":"national_portal","subj":"procedure_handling","fld":"Đất đai","dos":"HS-7"},"trf":{"00000000-0000-0000-0000-00000000003e":{"eid":"00000000-0000-0000-0000-00000000003e","occ":1646103600000,"at":1646103600000,"to":"28249"}},"fhdl":{"eid":"00000000-0000-0000-0000-00000000003f","occ":1647309600000,"at":1647309600000,"due":1647914400000,"rcv":1646100000000,"out":"answered"},"frate":{"eid":"00000000-0000-0000-0000-000000000040","occ":1647396000000,"at":1647396000000,"lvl":"very_satisfied"}}'


def test_feedback_record_stored_with_short_keys_and_read_back_byte_for_byte():
    rec = build(full_life(), with_fingerprints=True)
    assert encode_record(rec) == STORED_FEEDBACK.encode()
    assert decode_record(STORED_FEEDBACK.encode()) == rec


# -- contributions and rates, by hand ----------------------------------------------------------------------
def test_contributions_of_a_full_life_by_hand():
    # received Tue 1/3/2022 09:00, due 22/3 09:00, handled 15/3 (an earlier day: early), rated 16/3
    assert named(contributions(build(full_life()), CAL)) == Counter(
        {
            (T, "feedback_received", 1): 1,
            (T + HOUR, "feedback_transferred", 1): 1,
            (T + 14 * DAY, "feedback_handled", 1): 1,
            (T + 14 * DAY, "feedback_handled_early", 1): 1,
            (T + 15 * DAY, "feedback_ratings", 1): 1,
            (T + 15 * DAY, "feedback_ratings_very_satisfied", 1): 1,
        }
    )


@pytest.mark.parametrize(
    "handled_at, cls",
    [
        (local(2022, 3, 21, 17), "early"),  # the day before the due day
        (local(2022, 3, 22, 8), "on_time"),  # the due day, before due_at
        (local(2022, 3, 22, 9), "on_time"),  # exactly at due_at
        (local(2022, 3, 22, 9) + 1, "late"),  # one millisecond after
        (local(2022, 3, 28, 9), "late"),
    ],
)
def test_handling_is_classified_against_its_due_date_as_a_dossier_is(handled_at, cls):
    due = local(2022, 3, 22, 9)
    rec = build([feedback_handled(eid(1), "PAKN-1", T, due, handled_at)])  # no reception: the handling says all
    got = {name for _, name, _ in named(contributions(rec, CAL))}
    assert got == {"feedback_handled", f"feedback_handled_{cls}"}
    assert cls == classify(handled_at, due)  # the independent oracle agrees


def test_feedback_rates_by_hand():
    # 16 handled: 9 early, 5 on the due day, 2 late -> 14/16 = 87.5%; 10 ratings: 4 very satisfied,
    # 5 satisfied, 1 not -> 9/10 = 90%
    counts = Counts.of(
        feedback_received=16,
        feedback_handled=16,
        feedback_handled_early=9,
        feedback_handled_on_time=5,
        feedback_handled_late=2,
        feedback_ratings=10,
        feedback_ratings_very_satisfied=4,
        feedback_ratings_satisfied=5,
        feedback_ratings_unsatisfied=1,
    )
    r = rates(counts)
    assert r["feedback_on_time_rate"] == 14 / 16 == 0.875
    assert r["feedback_satisfaction_rate"] == 9 / 10
    assert set(r) == {"feedback_on_time_rate", "feedback_satisfaction_rate"}  # no dossier rate from feedback


def test_feedback_rates_are_undefined_without_their_denominators():
    assert rates(Counts.of(feedback_received=3)) == {}
    assert set(rates(Counts.of(feedback_handled=2, feedback_handled_late=2))) == {"feedback_on_time_rate"}
    assert rates(Counts.of(feedback_handled=2, feedback_handled_late=2))["feedback_on_time_rate"] == 0.0


def test_the_contract_names_the_feedback_rates():
    assert m.RATE_DEFINITIONS["feedback_on_time_rate"] == (
        ("feedback_handled_early", "feedback_handled_on_time"),
        "feedback_handled",
    )
    assert m.RATE_DEFINITIONS["feedback_satisfaction_rate"] == (
        ("feedback_ratings_very_satisfied", "feedback_ratings_satisfied"),
        "feedback_ratings",
    )


def test_feedback_rates_reach_unit_rates_through_the_aggregator():
    """Three items of one ward in March 2022: two handled (one early, one late), one still open;
    the month point carries the counts and both rates."""
    h = Harness()
    due = T + 10 * DAY
    h.feed_all(
        [
            feedback_received(eid(1), "A", T, due),
            feedback_handled(eid(2), "A", T, due, T + 2 * DAY),
            feedback_rated(eid(3), "A", T + 3 * DAY, "unsatisfied"),
            feedback_received(eid(4), "B", T, due),
            feedback_handled(eid(5), "B", T, due, due + HOUR),
            feedback_received(eid(6), "C", T + DAY, due),
        ]
    )
    h.snapshot(T + 20 * DAY)
    ((fields,),) = [
        [f for (meas, tags, t, _ns), f in h.rows.items() if meas == m.UNIT_RATES and dict(tags)["window"] == m.MONTH]
    ]
    assert (fields["feedback_received"], fields["feedback_handled"]) == (3, 2)
    assert (fields["feedback_handled_early"], fields["feedback_handled_late"]) == (1, 1)
    assert fields["feedback_on_time_rate"] == 0.5
    assert (fields["feedback_ratings"], fields["feedback_satisfaction_rate"]) == (1, 0.0)
    assert fields["received"] == 0 and "on_time_rate" not in fields  # no dossier was counted


# -- the overdue alert ---------------------------------------------------------------------------------------
def _feedback_alerts(h):
    return [a for a in h.alerts if a["kind"] == "feedback_overdue"]


def test_open_feedback_past_its_due_date_alerts_once_and_its_point_follows_the_handling():
    h = Harness()
    due = T + 10 * DAY
    h.feed(feedback_received(eid(1), "PAKN-9", T, due, subject="conduct", fld="Đất đai"))
    assert h.advance(due) == []  # strictly before now: at due_at it is still on time
    (alert,) = h.advance(due + 1)
    assert alert["kind"] == "feedback_overdue" and alert["feedback_id"] == "PAKN-9"
    assert (alert["due_at"], alert["late_seconds"], alert["handled"]) == ("2022-03-11T02:00:00Z", 0, False)
    assert alert["subject"] == "conduct" and alert["field"] == "Đất đai" and alert["unit_code"] == WARD
    assert "dossier_id" not in alert  # a feedback alert, not a dossier's
    assert h.advance(due + 5 * DAY) == []  # once
    flags = h.store[f"{WARD}|f|PAKN-9"]["alerts_raised"]
    assert list(flags) == ["feedback_overdue"] and flags["feedback_overdue"][:2] == [due, due]
    ns = flags["feedback_overdue"][2]  # its nanosecond within the millisecond, kept for its updates
    h.snapshot(due + 1)
    point = [(tags, f, t, n) for (meas, tags, t, n), f in h.rows.items() if meas == m.FEEDBACK_ALERTS]
    ((tags, fields, t, n),) = point
    assert (t, n) == (due, ns) and "feedback_id" not in dict(tags) and dict(tags)["subject"] == "conduct"
    assert fields == {
        "feedback_id": "PAKN-9",
        "due_at": "2022-03-11T02:00:00Z",
        "late_seconds": 0,
        "field": "Đất đai",
        "handled": False,
    }
    # handled late: the same point (series and time) now says so
    h.feed(feedback_handled(eid(2), "PAKN-9", T, due, due + 2 * DAY))
    h.snapshot(due + 2 * DAY)
    ((fields, t, n),) = [(f, t, n) for (meas, _tags, t, n), f in h.rows.items() if meas == m.FEEDBACK_ALERTS]
    assert fields["handled"] is True and fields["handled_at"] == "2022-03-13T02:00:00Z" and (t, n) == (due, ns)
    # no dossier alert point was written for it
    assert not [k for k in h.rows if k[0] == m.DOSSIER_ALERTS]


def test_feedback_handled_in_time_never_alerts_and_a_rebuild_does_not_repeat_an_alert():
    h = Harness()
    due = T + 10 * DAY
    h.feed_all(
        [
            feedback_received(eid(1), "ON-TIME", T, due),
            feedback_handled(eid(2), "ON-TIME", T, due, due),  # exactly at due_at: on time
            feedback_received(eid(3), "LATE", T, due),
        ]
    )
    fired = h.advance(due + HOUR)
    assert [a["feedback_id"] for a in fired] == ["LATE"]
    rebuilt = h.rebuilt()
    assert rebuilt.advance(due + 2 * DAY) == []  # the flag lives in the record


def test_feedback_and_dossiers_of_a_unit_alert_side_by_side():
    from tests.domain_factories import received

    h = Harness()
    due = T + 3 * DAY
    h.feed_all([received(eid(1), "HS-1", T, due), feedback_received(eid(2), "PAKN-1", T, due, unit=WARD2)])
    kinds = sorted(a["kind"] for a in h.advance(due + DAY))
    assert kinds == ["dossier_due_soon", "dossier_overdue", "feedback_overdue"]
    # the open-dossier gauges count dossiers only
    assert h.agg.units[WARD].gauges()["overdue"] == 1 and h.agg.units[WARD2].gauges()["open"] == 0


# -- the simulator ------------------------------------------------------------------------------------------
def _feedback_scenario(**feedback) -> dict:
    return {
        "name": "feedback",
        "seed": 11,
        "period": {"start": "2022-01-10", "end": "2022-06-30"},
        "units": [{"province_code": "82", "ward_code": WARD, "feedback": feedback}],
    }


def _simulated(scenario):
    from producers.simulator import Simulation

    return list(Simulation(scenario))


def test_mytho_2022_emits_its_16_feedback_items_handled_and_some_rated():
    from pathlib import Path

    from producers.scenario import load_scenario

    sc = load_scenario(Path(__file__).resolve().parents[1] / "producers/scenarios/mytho_2022.yaml")
    evs = [e for e in _simulated(sc) if e.event_type.startswith("feedback.")]
    by_type = Counter(e.event_type for e in evs)
    assert by_type == {"feedback.received": 16, "feedback.handled": 16, "feedback.rated": 8}
    assert {e.unit_key for e in evs} == {"815"}  # the city desk
    assert len({e.feedback_id for e in evs}) == 16
    # the simulator's choices (mytho_2022.yaml): all on time, 12 of them early; ratings 7 + 1 + 0
    classes = Counter(classify(to_ms(e.handled_at), to_ms(e.due_at)) for e in evs if e.event_type == "feedback.handled")
    assert classes == {"early": 12, "on_time": 4}
    assert Counter(e.rating.value for e in evs if e.event_type == "feedback.rated") == {
        "very_satisfied": 7,
        "satisfied": 1,
    }
    assert sc.expected_counts()["815"]["feedback.received"] == 16
    # the report's 0 complaints about procedures: no item has a procedure subject
    assert {e.subject.value for e in evs if e.event_type == "feedback.received"} <= {"conduct", "other"}


def test_feedback_leaves_the_other_streams_of_a_scenario_unchanged():
    """Feedback has its own seed: a scenario's dossiers, documents and meetings are the same events,
    ids included, with or without it (earlier archives and tests stay valid)."""
    from producers.scenario import parse_scenario

    base = _feedback_scenario(received=5)
    base["units"][0]["meetings"] = {"count": 3, "endpoints": [WARD, WARD2]}
    without = copy.deepcopy(base)
    del without["units"][0]["feedback"]
    with_fb = [e for e in _simulated(parse_scenario(base)) if not e.event_type.startswith("feedback.")]
    assert with_fb == _simulated(parse_scenario(without))


def test_simulated_feedback_follows_its_plan_and_the_calendar():
    from common.calendar import add_working_days
    from producers.scenario import parse_scenario

    sc = parse_scenario(
        _feedback_scenario(
            received=60,
            handled=50,
            on_time=40,
            early=0.5,
            open_overdue=4,
            days=10,
            transfers=6,
            transfer_to=[WARD2],
            channels={"hotline": 0.5, "forwarded": 0.5},
            subjects={"regulations": 10, "conduct": 0.5, "other": 0.5},
            ratings={"total": 20, "levels": {"very_satisfied": 10, "satisfied": 5, "unsatisfied": 5}},
        )
    )
    evs = _simulated(sc)
    assert Counter(e.event_type for e in evs) == sc.expected_counts()[WARD]
    times = [e.event_time() for e in evs]
    assert times == sorted(times) and all(sc.start <= t < sc.end for t in times)
    rcv = {e.feedback_id: e for e in evs if e.event_type == "feedback.received"}
    for e in rcv.values():
        assert e.due_at == add_working_days(e.received_at, 10)
    handled = [e for e in evs if e.event_type == "feedback.handled"]
    assert Counter(classify(to_ms(e.handled_at), to_ms(e.due_at)) for e in handled) == {
        "early": 20,
        "on_time": 20,
        "late": 10,
    }
    open_ = [e for f, e in rcv.items() if f not in {h.feedback_id for h in handled}]
    assert len(open_) == 10 and sum(e.due_at < sc.end for e in open_) == 4
    assert Counter(e.subject.value for e in rcv.values())["regulations"] == 10
    rated = {e.feedback_id for e in evs if e.event_type == "feedback.rated"}
    assert rated <= {h.feedback_id for h in handled}
    # archives and replays read each event's time from the field the model says
    from producers.archive import event_type_and_time
    from schemas import dump_event

    for e in evs:
        assert event_type_and_time(dump_event(e)) == (e.event_type, e.event_time())


@pytest.mark.parametrize(
    "changes, key",
    [
        ({"handled": 20}, "units[0].feedback.handled"),
        ({"on_time": 1.5}, "units[0].feedback"),
        ({"transfers": 2}, "units[0].feedback.transfer_to"),
        ({"channels": {"fax": 1.0}}, "units[0].feedback.channels.fax"),
        ({"content": "free text"}, "units[0].feedback.content"),
    ],
)
def test_scenario_feedback_errors_name_the_key(changes, key):
    from producers.scenario import ScenarioError, parse_scenario

    with pytest.raises(ScenarioError) as e:
        parse_scenario(_feedback_scenario(received=10, **changes))
    assert e.value.key.startswith(key), e.value.key
