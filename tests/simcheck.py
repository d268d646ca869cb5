"""Invariant checks of a simulated stream (used by tests; pure, no servers)."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from common.calendar import add_working_days, is_working_day, local_date
from producers.scenario import Scenario


@dataclass
class Tally:
    """Per unit: event counts by type and dossier outcome counts."""

    by_type: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    outcome: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))


def check_stream(scenario: Scenario, events) -> Tally:
    """Assert the domain rules on an ordered stream; return the counts for exactness checks."""
    t = Tally()
    start, end = scenario.start, scenario.end
    procs = {u.key: {p.code: p for p, _ in u.dossiers.procedures} for u in scenario.units if u.dossiers}
    received: dict[tuple[str, str], object] = {}
    due_now: dict[tuple[str, str], datetime] = {}
    closed: dict[tuple[str, str], str] = {}
    resolved_at: dict[tuple[str, str], datetime] = {}
    late_dossiers: set = set()
    apologised: set = set()
    last_time: dict[str, datetime] = {}
    sessions = scenario.office_hours
    ids = set()
    for ev in events:
        et = ev.event_type
        u = ev.unit_key
        t.by_type[u][et] += 1
        assert ev.event_id not in ids, f"duplicate event_id {ev.event_id}"
        ids.add(ev.event_id)
        tm = ev.event_time()
        assert ev.occurred_at == tm, (et, ev.occurred_at, tm)
        assert start <= tm < end, f"{et} at {tm} outside the period"
        assert u not in last_time or last_time[u] <= tm, f"unit {u} out of order at {tm}"
        last_time[u] = tm
        if et == "document.issued":
            o = t.outcome[u]
            o["doc_signed"] += ev.digitally_signed
            o["doc_leader"] += ev.signer_is_leader
            o["doc_secret"] += ev.secret
            if ev.digitally_signed:
                o[f"doc_cert_{ev.certificate_kind.value}"] += 1
        elif et == "document.received":
            t.outcome[u]["doc_online"] += ev.processed_online
        elif et == "meeting.ended":
            t.outcome[u]["meeting_uninterrupted"] += ev.uninterrupted
            t.outcome[u][f"meeting_endpoints_{ev.endpoints_connected}"] += 1
        if not et.startswith("dossier."):
            continue
        k = (u, getattr(ev, "dossier_id", None))
        if et == "dossier.received":
            assert k not in received
            loc = tm.astimezone(start.tzinfo)
            assert is_working_day(local_date(tm)), f"received on a non-working day {tm}"
            assert any(a <= loc.time() < b for a, b in sessions), f"received outside office hours {tm}"
            p = procs[u][ev.procedure_code]
            assert ev.due_at == add_working_days(ev.received_at, p.days), (ev.due_at, ev.received_at, p.days)
            received[k] = ev
            due_now[k] = ev.due_at
            t.outcome[u]["online"] += ev.channel.value == "online"
            continue
        if et == "dossier.rated":
            assert k in closed and closed[k] == "resolved", "rating before resolution"
            assert tm >= resolved_at[k]
            t.outcome[u][f"rated_{ev.rating.value}"] += 1
            continue
        assert k in received, f"{et} before dossier.received for {k}"
        rec = received[k]
        assert tm >= rec.received_at
        assert k not in closed, f"{et} after the dossier closed ({closed.get(k)})"
        if et == "dossier.supplement_requested":
            p = procs[u][rec.procedure_code]
            assert ev.new_due_at == add_working_days(ev.requested_at, p.days)
            due_now[k] = ev.new_due_at
        elif et == "dossier.apology_issued":
            assert tm > due_now[k], "apology before the dossier was late"
            apologised.add(k)
        elif et == "dossier.resolved":
            assert ev.received_at == rec.received_at and ev.due_at == due_now[k]
            assert ev.channel == rec.channel
            closed[k] = "resolved"
            resolved_at[k] = tm
            if local_date(tm) < local_date(ev.due_at):
                t.outcome[u]["early"] += 1
            elif tm <= ev.due_at:
                t.outcome[u]["on_time_plain"] += 1
            else:
                t.outcome[u]["late"] += 1
                late_dossiers.add(k)
            t.outcome[u]["digitised"] += ev.result_digitised
            t.outcome[u]["fee"] += ev.fee_paid_online is not None
            t.outcome[u]["paid_online"] += bool(ev.fee_paid_online)
        elif et in ("dossier.withdrawn", "dossier.refused"):
            closed[k] = et.split(".")[1]
    for k in received:
        if k not in closed:
            u = k[0]
            if due_now[k] < end:
                t.outcome[u]["open_overdue"] += 1
                late_dossiers.add(k)
            else:
                t.outcome[u]["open_pending"] += 1
    for k in apologised:
        assert k in late_dossiers, f"apology for a dossier that was never late: {k}"
        t.outcome[k[0]]["apologies_late_resolved" if closed.get(k) == "resolved" else "apologies_open"] += 1
    return t
