"""Fact records: what the worker remembers per entity, and the counts each record contributes.

A record is a small JSON-able dict per dossier / document / meeting / rating, keyed by
``unit|kind|id``. :func:`apply_event` merges one event into a record; the merge is
idempotent (the same event twice changes nothing) and commutative (any order gives the
same record), so duplicates, shuffles, crash-replays and rebalances all converge.

Counts are never stored: :func:`contributions` lists what a record adds to which field at
which time, and the aggregator applies ``contributions(new) - contributions(old)``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any, TypedDict

from schemas import events as ev
from streams.domain.counts import FIELD_INDEX as F
from streams.domain.windows import LATE, LocalCalendar, to_ms

# A record is a plain JSON-able dict (stored as compact JSON), on purpose: slots ``k`` (kind),
# ``p`` (partition), ``u``, ``pc``, ``dc``, ``wc``, ``src``, ``eids``, ``eh`` (fingerprints) and
# ``al`` (alert flags, set by the aggregator), plus one slot per fact (see ``_fact``).
Record = dict[str, Any]
Fact = dict[str, Any]  # one slot's content: event id ``eid``, times in epoch ms ``occ``, ``at``...


class DueFact(TypedDict):
    """What a reception (``rcv``) or supplement request (``sup``) fact says about the due date."""

    eid: str
    occ: int
    at: int
    due: int


Contribution = tuple[int, int, int]  # (time ms, field index, delta)

# Singleton facts: when two different events claim the same fact (a correction, or two
# systems), the one with the greatest (occurred_at, event_id) wins, whatever the arrival order.
SINGLETON = {"rcv", "res", "wd", "ref", "rate", "doc", "end"}


def record_key(event: ev.Envelope) -> tuple[str, str]:
    """(table key, record kind) for the entity this event is about."""
    unit = event.unit_key
    if isinstance(event, ev.SatisfactionRated):
        return f"{unit}|r|{event.rating_id}", "r"
    if isinstance(event, ev.DocumentIssued):
        return f"{unit}|di|{event.document_id}", "di"
    if isinstance(event, ev.DocumentReceived):
        return f"{unit}|dr|{event.document_id}", "dr"
    if isinstance(event, ev.MEETING_EVENTS):
        return f"{unit}|m|{event.meeting_id}", "m"
    return f"{unit}|d|{event.dossier_id}", "d"  # type: ignore[attr-defined]  # the rest are dossier events


def new_record(event: ev.Envelope, kind: str, partition: int) -> Record:
    return {
        "k": kind,
        "p": partition,
        "u": event.unit_key,
        "pc": event.province_code,
        "dc": event.district_code,
        "wc": event.ward_code,
        "src": event.source_system,
        "eids": [],
    }


def _fact(event: ev.Envelope) -> tuple[str, Fact]:
    """The slot an event fills and its content (times in epoch ms)."""
    e = event
    occ = to_ms(e.occurred_at)
    base = {"eid": str(e.event_id), "occ": occ}
    if isinstance(e, ev.DossierReceived):
        return "rcv", {
            **base,
            "at": to_ms(e.received_at),
            "due": to_ms(e.due_at),
            "ch": e.channel.value,
            "os": e.online_service.value if e.online_service else None,
            "proc": e.procedure_code,
            "fld": e.field,
        }
    if isinstance(e, ev.DossierResolved):
        return "res", {
            **base,
            "at": to_ms(e.resolved_at),
            "due": to_ms(e.due_at),
            "rcv": to_ms(e.received_at),
            "dig": e.result_digitised,
            "fee": e.fee_paid_online is not None,
            "paid": bool(e.fee_paid_online),
            "out": e.outcome.value,
            "ch": e.channel.value if e.channel else None,  # the report's channel when the reception is missing
        }
    if isinstance(e, ev.SupplementRequested):
        return "sup", {**base, "at": to_ms(e.requested_at), "due": to_ms(e.new_due_at)}
    if isinstance(e, ev.DossierTransferred):
        return "trf", {**base, "at": to_ms(e.transferred_at), "to": e.to_unit_code}
    if isinstance(e, ev.ApologyIssued):
        return "apo", {**base, "at": to_ms(e.issued_at), "due": to_ms(e.new_due_at) if e.new_due_at else None}
    if isinstance(e, ev.DossierWithdrawn):
        return "wd", {**base, "at": to_ms(e.withdrawn_at)}
    if isinstance(e, ev.DossierRefused):
        return "ref", {**base, "at": to_ms(e.refused_at)}
    if isinstance(e, ev.SatisfactionRated):
        return "rate", {**base, "at": to_ms(e.rated_at), "lvl": e.rating.value}
    if isinstance(e, ev.DocumentIssued):
        return "doc", {
            **base,
            "at": to_ms(e.issued_at),
            "signed": e.digitally_signed,
            "leader": e.signer_is_leader,
            "secret": e.secret,
            "cert": e.certificate_kind.value if e.certificate_kind else None,
        }
    if isinstance(e, ev.DocumentReceived):
        return "doc", {**base, "at": to_ms(e.received_at), "online": e.processed_online}
    if isinstance(e, ev.MeetingEnded):
        return "end", {
            **base,
            "at": to_ms(e.ended_at),
            "start": to_ms(e.started_at),
            "smooth": e.uninterrupted,
            "drops": e.connection_drops,
            "eps": e.endpoints_connected,
        }
    if isinstance(e, ev.MeetingScheduled):
        return "sched", {**base, "at": to_ms(e.scheduled_start), "eps": len(e.endpoints)}
    if isinstance(e, ev.MeetingStarted):
        return "start", {**base, "at": to_ms(e.started_at), "late": e.late_start_minutes}
    raise TypeError(f"no fact for {type(e).__name__}")


def _wins(new: Fact, old: Fact | None) -> bool:
    return old is None or (new["occ"], new["eid"]) > (old["occ"], old["eid"])


def fingerprint(event: ev.Envelope) -> int:
    """A 63-bit hash of everything an event says, to tell a redelivery (same ``event_id``, same
    content) from a producer reusing an id for something else (same id, different content)."""
    digest = hashlib.blake2b(event.model_dump_json().encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def event_id_key(eid: str) -> int:
    """An event id (UUID text) as the integer the worker's id index is keyed by."""
    return int(eid.replace("-", ""), 16)


def fingerprints(record: Record) -> Iterator[tuple[str, int | None]]:
    """(event id, fingerprint) of every event merged into the record; None for events merged by a
    version that kept no fingerprints (their reuse cannot be told from a redelivery)."""
    known = record.get("eh") or {}
    for eid in record["eids"]:
        yield eid, known.get(eid)


def apply_event(record: Record, event: ev.Envelope, fingerprint: int | None = None) -> bool:
    """Merge ``event`` into ``record`` in place. Returns False if it changed nothing (a duplicate).
    ``fingerprint`` (see :func:`fingerprint`) is kept beside the event id when given."""
    eid = str(event.event_id)
    if eid in record["eids"]:
        return False
    slot, fact = _fact(event)
    record["eids"].append(eid)
    if fingerprint is not None:
        record.setdefault("eh", {})[eid] = fingerprint
    record["eids"].sort()  # canonical, so records compare equal whatever the arrival order
    # identity fields that events may disagree on: keep the smallest, whatever the arrival order
    if event.district_code and (not record.get("dc") or event.district_code < record["dc"]):
        record["dc"] = event.district_code
    if event.source_system < record["src"]:
        record["src"] = event.source_system
    if slot in SINGLETON or slot in ("sched", "start"):
        if _wins(fact, record.get(slot)):
            record[slot] = fact
    else:  # many per entity (supplements, transfers, apologies): keep each, by event id
        record.setdefault(slot, {})[eid] = fact
    return True


def is_open(rec: Record) -> bool:
    """A dossier received and not yet resolved, withdrawn or refused (đang giải quyết)."""
    return rec["k"] == "d" and "rcv" in rec and not ("res" in rec or "wd" in rec or "ref" in rec)


def effective_due(rec: Record) -> int | None:
    """Due date in force: the latest restart by a supplement request, else the original."""
    rcv: DueFact | None = rec.get("rcv")
    if rcv is None:
        return None
    sups: dict[str, DueFact] | None = rec.get("sup")
    if sups:
        latest = max(sups.values(), key=lambda s: (s["at"], s["eid"]))
        return latest["due"]
    return rcv["due"]


def has_apology(rec: Record) -> bool:
    return bool(rec.get("apo"))


def latest_time(rec: Record) -> int:
    """The latest business time in a record (for rebuilding the watermark)."""
    best = 0
    for slot, v in rec.items():
        if isinstance(v, dict):
            if "at" in v and isinstance(v["at"], int):
                # a scheduling's event time is when it was announced, not the (future) meeting start
                best = max(best, v["occ"] if slot == "sched" else v["at"])
            else:
                for f in v.values():
                    if isinstance(f, dict) and isinstance(f.get("at"), int):
                        best = max(best, f["at"])
    return best


def contributions(rec: Record | None, cal: LocalCalendar) -> list[Contribution]:
    """What this record adds to the counts: (time, field index, delta) triples."""
    if not rec:
        return []
    out: list[Contribution] = []
    add = out.append
    k = rec["k"]
    if k == "d":
        rcv = rec.get("rcv")
        if rcv:
            t = rcv["at"]
            add((t, F["received"], 1))
            ch = rcv["ch"]
            if ch == "online":
                add((t, F["received_online"], 1))
                add((t, F["received_online_full"] if rcv["os"] == "full" else F["received_online_partial"], 1))
            elif ch == "in_person":
                add((t, F["received_in_person"], 1))
            else:
                add((t, F["received_postal"], 1))
        res = rec.get("res")
        if res:
            t = res["at"]
            add((t, F["resolved"], 1))
            cls = cal.classify_resolution(t, res["due"])
            add((t, F["resolved_" + cls], 1))
            if res["dig"]:
                add((t, F["results_digitised"], 1))
            if res["fee"]:
                add((t, F["fee_applicable"], 1))
                if res["paid"]:
                    add((t, F["paid_online"], 1))
            if cls == LATE and rec.get("apo"):
                add((t, F["late_with_apology"], 1))
        for s in rec.get("sup", {}).values():
            add((s["at"], F["supplements"], 1))
        for s in rec.get("trf", {}).values():
            add((s["at"], F["transfers"], 1))
        for s in rec.get("apo", {}).values():
            add((s["at"], F["apologies"], 1))
        if "wd" in rec:
            add((rec["wd"]["at"], F["withdrawn"], 1))
        if "ref" in rec:
            add((rec["ref"]["at"], F["refused"], 1))
    elif k == "r":
        r = rec.get("rate")
        if r:
            add((r["at"], F["ratings"], 1))
            add((r["at"], F["ratings_" + r["lvl"]], 1))
    elif k == "di":
        d = rec.get("doc")
        if d:
            t = d["at"]
            add((t, F["documents_issued"], 1))
            if d["signed"]:
                add((t, F["documents_signed"], 1))
                if d["leader"]:
                    add((t, F["documents_signed_by_leader"], 1))
            if d["secret"]:
                add((t, F["documents_secret"], 1))
    elif k == "dr":
        d = rec.get("doc")
        if d:
            add((d["at"], F["documents_received"], 1))
            if d["online"]:
                add((d["at"], F["documents_processed_online"], 1))
    elif k == "m":
        e = rec.get("end")
        if e:
            add((e["at"], F["meetings_held"], 1))
            if e["smooth"]:
                add((e["at"], F["meetings_uninterrupted"], 1))
            if e["drops"]:
                add((e["at"], F["meeting_connection_drops"], e["drops"]))
    return out
