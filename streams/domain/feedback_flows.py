"""Citizen feedback's daily flows (no I/O): see ``feedback_flows`` in :mod:`common.measurements`.

A feedback item (phản ánh, kiến nghị — PAKN) contributes, at the instants they happen:
- its reception (tiếp nhận), once: from its reception event, else from the received_at its
  handling carries;
- its handling (đã xử lý), once, never before its reception (a handling stamped earlier counts at
  the reception instant);
- the instant it became overdue while open (quá hạn: due date + 1 ms, since an item handled
  exactly at its due instant is on time) and, if it was handled after that, the instant it
  stopped being overdue (its handling).

The due date is the reception's, the one the ``feedback_overdue`` alert watches; the handling's
own due_at only when the reception was not read. So, summed over the local days before an
instant T: open at T = received − handled, open and overdue at T = overdue started − overdue
ended, and open at a period's start + received in it = handled in it + open at its end, exactly.
These are the stocks Decision 766's criteria 5.2 and 5.3 count at a period's end.
"""

from __future__ import annotations

from common.measurements import FEEDBACK_FLOW_FIELDS
from streams.domain.records import FeedbackHandlingFact, FeedbackReceptionFact, Record
from streams.domain.report_flows import overdue_intervals
from streams.domain.windows import LocalCalendar

FEEDBACK_FLOW_INDEX: dict[str, int] = {name: i for i, name in enumerate(FEEDBACK_FLOW_FIELDS)}
_RECEIVED = FEEDBACK_FLOW_INDEX["received"]
_HANDLED = FEEDBACK_FLOW_INDEX["handled"]
_STARTED = FEEDBACK_FLOW_INDEX["overdue_started"]
_ENDED = FEEDBACK_FLOW_INDEX["overdue_ended"]

FeedbackFlow = tuple[int, int, int]  # (time ms, FEEDBACK_FLOW_FIELDS index, delta)


def feedback_flows(rec: Record | None) -> list[FeedbackFlow]:
    """The daily flows of a feedback record (luồng phản ánh, kiến nghị); other kinds give none."""
    if not rec or rec["kind"] != "f":
        return []
    rcv = rec.get("feedback_reception")
    handling = rec.get("feedback_handling")
    if rcv is not None:
        received, due = rcv["at_ms"], rcv["due_ms"]
    elif handling is not None:
        received, due = handling["received_ms"], handling["due_ms"]
    else:
        return []  # a transfer or a rating alone: no reception to count it against
    out: list[FeedbackFlow] = [(received, _RECEIVED, 1)]
    handled: int | None = None
    if handling is not None:
        handled = max(handling["at_ms"], received)
        out.append((handled, _HANDLED, 1))
    for start, end in overdue_intervals(received, [(received, due)], handled):
        out.append((start, _STARTED, 1))
        if end is not None:
            out.append((end, _ENDED, 1))
    return out


def feedback_rewrite_days(rec: Record, cal: LocalCalendar) -> set[int]:
    """Every local day on which some earlier state of this feedback record may have had flows: a
    worker that owned the item before may have written points for any subset of its events (an
    overdue start a late-read handling undid, a reception a correction replaced), so a worker that
    rebuilds the record writes those days again, in full (see ``report_flows.rewrite_buckets``).

    A superset: any flow's instant is a fact's instant (received, handled, the received_at a
    handling carries) or just after one of their due dates."""
    if rec["kind"] != "f":
        return set()
    old = rec.get("superseded", {})
    receptions: list[FeedbackReceptionFact] = list(old.get("feedback_reception", {}).values())
    handlings: list[FeedbackHandlingFact] = list(old.get("feedback_handling", {}).values())
    if "feedback_reception" in rec:
        receptions.append(rec["feedback_reception"])
    if "feedback_handling" in rec:
        handlings.append(rec["feedback_handling"])
    times = [f["at_ms"] for f in (*receptions, *handlings)]
    times.extend(f["due_ms"] + 1 for f in (*receptions, *handlings))
    times.extend(h["received_ms"] for h in handlings)
    return {cal.local_day(t) for t in times}
