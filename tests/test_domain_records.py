"""streams/domain/records.py: fact records are idempotent and commutative merges of events, and the
counts they contribute follow the definitions in DOMAIN.md (oracle in tests/domain_factories.py)."""

from __future__ import annotations

import copy
import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import units
from streams.domain.counts import FIELD_INDEX
from streams.domain.record_codec import decode_record, encode_record
from streams.domain.records import (
    apply_event,
    contributions,
    effective_due,
    has_apology,
    is_open,
    latest_time,
    new_record,
    record_key,
)
from streams.domain.windows import LocalCalendar, to_ms
from tests.domain_factories import (
    DAY,
    HOUR,
    MIN,
    PROVINCE,
    WARD,
    WARD2,
    Ids,
    apology,
    doc_issued,
    doc_received,
    dossier_specs,
    eid,
    local,
    meeting_ended,
    meeting_scheduled,
    meeting_started,
    oracle_dossier,
    other_specs,
    rated,
    received,
    refused,
    resolved,
    supplement,
    transferred,
    withdrawn,
)

CAL = LocalCalendar.for_zone()
NAME = {i: n for n, i in FIELD_INDEX.items()}


def build(events, partition: int = 0):
    """Fold events into one record the way the worker does (new record from the first event)."""
    rec = None
    changed = []
    for e in events:
        if rec is None:
            _key, kind = record_key(e)
            rec = new_record(e, kind, partition)
        changed.append(apply_event(rec, e))
    return rec, changed


def named(contribs) -> Counter:
    return Counter((t, NAME[i], d) for t, i, d in contribs)


def oracle(contribs) -> Counter:
    return Counter(contribs)


# -- record keys ----------------------------------------------------------------------------------
def test_record_keys_per_entity_kind():
    t = local(2024, 3, 4, 9)
    assert record_key(received(eid(1), "HS-1", t, t + DAY)) == (f"{WARD}|d|HS-1", "d")
    assert record_key(resolved(eid(2), "HS-1", t, t + DAY, t + HOUR)) == (f"{WARD}|d|HS-1", "d")
    assert record_key(supplement(eid(3), "HS-1", t, t + DAY))[0] == f"{WARD}|d|HS-1"
    assert record_key(apology(eid(4), "HS-1", t))[0] == f"{WARD}|d|HS-1"
    assert record_key(rated(eid(5), "DG-9", t, "satisfied")) == (f"{WARD}|r|DG-9", "r")
    assert record_key(doc_issued(eid(6), "VB-1", t, True)) == (f"{WARD}|di|VB-1", "di")
    assert record_key(doc_received(eid(7), "VB-1", t, True)) == (f"{WARD}|dr|VB-1", "dr")
    assert record_key(meeting_started(eid(8), "M-1", t)) == (f"{WARD}|m|M-1", "m")
    # the same dossier id at another unit is another dossier
    assert record_key(received(eid(9), "HS-1", t, t + DAY, unit=WARD2))[0] == f"{WARD2}|d|HS-1"


def test_new_record_carries_unit_identity():
    t = local(2024, 3, 4, 9)
    e = received(eid(1), "HS-1", t, t + DAY)
    rec = new_record(e, "d", 3)
    assert rec == {
        "kind": "d",
        "partition": 3,
        "unit": WARD,
        "province_code": PROVINCE,
        "district_code": None,
        "ward_code": WARD,
        "source_system": "motcua-dongthap",
        "event_ids": [],
    }


# -- idempotence ----------------------------------------------------------------------------------
def test_duplicate_event_changes_nothing():
    t = local(2024, 3, 4, 9)
    r = received(eid(1), "HS-1", t, t + 3 * DAY, "online", "full")
    rec, changed = build([r, r])
    assert changed == [True, False]
    snapshot = copy.deepcopy(rec)
    assert apply_event(rec, r) is False
    assert rec == snapshot
    assert rec["event_ids"] == [eid(1)]


def test_redelivery_with_same_event_id_but_other_content_is_a_duplicate():
    """event_id identifies the event: a redelivery is recognised by id alone."""
    t = local(2024, 3, 4, 9)
    a = resolved(eid(5), "HS-1", t, t + DAY, t + HOUR)
    b = resolved(eid(5), "HS-1", t, t + DAY, t + 2 * DAY)
    rec, changed = build([received(eid(1), "HS-1", t, t + DAY), a, b])
    assert changed == [True, True, False]
    assert rec["resolution"]["at_ms"] == t + HOUR


# -- commutativity (hypothesis) --------------------------------------------------------------------
@st.composite
def lifecycles(draw):
    ids = Ids(draw)
    kind = draw(st.sampled_from(["dossier", "dossier", "dossier", "other"]))
    if kind == "dossier":
        spec = draw(dossier_specs(ids=ids, multi_source=True))
        events, expected = spec.events(), oracle_dossier(spec)
    else:
        o = draw(other_specs(ids=ids))
        events, expected = o.evs, o.contrib
    # duplicates: redeliver some events one or more times
    dups = draw(st.lists(st.sampled_from(events), max_size=4))
    return events, dups, expected


@settings(max_examples=150, deadline=None)
@given(lifecycles(), st.randoms(use_true_random=False))
def test_any_order_and_duplication_gives_the_same_record(life, rnd):
    events, dups, expected = life
    ref, changed = build(events)
    assert all(changed)  # distinct events all change the record
    assert named(contributions(ref, CAL)) == oracle(expected)
    for _ in range(4):
        shuffled = events + dups
        rnd.shuffle(shuffled)
        rec, changed = build(shuffled)
        assert rec == ref
        assert sum(changed) == len(events)
        assert named(contributions(rec, CAL)) == named(contributions(ref, CAL))
        # what the store keeps (JSON) is the same record too
        assert decode_record(encode_record(rec)) == ref
    # applying everything again changes nothing
    rec_again = copy.deepcopy(ref)
    assert not any(apply_event(rec_again, e) for e in events)
    assert rec_again == ref


@settings(max_examples=60, deadline=None)
@given(lifecycles(), st.randoms(use_true_random=False))
def test_grouping_of_partial_records_does_not_matter(life, rnd):
    """Replaying a prefix, persisting, then the rest (crash-replay) converges to the same record."""
    events, dups, _ = life
    ref, _ = build(events)
    order = events + dups
    rnd.shuffle(order)
    cut = rnd.randrange(len(order) + 1)
    first, _ = build(order[:cut] or order[:1])
    rec = decode_record(encode_record(first))  # persisted and reloaded
    for e in order[cut:] + order[: rnd.randrange(len(order) + 1)]:  # and a replay of some prefix
        apply_event(rec, e)
    assert rec == ref


# -- the singleton rule ----------------------------------------------------------------------------
T0 = local(2024, 3, 4, 9)
DUE0 = local(2024, 3, 7, 9)


@pytest.mark.parametrize(
    "occ_a,eid_a,occ_b,eid_b,winner",
    [
        (T0 + 2 * DAY, 10, T0 + 3 * DAY, 5, "b"),  # later occurred_at wins although its id is smaller
        (T0 + 3 * DAY, 5, T0 + 2 * DAY, 10, "a"),
        (T0 + 2 * DAY, 10, T0 + 2 * DAY, 11, "b"),  # tie on occurred_at: greater event_id wins
        (T0 + 2 * DAY, 0xFF << 100, T0 + 2 * DAY, 0xFE << 100, "a"),
    ],
)
def test_two_resolutions_greatest_occurred_at_then_event_id_wins(occ_a, eid_a, occ_b, eid_b, winner):
    rcv = received(eid(1), "HS-1", T0, DUE0)
    a = resolved(eid(eid_a), "HS-1", T0, DUE0, T0 + DAY, digitised=True, occ=occ_a)  # early
    b = resolved(eid(eid_b), "HS-1", T0, DUE0, DUE0 + 5 * HOUR, digitised=False, fee=True, occ=occ_b)  # late
    r1, _ = build([rcv, a, b])
    r2, _ = build([b, rcv, a])
    r3, _ = build([a, b, a, rcv, b])
    assert r1 == r2 == r3
    won = a if winner == "a" else b
    assert r1["resolution"]["event_id"] == str(won.event_id)
    assert r1["resolution"]["at_ms"] == to_ms(won.resolved_at)
    got = named(contributions(r1, CAL))
    assert got[(to_ms(won.resolved_at), "resolved", 1)] == 1
    cls = "resolved_early" if winner == "a" else "resolved_late"
    assert got[(to_ms(won.resolved_at), cls, 1)] == 1
    assert sum(1 for _, f, _ in got if f == "resolved") == 1  # the loser contributes nothing


def test_singletons_for_ratings_documents_meetings():
    t = local(2024, 3, 4, 9)
    for make in (
        lambda i, o: rated(eid(i), "R1", t, ["satisfied", "unsatisfied"][i % 2], occ=o),
        lambda i, o: doc_issued(eid(i), "VB1", t + i, bool(i % 2), occ=o),
        lambda i, o: meeting_ended(eid(i), "M1", t, t + HOUR + i, bool(i % 2), occ=o),
    ):
        x, y = make(1, t + 2 * HOUR), make(2, t + HOUR)  # x occurred later -> x wins
        r1, _ = build([x, y])
        r2, _ = build([y, x])
        assert r1 == r2
        assert str(x.event_id) in r1["event_ids"] and str(y.event_id) in r1["event_ids"]
        slot = {"r": "rating", "di": "document", "m": "meeting_end"}[r1["kind"]]
        assert r1[slot]["event_id"] == str(x.event_id)


def test_source_system_of_a_record_does_not_depend_on_arrival_order():
    """Two systems reporting on one dossier (the case the singleton rule is for)."""
    rcv = received(eid(1), "HS-1", T0, DUE0, source="motcua-dongthap")
    res = resolved(eid(2), "HS-1", T0, DUE0, T0 + DAY, source="dvc-quocgia")
    r1, _ = build([rcv, res])
    r2, _ = build([res, rcv])
    assert r1 == r2
    assert r1["source_system"] in {"motcua-dongthap", "dvc-quocgia"}


@pytest.fixture
def districts():
    """Former districts 815 (shipped with the scenarios) and 816 of province 82; only what we add is removed."""
    added = []
    for code, name in (("815", "Thành phố Mỹ Tho (cũ)"), ("816", "Thị xã Gò Công (cũ)")):
        if units.extra_unit(code) is None:  # also loads GOVPULSE_EXTRA_UNITS_FILE first
            units.register(units.Unit(code, "district", name, PROVINCE))
            added.append(code)
    yield
    for code in added:
        units._extra.pop(code, None)


def test_district_code_of_a_record_does_not_depend_on_arrival_order(districts):
    from schemas import parse_event
    from tests.domain_factories import iso

    def ev(n, etype, dc, **kw):
        d = {
            "event_type": etype,
            "event_id": eid(n),
            "occurred_at": iso(T0 + n),
            "source_system": "motcua",
            "province_code": PROVINCE,
            "ward_code": WARD,
            "dossier_id": "HS-1",
            **kw,
        }
        if dc:
            d["district_code"] = dc
        return parse_event(d)

    plain = ev(1, "dossier.transferred", None, transferred_at=iso(T0), to_unit_code=WARD2)
    a = ev(2, "dossier.withdrawn", "815", withdrawn_at=iso(T0 + DAY))
    b = ev(3, "dossier.transferred", "816", transferred_at=iso(T0 + HOUR), to_unit_code=WARD2)
    recs = [build(order)[0] for order in ([plain, a, b], [b, a, plain], [a, plain, b], [plain, b, a])]
    assert all(r == recs[0] for r in recs)
    assert recs[0]["district_code"] in {"815", "816"}
    # a district code is kept once any event carried one, whatever came first
    assert build([plain, a])[0]["district_code"] == build([a, plain])[0]["district_code"] == "815"


# -- due dates, openness, apologies ----------------------------------------------------------------
def test_effective_due_is_the_latest_supplement_restart():
    rcv = received(eid(1), "HS-1", T0, DUE0)
    s1 = supplement(eid(2), "HS-1", T0 + DAY, local(2024, 3, 12, 9))
    s2 = supplement(eid(3), "HS-1", T0 + 2 * DAY, local(2024, 3, 11, 9))  # later request, earlier new due
    assert effective_due(build([rcv])[0]) == DUE0
    for order in ([rcv, s1, s2], [s2, rcv, s1], [s1, s2, rcv]):
        assert effective_due(build(order)[0]) == local(2024, 3, 11, 9)
    # two requests at the same instant: the greater event id decides
    s3 = supplement(eid(9), "HS-1", T0 + 2 * DAY, local(2024, 3, 15, 9))
    assert effective_due(build([rcv, s3, s2])[0]) == effective_due(build([s2, rcv, s3])[0]) == local(2024, 3, 15, 9)
    # no reception yet: nothing is due
    assert effective_due(build([s1])[0]) is None


def test_is_open_and_has_apology():
    rcv = received(eid(1), "HS-1", T0, DUE0)
    assert is_open(build([rcv])[0])
    assert not is_open(build([supplement(eid(2), "HS-1", T0, DUE0)])[0])  # never received
    for closing in (
        resolved(eid(3), "HS-1", T0, DUE0, T0 + DAY),
        withdrawn(eid(4), "HS-1", T0 + DAY),
        refused(eid(5), "HS-1", T0 + HOUR),
    ):
        assert not is_open(build([rcv, closing])[0])
        assert not is_open(build([closing, rcv])[0])
    assert is_open(build([rcv, transferred(eid(6), "HS-1", T0 + HOUR), supplement(eid(7), "HS-1", T0, DUE0 + DAY)])[0])
    assert not has_apology(build([rcv])[0])
    assert has_apology(build([rcv, apology(eid(8), "HS-1", DUE0 + HOUR)])[0])
    # other kinds are never open dossiers
    assert not is_open(build([rated(eid(9), "R", T0, "satisfied")])[0])


# -- contributions by hand -------------------------------------------------------------------------
def test_contributions_of_a_late_dossier_with_apology_by_hand():
    rcv_at, due = local(2024, 3, 4, 9), local(2024, 3, 7, 9)
    sup_at, new_due = local(2024, 3, 5, 10), local(2024, 3, 8, 10)
    res_at = local(2024, 3, 8, 10, 0, 0, 1)  # 1 ms after the restarted due date
    evs = [
        received(eid(1), "HS-1", rcv_at, due, "online", "partial"),
        supplement(eid(2), "HS-1", sup_at, new_due),
        transferred(eid(3), "HS-1", local(2024, 3, 5, 11)),
        apology(eid(4), "HS-1", local(2024, 3, 8, 11), new_due=local(2024, 3, 11, 9)),
        resolved(eid(5), "HS-1", rcv_at, new_due, res_at, digitised=True, fee=False),
    ]
    rec, _ = build(evs)
    assert named(contributions(rec, CAL)) == Counter(
        [
            (rcv_at, "received", 1),
            (rcv_at, "received_online", 1),
            (rcv_at, "received_online_partial", 1),
            (sup_at, "supplements", 1),
            (local(2024, 3, 5, 11), "transfers", 1),
            (local(2024, 3, 8, 11), "apologies", 1),
            (res_at, "resolved", 1),
            (res_at, "resolved_late", 1),
            (res_at, "results_digitised", 1),
            (res_at, "fee_applicable", 1),
            (res_at, "late_with_apology", 1),
        ]
    )


@pytest.mark.parametrize(
    "res_at,cls",
    [
        (local(2024, 3, 6, 23, 59, 59, 999), "resolved_early"),
        (local(2024, 3, 7, 0, 0), "resolved_on_time"),
        (local(2024, 3, 7, 9, 0), "resolved_on_time"),  # exactly at due_at
        (local(2024, 3, 7, 9, 0, 0, 1), "resolved_late"),
    ],
)
def test_resolution_class_uses_due_at_of_the_resolution(res_at, cls):
    evs = [
        received(eid(1), "HS-1", T0, DUE0, "in_person"),
        apology(eid(2), "HS-1", T0 + HOUR),
        resolved(eid(3), "HS-1", T0, DUE0, res_at, fee=True),
    ]
    got = named(contributions(build(evs)[0], CAL))
    assert got[(res_at, cls, 1)] == 1
    assert got[(res_at, "paid_online", 1)] == 1 and got[(res_at, "fee_applicable", 1)] == 1
    assert got[(T0, "received_in_person", 1)] == 1
    assert sum(c for (_, f, _), c in got.items() if f in ("resolved_early", "resolved_on_time", "resolved_late")) == 1
    # an apology only counts as late_with_apology for a late dossier
    assert ((res_at, "late_with_apology", 1) in got) == (cls == "resolved_late")


def test_contributions_other_kinds_by_hand():
    t = local(2024, 3, 4, 9)
    assert named(contributions(build([rated(eid(1), "R", t, "very_satisfied")])[0], CAL)) == Counter(
        [(t, "ratings", 1), (t, "ratings_very_satisfied", 1)]
    )
    assert named(contributions(build([doc_issued(eid(2), "V", t, True, leader=True, secret=True)])[0], CAL)) == Counter(
        [
            (t, "documents_issued", 1),
            (t, "documents_signed", 1),
            (t, "documents_signed_by_leader", 1),
            (t, "documents_secret", 1),
        ]
    )
    assert named(contributions(build([doc_issued(eid(3), "V", t, False, leader=True)])[0], CAL)) == Counter(
        [(t, "documents_issued", 1)]
    )
    assert named(contributions(build([doc_received(eid(4), "V", t, False)])[0], CAL)) == Counter(
        [(t, "documents_received", 1)]
    )
    end = t + 2 * HOUR
    m = [
        meeting_scheduled(eid(5), "M", t - DAY, t),
        meeting_started(eid(6), "M", t + 5 * MIN, late=5),
        meeting_ended(eid(7), "M", t, end, False, drops=3),
    ]
    assert named(contributions(build(m)[0], CAL)) == Counter(
        [(end, "meetings_held", 1), (end, "meeting_connection_drops", 3)]
    )
    assert contributions(build(m[:2])[0], CAL) == []  # not held (ended) yet: nothing counted
    assert contributions(None, CAL) == [] and contributions({}, CAL) == []


def test_supplement_only_record_counts_supplement_but_no_receipt():
    rec, _ = build([supplement(eid(1), "HS-1", T0, DUE0)])
    assert named(contributions(rec, CAL)) == Counter([(T0, "supplements", 1)])


# -- latest time (watermark after a rebuild) -------------------------------------------------------
def test_latest_time_is_the_latest_business_time():
    rec, _ = build(
        [
            received(eid(1), "HS-1", T0, DUE0),
            supplement(eid(2), "HS-1", T0 + 2 * DAY, DUE0 + DAY),
            apology(eid(3), "HS-1", T0 + DAY),
        ]
    )
    assert latest_time(rec) == T0 + 2 * DAY  # due dates are not business times
    rec["alerts_raised"] = {"dossier_overdue": [DUE0 + 10 * DAY, DUE0]}  # alert flags are not either
    assert latest_time(rec) == T0 + 2 * DAY


def test_latest_time_equals_the_event_time_watermark_for_a_meeting():
    """Rebuild seeds the watermark from latest_time; it must match what the events advanced it to
    (event_time: occurred_at for a scheduling, so a meeting announced for next week does not move the
    clock a week ahead)."""
    t = local(2024, 3, 4, 9)
    evs = [meeting_scheduled(eid(1), "M", occ=t, start=t + 7 * DAY)]
    rec, _ = build(evs)
    assert latest_time(rec) == max(to_ms(e.event_time()) for e in evs) == t
    evs.append(meeting_started(eid(2), "M", t + 7 * DAY + 10 * MIN))
    rec, _ = build(evs)
    assert latest_time(rec) == max(to_ms(e.event_time()) for e in evs)


@settings(max_examples=60, deadline=None)
@given(lifecycles())
def test_latest_time_is_the_max_event_time_of_the_facts_kept(life):
    events, _, _ = life
    rec, _ = build(events)
    kept = set(rec["event_ids"])
    # superseded singletons are not kept; every other event is
    losers = set()
    if rec["kind"] == "d" and "resolution" in rec:
        resolutions = {str(e.event_id) for e in events if type(e).__name__ == "DossierResolved"}
        losers = resolutions - {rec["resolution"]["event_id"]}
    expected = max(to_ms(e.event_time()) for e in events if str(e.event_id) in kept - losers)
    assert latest_time(rec) == expected


def test_records_are_json_roundtrippable_and_compact():
    rng = random.Random(4)
    evs = [
        received(eid(1), "HS-1", T0, DUE0, "postal"),
        apology(eid(2), "HS-1", DUE0 + HOUR),
        resolved(eid(3), "HS-1", T0, DUE0, DUE0 + 2 * HOUR),
    ]
    rng.shuffle(evs)
    rec, _ = build(evs)
    back = decode_record(encode_record(rec))
    assert back == rec
    assert sorted(contributions(back, CAL)) == sorted(contributions(rec, CAL))
