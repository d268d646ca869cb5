"""Fact records: what the worker remembers per entity, and the counts each record contributes.

A record (:class:`Record`) is a small JSON-able dict per dossier / document / meeting / rating /
citizen feedback item,
keyed by ``unit|kind|id``; ``streams.domain.record_codec`` stores it with short keys.
:func:`apply_event` merges one event into a record; the merge is idempotent (the same event twice
changes nothing) and commutative (any order gives the same record), so duplicates, shuffles,
crash-replays and rebalances all converge.

Counts are never stored: :func:`contributions` lists what a record adds to which field at
which time, and the aggregator applies ``contributions(new) - contributions(old)``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any, Literal, Required, TypedDict, cast

from schemas import events as ev
from streams.domain.counts import FIELD_INDEX as F
from streams.domain.windows import LATE, LocalCalendar, to_ms

RecordKind = Literal["d", "r", "di", "dr", "m", "f"]
"""What a record is about: ``d`` a dossier (hồ sơ), ``r`` a satisfaction rating, ``di`` an issued
document (văn bản đi), ``dr`` a received document (văn bản đến), ``m`` an online meeting, ``f`` a
citizen feedback item (phản ánh, kiến nghị — PAKN). The kind is part of the table key
(``unit|kind|id``), hence the short values."""

ONE_STOP_KINDS = frozenset({"d", "r", "f"})
"""The kinds whose events come on the dossier topic (one-stop systems): their event times drive the
partition's alert clock (dossier and feedback due dates)."""

# Facts: what one event says, times in epoch milliseconds. ``at_ms`` is when the thing happened
# (received, resolved, issued...), ``occurred_ms`` the event's own time, which orders two events
# claiming the same singleton fact.


class ReceptionFact(TypedDict):
    """The dossier's reception (tiếp nhận), from DossierReceived."""

    event_id: str
    occurred_ms: int
    at_ms: int
    due_ms: int
    channel: str
    online_service: str | None
    procedure_code: str
    field: str | None


class ResolutionFact(TypedDict):
    """The dossier's resolution (trả kết quả), from DossierResolved; ``received_ms``, ``due_ms`` and
    ``channel`` repeat the reception's, for a resolution whose reception never came."""

    event_id: str
    occurred_ms: int
    at_ms: int
    due_ms: int
    received_ms: int
    result_digitised: bool
    fee_applicable: bool
    paid_online: bool
    outcome: str
    channel: str | None


class DueChangeFact(TypedDict):
    """A supplement request (yêu cầu bổ sung), which restarts the due date at ``due_ms``."""

    event_id: str
    occurred_ms: int
    at_ms: int
    due_ms: int


class TransferFact(TypedDict):
    """A transfer (luân chuyển) to another unit."""

    event_id: str
    occurred_ms: int
    at_ms: int
    to_unit_code: str


class ApologyFact(TypedDict):
    """An apology letter (phiếu xin lỗi và hẹn lại ngày trả), with its new due date if it gives one."""

    event_id: str
    occurred_ms: int
    at_ms: int
    due_ms: int | None


class ClosureFact(TypedDict):
    """A withdrawal (rút hồ sơ) or a refusal (từ chối)."""

    event_id: str
    occurred_ms: int
    at_ms: int


class RatingFact(TypedDict):
    """A citizen's satisfaction rating (đánh giá mức độ hài lòng)."""

    event_id: str
    occurred_ms: int
    at_ms: int
    rating: str


class FeedbackReceptionFact(TypedDict):
    """A feedback item's reception (tiếp nhận phản ánh, kiến nghị), from FeedbackReceived; no
    personal data, no text: channel, subject, field and the related dossier only."""

    event_id: str
    occurred_ms: int
    at_ms: int
    due_ms: int
    channel: str
    subject: str
    field: str | None
    related_dossier_id: str | None


class FeedbackHandlingFact(TypedDict):
    """A feedback item's handling (đã xử lý, trả lời), from FeedbackHandled; ``received_ms`` and
    ``due_ms`` repeat the reception's, for a handling whose reception never came."""

    event_id: str
    occurred_ms: int
    at_ms: int
    due_ms: int
    received_ms: int
    outcome: str


class IssuedDocumentFact(TypedDict):
    """An outgoing document (văn bản đi) and how it was signed (ký số)."""

    event_id: str
    occurred_ms: int
    at_ms: int
    digitally_signed: bool
    signer_is_leader: bool
    secret: bool
    certificate_kind: str | None


class ReceivedDocumentFact(TypedDict):
    """An incoming document (văn bản đến) and whether it was processed online."""

    event_id: str
    occurred_ms: int
    at_ms: int
    processed_online: bool


class MeetingEndFact(TypedDict):
    """An online meeting's end (họp trực tuyến), with how it went."""

    event_id: str
    occurred_ms: int
    at_ms: int
    started_ms: int
    uninterrupted: bool
    connection_drops: int
    endpoints: int


class MeetingScheduleFact(TypedDict):
    """A meeting's scheduling; ``at_ms`` is the planned start (in the future when announced)."""

    event_id: str
    occurred_ms: int
    at_ms: int
    endpoints: int


class MeetingStartFact(TypedDict):
    event_id: str
    occurred_ms: int
    at_ms: int
    late_start_minutes: int


Fact = (
    ReceptionFact
    | ResolutionFact
    | DueChangeFact
    | TransferFact
    | ApologyFact
    | ClosureFact
    | RatingFact
    | FeedbackReceptionFact
    | FeedbackHandlingFact
    | IssuedDocumentFact
    | ReceivedDocumentFact
    | MeetingEndFact
    | MeetingScheduleFact
    | MeetingStartFact
)


class Record(TypedDict, total=False):
    """What the worker remembers of one entity: who it belongs to, the ids (and fingerprints) of
    every event merged into it, and one slot per fact. Stored compact (``record_codec``)."""

    kind: Required[RecordKind]
    partition: Required[int]
    unit: Required[str]
    province_code: Required[str]
    district_code: Required[str | None]
    ward_code: Required[str | None]
    source_system: Required[str]
    event_ids: Required[list[str]]
    fingerprints: dict[str, int]
    # alert kind -> [when it fired, the due date it fired for, the nanosecond within that millisecond
    # of its dossier_alerts point], set by the aggregator. The nanosecond keeps the point where it
    # was first written across restarts and rebalances; records of earlier versions have only
    # [at, due], and the aggregator's rebuild gives those a nanosecond (Aggregator.rebuild)
    alerts_raised: dict[str, list[int]]
    # the facts a correction replaced (slot -> event id -> fact), for the report slots only: a
    # worker that owned the dossier or feedback item earlier may have written report_counts or
    # feedback_flows points from them
    superseded: dict[str, dict[str, Any]]
    reception: ReceptionFact
    resolution: ResolutionFact
    supplements: dict[str, DueChangeFact]  # by event id: a dossier can have several
    transfers: dict[str, TransferFact]
    apologies: dict[str, ApologyFact]
    withdrawal: ClosureFact
    refusal: ClosureFact
    rating: RatingFact
    document: IssuedDocumentFact | ReceivedDocumentFact
    meeting_end: MeetingEndFact
    meeting_schedule: MeetingScheduleFact
    meeting_start: MeetingStartFact
    # citizen feedback (kind "f"); its transfers use ``transfers``
    feedback_reception: FeedbackReceptionFact
    feedback_handling: FeedbackHandlingFact
    feedback_rating: RatingFact


Contribution = tuple[int, int, int]  # (time ms, field index, delta)

# Singleton facts: when two different events claim the same fact (a correction, or two
# systems), the one with the greatest (occurred_at, event_id) wins, whatever the arrival order.
SINGLETON = frozenset(
    {
        "reception",
        "resolution",
        "withdrawal",
        "refusal",
        "rating",
        "document",
        "meeting_end",
        "meeting_schedule",
        "meeting_start",
        "feedback_reception",
        "feedback_handling",
        "feedback_rating",
    }
)
# Facts an entity can have several of, kept by event id.
MULTIPLE = frozenset({"supplements", "transfers", "apologies"})
CLOSURES = ("resolution", "withdrawal", "refusal")
# singleton facts whose superseded versions are kept (see Record.superseded): the dossier report's
# and the feedback flows' (feedback_flows)
REPORT_SLOTS = frozenset({"reception", *CLOSURES, "feedback_reception", "feedback_handling"})


def record_key(event: ev.Envelope) -> tuple[str, RecordKind]:
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
    if isinstance(event, ev.FEEDBACK_EVENTS):
        return f"{unit}|f|{event.feedback_id}", "f"
    return f"{unit}|d|{event.dossier_id}", "d"  # type: ignore[attr-defined]  # the rest are dossier events


def new_record(event: ev.Envelope, kind: RecordKind, partition: int) -> Record:
    return {
        "kind": kind,
        "partition": partition,
        "unit": event.unit_key,
        "province_code": event.province_code,
        "district_code": event.district_code,
        "ward_code": event.ward_code,
        "source_system": event.source_system,
        "event_ids": [],
    }


def _fact(event: ev.Envelope) -> tuple[str, Fact]:
    """The slot an event fills and its content (times in epoch ms)."""
    e = event
    eid, occ = str(e.event_id), to_ms(e.occurred_at)
    if isinstance(e, ev.DossierReceived):
        return "reception", ReceptionFact(
            event_id=eid,
            occurred_ms=occ,
            at_ms=to_ms(e.received_at),
            due_ms=to_ms(e.due_at),
            channel=e.channel.value,
            online_service=e.online_service.value if e.online_service else None,
            procedure_code=e.procedure_code,
            field=e.field,
        )
    if isinstance(e, ev.DossierResolved):
        return "resolution", ResolutionFact(
            event_id=eid,
            occurred_ms=occ,
            at_ms=to_ms(e.resolved_at),
            due_ms=to_ms(e.due_at),
            received_ms=to_ms(e.received_at),
            result_digitised=e.result_digitised,
            fee_applicable=e.fee_paid_online is not None,
            paid_online=bool(e.fee_paid_online),
            outcome=e.outcome.value,
            channel=e.channel.value if e.channel else None,  # the report's channel when the reception is missing
        )
    if isinstance(e, ev.SupplementRequested):
        return "supplements", DueChangeFact(
            event_id=eid, occurred_ms=occ, at_ms=to_ms(e.requested_at), due_ms=to_ms(e.new_due_at)
        )
    if isinstance(e, ev.DossierTransferred):
        return "transfers", TransferFact(
            event_id=eid, occurred_ms=occ, at_ms=to_ms(e.transferred_at), to_unit_code=e.to_unit_code
        )
    if isinstance(e, ev.ApologyIssued):
        return "apologies", ApologyFact(
            event_id=eid,
            occurred_ms=occ,
            at_ms=to_ms(e.issued_at),
            due_ms=to_ms(e.new_due_at) if e.new_due_at else None,
        )
    if isinstance(e, ev.DossierWithdrawn):
        return "withdrawal", ClosureFact(event_id=eid, occurred_ms=occ, at_ms=to_ms(e.withdrawn_at))
    if isinstance(e, ev.DossierRefused):
        return "refusal", ClosureFact(event_id=eid, occurred_ms=occ, at_ms=to_ms(e.refused_at))
    if isinstance(e, ev.SatisfactionRated):
        return "rating", RatingFact(event_id=eid, occurred_ms=occ, at_ms=to_ms(e.rated_at), rating=e.rating.value)
    if isinstance(e, ev.DocumentIssued):
        return "document", IssuedDocumentFact(
            event_id=eid,
            occurred_ms=occ,
            at_ms=to_ms(e.issued_at),
            digitally_signed=e.digitally_signed,
            signer_is_leader=e.signer_is_leader,
            secret=e.secret,
            certificate_kind=e.certificate_kind.value if e.certificate_kind else None,
        )
    if isinstance(e, ev.DocumentReceived):
        return "document", ReceivedDocumentFact(
            event_id=eid, occurred_ms=occ, at_ms=to_ms(e.received_at), processed_online=e.processed_online
        )
    if isinstance(e, ev.MeetingEnded):
        return "meeting_end", MeetingEndFact(
            event_id=eid,
            occurred_ms=occ,
            at_ms=to_ms(e.ended_at),
            started_ms=to_ms(e.started_at),
            uninterrupted=e.uninterrupted,
            connection_drops=e.connection_drops,
            endpoints=e.endpoints_connected,
        )
    if isinstance(e, ev.MeetingScheduled):
        return "meeting_schedule", MeetingScheduleFact(
            event_id=eid, occurred_ms=occ, at_ms=to_ms(e.scheduled_start), endpoints=len(e.endpoints)
        )
    if isinstance(e, ev.MeetingStarted):
        return "meeting_start", MeetingStartFact(
            event_id=eid, occurred_ms=occ, at_ms=to_ms(e.started_at), late_start_minutes=e.late_start_minutes
        )
    if isinstance(e, ev.FeedbackReceived):
        return "feedback_reception", FeedbackReceptionFact(
            event_id=eid,
            occurred_ms=occ,
            at_ms=to_ms(e.received_at),
            due_ms=to_ms(e.due_at),
            channel=e.channel.value,
            subject=e.subject.value,
            field=e.field,
            related_dossier_id=e.related_dossier_id,
        )
    if isinstance(e, ev.FeedbackHandled):
        return "feedback_handling", FeedbackHandlingFact(
            event_id=eid,
            occurred_ms=occ,
            at_ms=to_ms(e.handled_at),
            due_ms=to_ms(e.due_at),
            received_ms=to_ms(e.received_at),
            outcome=e.outcome.value,
        )
    if isinstance(e, ev.FeedbackTransferred):
        # a feedback item can be transferred more than once, as a dossier can: kept by event id
        return "transfers", TransferFact(
            event_id=eid, occurred_ms=occ, at_ms=to_ms(e.transferred_at), to_unit_code=e.to_unit_code
        )
    if isinstance(e, ev.FeedbackRated):
        # one satisfaction per item: a second rating (changed mind, or a second system) is a
        # correction, and the latest (occurred_at, event_id) wins as for every singleton
        return "feedback_rating", RatingFact(
            event_id=eid, occurred_ms=occ, at_ms=to_ms(e.rated_at), rating=e.rating.value
        )
    raise TypeError(f"no fact for {type(e).__name__}")


def _wins(new: Fact, old: Fact | None) -> bool:
    return old is None or (new["occurred_ms"], new["event_id"]) > (old["occurred_ms"], old["event_id"])


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
    known = record.get("fingerprints") or {}
    for eid in record["event_ids"]:
        yield eid, known.get(eid)


def apply_event(record: Record, event: ev.Envelope, fingerprint: int | None = None) -> bool:
    """Merge ``event`` into ``record`` in place. Returns False if it changed nothing (a duplicate).
    ``fingerprint`` (see :func:`fingerprint`) is kept beside the event id when given."""
    eid = str(event.event_id)
    if eid in record["event_ids"]:
        return False
    slot, fact = _fact(event)
    record["event_ids"].append(eid)
    if fingerprint is not None:
        record.setdefault("fingerprints", {})[eid] = fingerprint
    record["event_ids"].sort()  # canonical, so records compare equal whatever the arrival order
    # identity fields that events may disagree on: keep the smallest, whatever the arrival order
    district = record.get("district_code")
    if event.district_code and (not district or event.district_code < district):
        record["district_code"] = event.district_code
    if event.source_system < record["source_system"]:
        record["source_system"] = event.source_system
    # the slot is chosen at run time, which a TypedDict cannot follow: _fact pairs each slot with
    # its fact's type
    slots = cast("dict[str, Any]", record)
    if slot in SINGLETON:
        current: Fact | None = slots.get(slot)
        loser: Fact | None = fact
        if _wins(fact, current):
            slots[slot], loser = fact, current
        if loser is not None and slot in REPORT_SLOTS:
            # every fact but the winner, whatever the arrival order: records still compare equal
            record.setdefault("superseded", {}).setdefault(slot, {})[loser["event_id"]] = loser
    else:  # many per entity (supplements, transfers, apologies): keep each, by event id
        slots.setdefault(slot, {})[eid] = fact
    return True


def is_open(rec: Record) -> bool:
    """A dossier received and not yet resolved, withdrawn or refused (đang giải quyết)."""
    return (
        rec["kind"] == "d"
        and "reception" in rec
        and not ("resolution" in rec or "withdrawal" in rec or "refusal" in rec)
    )


def effective_due(rec: Record) -> int | None:
    """Due date in force: the latest restart by a supplement request, else the original."""
    rcv = rec.get("reception")
    if rcv is None:
        return None
    sups = rec.get("supplements")
    if sups:
        latest = max(sups.values(), key=lambda s: (s["at_ms"], s["event_id"]))
        return latest["due_ms"]
    return rcv["due_ms"]


def feedback_is_open(rec: Record) -> bool:
    """A feedback item received and not yet handled (phản ánh, kiến nghị đang xử lý)."""
    return rec["kind"] == "f" and "feedback_reception" in rec and "feedback_handling" not in rec


def feedback_due(rec: Record) -> int | None:
    """A feedback item's due date (hạn xử lý) from its reception; None before the reception is seen."""
    rcv = rec.get("feedback_reception")
    return rcv["due_ms"] if rcv else None


def has_apology(rec: Record) -> bool:
    return bool(rec.get("apologies"))


def latest_time(rec: Record) -> int:
    """The latest business time in a record (for rebuilding the watermark)."""
    times: list[int] = [0]
    for slot in SINGLETON:
        fact = cast("Fact | None", rec.get(slot))
        if fact is not None:
            # a scheduling's event time is when it was announced, not the (future) meeting start
            times.append(fact["occurred_ms"] if slot == "meeting_schedule" else fact["at_ms"])
    for slot in MULTIPLE:
        many = cast("dict[str, Fact]", rec.get(slot) or {})
        times.extend(f["at_ms"] for f in many.values())
    return max(times)


def contributions(rec: Record | None, cal: LocalCalendar) -> list[Contribution]:
    """What this record adds to the counts: (time, field index, delta) triples."""
    if not rec:
        return []
    out: list[Contribution] = []
    add = out.append
    kind = rec["kind"]
    if kind == "d":
        rcv = rec.get("reception")
        if rcv:
            t = rcv["at_ms"]
            add((t, F["received"], 1))
            channel = rcv["channel"]
            if channel == "online":
                add((t, F["received_online"], 1))
                full = rcv["online_service"] == "full"
                add((t, F["received_online_full"] if full else F["received_online_partial"], 1))
            elif channel == "in_person":
                add((t, F["received_in_person"], 1))
            else:
                add((t, F["received_postal"], 1))
        res = rec.get("resolution")
        if res:
            t = res["at_ms"]
            add((t, F["resolved"], 1))
            cls = cal.classify_resolution(t, res["due_ms"])
            add((t, F["resolved_" + cls], 1))
            if res["result_digitised"]:
                add((t, F["results_digitised"], 1))
            if res["fee_applicable"]:
                add((t, F["fee_applicable"], 1))
                if res["paid_online"]:
                    add((t, F["paid_online"], 1))
            if cls == LATE and rec.get("apologies"):
                add((t, F["late_with_apology"], 1))
        for sup in rec.get("supplements", {}).values():
            add((sup["at_ms"], F["supplements"], 1))
        for trf in rec.get("transfers", {}).values():
            add((trf["at_ms"], F["transfers"], 1))
        for apo in rec.get("apologies", {}).values():
            add((apo["at_ms"], F["apologies"], 1))
        if "withdrawal" in rec:
            add((rec["withdrawal"]["at_ms"], F["withdrawn"], 1))
        if "refusal" in rec:
            add((rec["refusal"]["at_ms"], F["refused"], 1))
    elif kind == "r":
        rating = rec.get("rating")
        if rating:
            add((rating["at_ms"], F["ratings"], 1))
            add((rating["at_ms"], F["ratings_" + rating["rating"]], 1))
    elif kind == "di":
        issued = cast("IssuedDocumentFact | None", rec.get("document"))
        if issued:
            t = issued["at_ms"]
            add((t, F["documents_issued"], 1))
            if issued["digitally_signed"]:
                add((t, F["documents_signed"], 1))
                if issued["signer_is_leader"]:
                    add((t, F["documents_signed_by_leader"], 1))
            if issued["secret"]:
                add((t, F["documents_secret"], 1))
    elif kind == "dr":
        received = cast("ReceivedDocumentFact | None", rec.get("document"))
        if received:
            add((received["at_ms"], F["documents_received"], 1))
            if received["processed_online"]:
                add((received["at_ms"], F["documents_processed_online"], 1))
    elif kind == "m":
        end = rec.get("meeting_end")
        if end:
            add((end["at_ms"], F["meetings_held"], 1))
            if end["uninterrupted"]:
                add((end["at_ms"], F["meetings_uninterrupted"], 1))
            if end["connection_drops"]:
                add((end["at_ms"], F["meeting_connection_drops"], end["connection_drops"]))
    elif kind == "f":
        _feedback_contributions(rec, cal, add)
    return out


def _feedback_contributions(rec: Record, cal: LocalCalendar, add: Callable[[Contribution], None]) -> None:
    """A feedback item's counts: received at its reception; handled early / on time / late at its
    handling, against the due date the handling carries (set in working days by the handling
    system) and classified by the same rule as a dossier's resolution; its transfers; and the
    citizen's satisfaction at the rating."""
    rcv = rec.get("feedback_reception")
    if rcv:
        add((rcv["at_ms"], F["feedback_received"], 1))
    handling = rec.get("feedback_handling")
    if handling:
        t = handling["at_ms"]
        add((t, F["feedback_handled"], 1))
        add((t, F["feedback_handled_" + cal.classify_resolution(t, handling["due_ms"])], 1))
    for trf in rec.get("transfers", {}).values():
        add((trf["at_ms"], F["feedback_transferred"], 1))
    rating = rec.get("feedback_rating")
    if rating:
        add((rating["at_ms"], F["feedback_ratings"], 1))
        add((rating["at_ms"], F["feedback_ratings_" + rating["rating"]], 1))
