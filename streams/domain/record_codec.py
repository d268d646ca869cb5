"""The stored form of a fact record: compact JSON with short keys.

In memory a :class:`~streams.domain.records.Record` has names that say what they are
(``reception``, ``due_ms``...). Stored (the table's store and its Kafka changelog), every key is one to
six letters, because a million open dossiers are a million stored records: the long names would add
about 300 bytes to each. The short keys are the ones every earlier version wrote, so state written
by those versions reads back unchanged, and what this version writes, they could read.

Only this module knows the short keys.
"""

from __future__ import annotations

from typing import Any, cast

import orjson

from streams.domain.records import MULTIPLE, SINGLETON, Record

# record slot -> stored key
_SLOT_KEYS = {
    "kind": "k",
    "partition": "p",
    "unit": "u",
    "province_code": "pc",
    "district_code": "dc",
    "ward_code": "wc",
    "source_system": "src",
    "event_ids": "eids",
    "fingerprints": "eh",
    "alerts_raised": "al",
    "superseded": "old",
    "reception": "rcv",
    "resolution": "res",
    "supplements": "sup",
    "transfers": "trf",
    "apologies": "apo",
    "withdrawal": "wd",
    "refusal": "ref",
    "rating": "rate",
    "document": "doc",
    "meeting_end": "end",
    "meeting_schedule": "sched",
    "meeting_start": "start",
    "feedback_reception": "frcv",
    "feedback_handling": "fhdl",
    "feedback_rating": "frate",
}
# fact field -> stored key (one table for every kind of fact: no two facts use a name two ways)
_FACT_KEYS = {
    "event_id": "eid",
    "occurred_ms": "occ",
    "at_ms": "at",
    "due_ms": "due",
    "channel": "ch",
    "online_service": "os",
    "procedure_code": "proc",
    "field": "fld",
    "received_ms": "rcv",
    "result_digitised": "dig",
    "fee_applicable": "fee",
    "paid_online": "paid",
    "outcome": "out",
    "to_unit_code": "to",
    "rating": "lvl",
    "digitally_signed": "signed",
    "signer_is_leader": "leader",
    "secret": "secret",
    "certificate_kind": "cert",
    "processed_online": "online",
    "started_ms": "start",
    "uninterrupted": "smooth",
    "connection_drops": "drops",
    "endpoints": "eps",
    "late_start_minutes": "late",
    "subject": "subj",
    "related_dossier_id": "dos",
}
_SLOT_NAMES = {short: name for name, short in _SLOT_KEYS.items()}
_FACT_NAMES = {short: name for name, short in _FACT_KEYS.items()}
_SINGLE_SHORT = frozenset(_SLOT_KEYS[s] for s in SINGLETON)
_MULTIPLE_SHORT = frozenset(_SLOT_KEYS[s] for s in MULTIPLE)


class RecordDecodeError(ValueError):
    """A stored record with a key this version does not know (written by a newer version?)."""


def _renamed(fact: dict[str, Any], names: dict[str, str], where: str) -> dict[str, Any]:
    try:
        return {names[k]: v for k, v in fact.items()}
    except KeyError as e:
        raise RecordDecodeError(f"unknown key {e.args[0]!r} in {where}") from None


def to_stored(rec: Record) -> dict[str, Any]:
    """The record with its stored (short) keys, as plain JSON-able dicts."""
    out: dict[str, Any] = {}
    for name, value in cast("dict[str, Any]", rec).items():
        short = _SLOT_KEYS[name]
        if short in _SINGLE_SHORT:
            value = _renamed(value, _FACT_KEYS, name)
        elif short in _MULTIPLE_SHORT:
            value = {eid: _renamed(f, _FACT_KEYS, name) for eid, f in value.items()}
        elif short == "old":
            value = {
                _SLOT_KEYS[slot]: {eid: _renamed(f, _FACT_KEYS, slot) for eid, f in facts.items()}
                for slot, facts in value.items()
            }
        out[short] = value
    return out


def from_stored(stored: dict[str, Any]) -> Record:
    """A record from its stored (short-key) form; :class:`RecordDecodeError` names an unknown key."""
    out: dict[str, Any] = {}
    for short, value in stored.items():
        name = _SLOT_NAMES.get(short)
        if name is None:
            raise RecordDecodeError(f"unknown record slot {short!r}")
        if short in _SINGLE_SHORT:
            value = _renamed(value, _FACT_NAMES, name)
        elif short in _MULTIPLE_SHORT:
            value = {eid: _renamed(f, _FACT_NAMES, name) for eid, f in value.items()}
        elif short == "old":
            value = {
                _SLOT_NAMES[slot]: {eid: _renamed(f, _FACT_NAMES, _SLOT_NAMES[slot]) for eid, f in facts.items()}
                for slot, facts in value.items()
            }
        out[name] = value
    return cast(Record, out)


def encode_record(rec: Record) -> bytes:
    # orjson returns its 4 KiB write buffer as the bytes object; a stored record would keep all
    # of it (4 GiB for a million open dossiers), so return an exact-size copy instead
    return bytes(memoryview(orjson.dumps(to_stored(rec))))


def decode_record(raw: bytes) -> Record:
    return from_stored(orjson.loads(raw))
