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

from typing import Any

from common.measurements import REPORT_FIELDS, UNKNOWN_TAG
from streams.domain.records import Record
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


def report_group(rec: Record) -> ReportGroup:
    """The report row a dossier counts in: its field, procedure and reception channel (online_full —
    toàn trình —, online_partial — một phần —, in_person, postal; ``online`` when a resolution said
    online without the level; ``-`` when nothing said), from its reception or else its resolution."""
    rcv = rec.get("rcv")
    if rcv is None:
        res = rec.get("res")
        channel = res.get("ch") if res else None
        return UNKNOWN_TAG, UNKNOWN_TAG, channel or UNKNOWN_TAG
    ch = rcv["ch"]
    if ch == "online":
        ch = "online_full" if rcv["os"] == "full" else "online_partial"
    return rcv["fld"] or UNKNOWN_TAG, rcv["proc"] or UNKNOWN_TAG, ch


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
    if not rec or rec["k"] != "d":
        return []
    rcv = rec.get("rcv")
    res = rec.get("res")
    if rcv is not None:
        received, channel, schedule = rcv["at"], rcv["ch"], [(rcv["at"], rcv["due"])]
        sups = rec.get("sup")
        if sups:
            # in request order, ties by event id: the one effective_due() holds in force last
            ordered = sorted(sups.values(), key=lambda s: (s["at"], s["eid"]))
            schedule.extend((s["at"], s["due"]) for s in ordered)
    elif res is not None:
        received, channel, schedule = res["rcv"], res.get("ch"), [(res["rcv"], res["due"])]
    else:
        return []  # a withdrawal or refusal alone: no reception to count it against
    out: list[ReportFlow] = [(received, _RECEIVED.get(channel, _R["received_unknown_channel"]), 1)]
    closed: int | None = None
    if res is not None:
        closed = max(res["at"], received)
        out.append((closed, _R["resolved_" + cal.classify_resolution(res["at"], res["due"])], 1))
    elif "wd" in rec:
        closed = max(rec["wd"]["at"], received)
        out.append((closed, _R["withdrawn"], 1))
    elif "ref" in rec:
        closed = max(rec["ref"]["at"], received)
        out.append((closed, _R["refused"], 1))
    for start, end in overdue_intervals(received, schedule, closed):
        out.append((start, _STARTED, 1))
        if end is not None:
            out.append((end, _ENDED, 1))
    return out


def earlier_states(rec: Record) -> list[Record]:
    """The states a dossier record went through before this one, as far as the report is concerned:
    open (before its closure), before each of its supplement requests, and a resolution read
    without its reception. A worker that owned the dossier earlier may have written the report
    flows of any of them (an overdue start ahead of a closure that came later, a reception under
    the unknown group), so a worker that rebuilds the record writes those points again, in full:
    otherwise a point only an earlier owner knew would keep its stale count."""
    if rec["k"] != "d":
        return []
    closed = {k: v for k, v in rec.items() if k not in ("res", "wd", "ref")}
    out: list[Record] = []
    if "rcv" in rec:
        sups: dict[str, Any] = rec.get("sup") or {}
        ordered = sorted(sups.values(), key=lambda s: (s["at"], s["eid"]))
        for n in range(len(ordered) + 1):
            state = dict(closed)
            state["sup"] = {s["eid"]: s for s in ordered[:n]}
            out.append(state)
        if "res" in rec:
            out.append({k: v for k, v in rec.items() if k not in ("rcv", "sup")})
    return out
