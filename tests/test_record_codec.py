"""The stored form of fact records (streams.domain.record_codec): short keys, as every earlier
version wrote them, read back into the long names and written again byte for byte.

``STORED_BEFORE_LONG_NAMES`` was written by the version before the records got long names (commit
b9183aa: ``orjson.dumps`` of its record, built from the same events with fingerprints): a worker
upgraded over a changelog or RocksDB store written by it must read the same records, and what it
writes back must be what that version could read.
"""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings

from streams.domain.record_codec import RecordDecodeError, decode_record, encode_record
from streams.domain.records import apply_event, contributions, fingerprint, new_record, record_key
from streams.domain.windows import LocalCalendar
from tests.domain_factories import (
    DAY,
    HOUR,
    apology,
    doc_issued,
    doc_received,
    eid,
    local,
    meeting_ended,
    meeting_scheduled,
    meeting_started,
    rated,
    received,
    refused,
    resolved,
    supplement,
    transferred,
    withdrawn,
)
from tests.test_domain_records import lifecycles

CAL = LocalCalendar.for_zone()
T = local(2022, 3, 1, 9)
CASES = {
    "dossier": lambda t=T: [
        received(eid(1), "HS-7", t, t + 3 * DAY, "online", "full", proc="1.000894", fld="Hộ tịch"),
        supplement(eid(2), "HS-7", t + DAY, t + 5 * DAY),
        apology(eid(3), "HS-7", t + 5 * DAY),
        resolved(eid(4), "HS-7", t, t + 5 * DAY, t + 6 * DAY, digitised=True, fee=True),
        transferred(eid(5), "HS-7", t + HOUR),
    ],
    "withdrawn": lambda t=T: [received(eid(11), "HS-8", t, t + 3 * DAY), withdrawn(eid(12), "HS-8", t + DAY)],
    "refused": lambda t=T: [refused(eid(13), "HS-9", t + DAY)],
    "rating": lambda t=T: [rated(eid(21), "R-1", t, "satisfied")],
    "issued": lambda t=T: [doc_issued(eid(31), "VB-1", t, True, leader=True)],
    "received": lambda t=T: [doc_received(eid(41), "VB-2", t, True)],
    "meeting": lambda t=T: [
        meeting_scheduled(eid(51), "M-1", t, t + DAY),
        meeting_started(eid(52), "M-1", t + DAY, late=5),
        meeting_ended(eid(53), "M-1", t + DAY, t + DAY + HOUR, False, drops=1),
    ],
}


STORED_BEFORE_LONG_NAMES = {
    "dossier": (
        '{"k":"d","p":2,"u":"28261","pc":"82","dc":null,"wc":"28261","src":"motcua-dongthap","eids":["00000000-0000-0000-0000-000000000001","00000000-0000-0000-0000-000000000002","00000000-0000-0000-0000-000000000003","00000000-0000-0000-0000-000000000004","00000000-0000-0000-0000-000000000005"],"eh":{"00000000-0000-0000-0000-000000000001":3871380649760432,"00000000-0000-0000-0000-000000000002":8276014548434269460,"00000000-0000-0000-0000-000000000003":4860353615492057932,"00000000-0000-0000-0000-000000000004":710490050947875813,"00000000-0000-0000-0000-000000000005":6395067994912062015},"rcv":{"eid":"00000000-0000-0000-0000-000000000001","occ":1646100000000,"at":1646100000000,"due":1646359200000,"ch":"online","os":"full","proc":"1.000894","fld":"Hộ tịch"},"sup":{"00000000-0000-0000-0000-000000000002":{"eid":"00000000-0000-0000-0000-000000000002","occ":1646186400000,"at":1646186400000,"due":1646532000000}},"apo":{"00000000-0000-0000-0000-000000000003":{"eid":"00000000-0000-0000-0000-000000000003","occ":1646532000000,"at":1646532000000,"due":null}},"res":{"eid":"00000000-0000-0000-0000-000000000004","occ":1646618400000,"at":1646618400000,"due":1646532000000,"rcv":1646100000000,"dig":true,"fee":true,"paid":true,"out":"approved","ch":null},"trf":{"00000000-0000-0000-0000-000000000005":{"eid":"00000000-0000-0000-0000-000000000005","occ":1646103600000,"at":1646103600000,"to":"28249"}}}'
    ),
    "withdrawn": (
        '{"k":"d","p":2,"u":"28261","pc":"82","dc":null,"wc":"28261","src":"motcua-dongthap","eids":["00000000-0000-0000-0000-00000000000b","00000000-0000-0000-0000-00000000000c"],"eh":{"00000000-0000-0000-0000-00000000000b":7506885180943452723,"00000000-0000-0000-0000-00000000000c":4268200911456061997},"rcv":{"eid":"00000000-0000-0000-0000-00000000000b","occ":1646100000000,"at":1646100000000,"due":1646359200000,"ch":"in_person","os":null,"proc":"1.001612","fld":"Hộ tịch"},"wd":{"eid":"00000000-0000-0000-0000-00000000000c","occ":1646186400000,"at":1646186400000}}'
    ),
    "refused": (
        '{"k":"d","p":2,"u":"28261","pc":"82","dc":null,"wc":"28261","src":"motcua-dongthap","eids":["00000000-0000-0000-0000-00000000000d"],"eh":{"00000000-0000-0000-0000-00000000000d":4055523485859875788},"ref":{"eid":"00000000-0000-0000-0000-00000000000d","occ":1646186400000,"at":1646186400000}}'
    ),
    "rating": (
        '{"k":"r","p":2,"u":"28261","pc":"82","dc":null,"wc":"28261","src":"motcua-dongthap","eids":["00000000-0000-0000-0000-000000000015"],"eh":{"00000000-0000-0000-0000-000000000015":8434566018905395205},"rate":{"eid":"00000000-0000-0000-0000-000000000015","occ":1646100000000,"at":1646100000000,"lvl":"satisfied"}}'
    ),
    "issued": (
        '{"k":"di","p":2,"u":"28261","pc":"82","dc":null,"wc":"28261","src":"motcua-dongthap","eids":["00000000-0000-0000-0000-00000000001f"],"eh":{"00000000-0000-0000-0000-00000000001f":5991184680088273134},"doc":{"eid":"00000000-0000-0000-0000-00000000001f","occ":1646100000000,"at":1646100000000,"signed":true,"leader":true,"secret":false,"cert":"organisation"}}'
    ),
    "received": (
        '{"k":"dr","p":2,"u":"28261","pc":"82","dc":null,"wc":"28261","src":"motcua-dongthap","eids":["00000000-0000-0000-0000-000000000029"],"eh":{"00000000-0000-0000-0000-000000000029":2128041899413895298},"doc":{"eid":"00000000-0000-0000-0000-000000000029","occ":1646100000000,"at":1646100000000,"online":true}}'
    ),
    "meeting": (
        '{"k":"m","p":2,"u":"28261","pc":"82","dc":null,"wc":"28261","src":"motcua-dongthap","eids":["00000000-0000-0000-0000-000000000033","00000000-0000-0000-0000-000000000034","00000000-0000-0000-0000-000000000035"],"eh":{"00000000-0000-0000-0000-000000000033":6194587687326499166,"00000000-0000-0000-0000-000000000034":4944829899739739853,"00000000-0000-0000-0000-000000000035":3138411699950886642},"sched":{"eid":"00000000-0000-0000-0000-000000000033","occ":1646100000000,"at":1646186400000,"eps":1},"start":{"eid":"00000000-0000-0000-0000-000000000034","occ":1646186400000,"at":1646186400000,"late":5},"end":{"eid":"00000000-0000-0000-0000-000000000035","occ":1646190000000,"at":1646190000000,"start":1646186400000,"smooth":false,"drops":1,"eps":3}}'
    ),
}


def build(events):
    _, kind = record_key(events[0])
    rec = new_record(events[0], kind, 2)
    for e in events:
        apply_event(rec, e, fingerprint(e))
    return rec


@pytest.mark.parametrize("name", sorted(CASES))
def test_records_stored_by_the_previous_version_read_back_as_the_same_record(name):
    rec = build(CASES[name]())
    stored = STORED_BEFORE_LONG_NAMES[name].encode()
    assert decode_record(stored) == rec
    assert encode_record(rec) == stored  # and written back byte for byte
    assert contributions(decode_record(stored), CAL) == contributions(rec, CAL)


def test_long_names_in_memory_short_keys_stored():
    rec = build(CASES["dossier"]())
    assert rec["reception"]["procedure_code"] == "1.000894" and rec["reception"]["field"] == "Hộ tịch"
    assert rec["resolution"]["received_ms"] == T and rec["resolution"]["result_digitised"] is True
    stored = orjson.loads(encode_record(rec))
    assert stored["rcv"]["proc"] == "1.000894" and stored["res"]["rcv"] == T
    assert "reception" not in stored and "procedure_code" not in stored["rcv"]


def test_superseded_facts_are_stored_and_read_back():
    """A correction keeps the replaced resolution (its report points may have been written)."""
    evs = CASES["dossier"]()
    evs.append(resolved(eid(6), "HS-7", T, T + 5 * DAY, T + 4 * DAY, occ=T + 7 * DAY))  # the later word wins
    rec = build(evs)
    assert rec["resolution"]["event_id"] == eid(6)
    assert list(rec["superseded"]["resolution"]) == [eid(4)]
    assert orjson.loads(encode_record(rec))["old"]["res"][eid(4)]["at"] == T + 6 * DAY
    assert decode_record(encode_record(rec)) == rec


@pytest.mark.parametrize(
    "stored, named",
    [
        (b'{"k":"d","p":0,"u":"x","zz":1}', "'zz'"),
        (b'{"k":"d","p":0,"u":"x","rcv":{"eid":"e","when":1}}', "'when' in reception"),
        (b'{"k":"d","p":0,"u":"x","sup":{"e":{"eid":"e","bad":1}}}', "'bad' in supplements"),
    ],
)
def test_an_unknown_stored_key_is_named(stored, named):
    with pytest.raises(RecordDecodeError, match=named):
        decode_record(stored)


@settings(max_examples=60, deadline=None)
@given(lifecycles())
def test_every_record_round_trips(life):
    events, dups, _ = life
    rec = build(events + dups)
    assert decode_record(encode_record(rec)) == rec
