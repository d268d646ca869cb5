"""The periodic report's flows of one dossier record (no I/O): see ``report_counts`` in
:mod:`common.measurements`.

A dossier contributes, at the instants they happen:
- its reception, once, by channel (from the reception event; from the received_at its
  resolution carries when the reception was never read, with the resolution's channel if any);
- its closure, once: resolved (early / on time / late), else withdrawn, else refused; never
  before its reception (a closure stamped earlier counts at the reception instant);
- the instants it became overdue while open, and stopped being overdue (closed, or given a
  later due date by a supplement request: the due date in force at each instant counts).

Every period figure of the report is a sum of these flows over local days, which is what makes
carried over + received = resolved + withdrawn + refused + in process at the end hold exactly.
"""

from __future__ import annotations

from common.measurements import REPORT_FIELDS, UNKNOWN_TAG
from streams.domain.records import ClosureFact, ReceptionFact, Record, ResolutionFact
from streams.domain.windows import LocalCalendar

REPORT_INDEX: dict[str, int] = {name: i for i, name in enumerate(REPORT_FIELDS)}
_R = REPORT_INDEX
_RECEIVED = {
    "online": _R["received_online"],
    "in_person": _R["received_in_person"],
    "postal": _R["received_postal"],
    None: _R["received_unknown_channel"],
}
_STARTED, _ENDED = _R["overdue_started"], _R["overdue_ended"]

ReportGroup = tuple[str, str, str]  # (field — lĩnh vực —, procedure code, channel)
ReportFlow = tuple[int, int, int]  # (time ms, REPORT_FIELDS index, delta)


def _received_group(rcv: ReceptionFact) -> ReportGroup:
    channel = rcv["channel"]
    if channel == "online":
        channel = "online_full" if rcv["online_service"] == "full" else "online_partial"
    return rcv["field"] or UNKNOWN_TAG, rcv["procedure_code"] or UNKNOWN_TAG, channel


def _unreceived_group(res: ResolutionFact | None) -> ReportGroup:
    channel = res["channel"] if res else None
    return UNKNOWN_TAG, UNKNOWN_TAG, channel or UNKNOWN_TAG


def report_group(rec: Record) -> ReportGroup:
    """The report row a dossier counts in: its field, procedure and reception channel (online_full —
    toàn trình —, online_partial — một phần —, in_person, postal; ``online`` when a resolution said
    online without the level; ``-`` when nothing said), from its reception or else its resolution."""
    rcv = rec.get("reception")
    return _received_group(rcv) if rcv is not None else _unreceived_group(rec.get("resolution"))


def overdue_intervals(
    received: int, schedule: list[tuple[int, int]], closed: int | None
) -> list[tuple[int, int | None]]:
    """[start, end) intervals during which a dossier open over [received, closed) was overdue.

    ``schedule`` lists (from instant, due date) changes in time order: the reception's due date
    first, then each supplement request's. Overdue at t means the due date in force at t has
    passed (t > due: a dossier resolved exactly at its due instant is on time). ``end`` is None
    while the dossier is still open. Adjacent intervals are merged.
    """
    out: list[tuple[int, int | None]] = []
    for i, (since, due) in enumerate(schedule):
        a = max(since, received)
        b = schedule[i + 1][0] if i + 1 < len(schedule) else closed
        if b is not None and closed is not None:
            b = min(b, closed)
        start = max(a, due + 1)
        if b is not None and start >= b:
            continue
        if out and out[-1][1] == start:
            out[-1] = (out[-1][0], b)
        else:
            out.append((start, b))
        if b is None or (closed is not None and b >= closed):
            break
    return out


def report_flows(rec: Record | None, cal: LocalCalendar) -> list[ReportFlow]:
    """The report flows of a record (dossiers only; other kinds give none)."""
    if not rec or rec["kind"] != "d":
        return []
    rcv = rec.get("reception")
    res = rec.get("resolution")
    channel: str | None
    if rcv is not None:
        received, channel, schedule = rcv["at_ms"], rcv["channel"], [(rcv["at_ms"], rcv["due_ms"])]
        sups = rec.get("supplements")
        if sups:
            # in request order, ties by event id: the one effective_due() holds in force last
            ordered = sorted(sups.values(), key=lambda s: (s["at_ms"], s["event_id"]))
            schedule.extend((s["at_ms"], s["due_ms"]) for s in ordered)
    elif res is not None:
        received, channel, schedule = res["received_ms"], res["channel"], [(res["received_ms"], res["due_ms"])]
    else:
        return []  # a withdrawal or refusal alone: no reception to count it against
    out: list[ReportFlow] = [(received, _RECEIVED.get(channel, _R["received_unknown_channel"]), 1)]
    closed: int | None = None
    if res is not None:
        closed = max(res["at_ms"], received)
        out.append((closed, _R["resolved_" + cal.classify_resolution(res["at_ms"], res["due_ms"])], 1))
    elif "withdrawal" in rec:
        closed = max(rec["withdrawal"]["at_ms"], received)
        out.append((closed, _R["withdrawn"], 1))
    elif "refusal" in rec:
        closed = max(rec["refusal"]["at_ms"], received)
        out.append((closed, _R["refused"], 1))
    for start, end in overdue_intervals(received, schedule, closed):
        out.append((start, _STARTED, 1))
        if end is not None:
            out.append((end, _ENDED, 1))
    return out


def rewrite_buckets(rec: Record, cal: LocalCalendar) -> set[tuple[ReportGroup, int]]:
    """Every report bucket (group, local day) in which some earlier state of this dossier record
    may have had flows: a worker that owned the dossier before may have written points for any
    subset of its events (an overdue start ahead of a closure that came later, a reception under
    the unknown group, a resolution a correction replaced), so a worker that rebuilds the record
    writes those points again, in full: otherwise a point only an earlier owner knew would keep
    its stale count.

    A superset is enough, and cheap: any state's group is one of its receptions' groups (the one
    in force or one a correction replaced) or the unknown group of one of its resolutions, and any
    flow's instant is one of the facts' instants (received, closed, a supplement request) or just
    after one of their due dates (see :func:`overdue_intervals`)."""
    if rec["kind"] != "d":
        return set()
    old = rec.get("superseded", {})
    receptions: list[ReceptionFact] = list(old.get("reception", {}).values())
    resolutions: list[ResolutionFact] = list(old.get("resolution", {}).values())
    closures: list[ClosureFact] = [*old.get("withdrawal", {}).values(), *old.get("refusal", {}).values()]
    if "reception" in rec:
        receptions.append(rec["reception"])
    if "resolution" in rec:
        resolutions.append(rec["resolution"])
    closures.extend(rec[slot] for slot in ("withdrawal", "refusal") if slot in rec)
    supplements = list(rec.get("supplements", {}).values())
    groups = {_received_group(r) for r in receptions} | {_unreceived_group(r) for r in resolutions}
    times = [f["at_ms"] for f in (*receptions, *resolutions, *closures, *supplements)]
    times.extend(f["due_ms"] + 1 for f in (*receptions, *resolutions, *supplements))
    times.extend(r["received_ms"] for r in resolutions)
    days = {cal.local_day(t) for t in times}
    return {(group, day) for group in groups for day in days}
