"""Late-dossier and overdue-feedback alerts: kinds, trigger times and the alert as sent and written (no I/O)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Container
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from common import measurements as m
from streams.domain.records import Record, has_apology
from streams.domain.rows import NS_PER_MS, Row
from streams.domain.windows import DAY_MS, HOUR_MS, from_ms, to_ms

ALERT_NAMESPACE = uuid.UUID("6b1f8f1e-5d0c-4a55-9a61-0d7c4f3b2a10")
Alert = dict[str, Any]  # an alert as sent to the alerts topic (JSON)

OVERDUE, DUE_SOON, APOLOGY_MISSING = "dossier_overdue", "dossier_due_soon", "apology_missing"
assert set(m.ALERT_KINDS) == {OVERDUE, DUE_SOON, APOLOGY_MISSING}
# citizen feedback (phản ánh, kiến nghị) still open after its due date (quá hạn xử lý)
FEEDBACK_OVERDUE = "feedback_overdue"
assert set(m.FEEDBACK_ALERT_KINDS) == {FEEDBACK_OVERDUE}


def iso(ms: int) -> str:
    return from_ms(ms).isoformat().replace("+00:00", "Z")


def to_ms_iso(s: str) -> int:
    return to_ms(datetime.fromisoformat(s.replace("Z", "+00:00")))


@dataclass
class AlertPolicy:
    due_soon_lead_working_days: int = 1
    apology_grace_ms: int = DAY_MS
    offset_ms: int = 7 * HOUR_MS  # local UTC offset, set by the Aggregator from its calendar

    def due_soon_at(self, due_ms: int) -> int | None:
        """N working days before due, same time of day (the shift depends only on the local date)."""
        if self.due_soon_lead_working_days <= 0:
            return None
        local_day = (due_ms + self.offset_ms) // DAY_MS
        return due_ms - _working_day_shift(local_day, self.due_soon_lead_working_days, self.offset_ms) * DAY_MS


@lru_cache(maxsize=100_000)
def _working_day_shift(local_day: int, n: int, offset_ms: int) -> int:
    """Calendar days between a local date and n working days before it."""
    from common.calendar import subtract_working_days

    noon = local_day * DAY_MS - offset_ms + 12 * HOUR_MS
    earlier = to_ms(subtract_working_days(from_ms(noon), n))
    return (noon - earlier) // DAY_MS


def alert_payload(unit: str, unit_tags: dict[str, str], key: str, rec: Record, kind: str, at: int, due: int) -> Alert:
    """The alert as sent to the alerts topic; its id is the same across replays (key, kind, due)."""
    rcv = rec.get("reception")
    res = rec.get("resolution")
    dossier_id = key.split("|", 2)[2]
    return {
        "alert_id": str(uuid.uuid5(ALERT_NAMESPACE, f"{key}|{kind}|{due}")),
        "kind": kind,
        "dossier_id": dossier_id,
        "unit_code": unit,
        **unit_tags,
        "procedure_code": rcv["procedure_code"] if rcv else "",
        "field": (rcv["field"] or "") if rcv else "",
        "received_at": iso(rcv["at_ms"]) if rcv else None,
        "due_at": iso(due),
        "alert_at": iso(at),
        "late_seconds": (at - due) // 1000,
        "apology_sent": has_apology(rec),
        "resolved": res is not None,
        "resolved_at": iso(res["at_ms"]) if res else None,
    }


def alert_ns_start(dossier_id: str) -> int:
    """Where a dossier's alert point starts looking for a free nanosecond within its millisecond: a
    hash of its id, the same in every process (``hash()`` of a str is salted per process), so most
    dossiers land on their first try and the probing below is rare."""
    digest = hashlib.blake2b(dossier_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % NS_PER_MS


def free_alert_ns(taken: Container[int], at_ms: int, dossier_id: str) -> int:
    """The nanosecond within ``at_ms`` for a new alert point of this dossier: the first one from
    :func:`alert_ns_start` upwards (wrapping round) whose point time (epoch ns) is not ``taken`` by
    another alert point of the unit. The dossier is a field, not a tag, so two alerts of one series
    at one instant would otherwise be one point in InfluxDB, the later overwriting the earlier."""
    base = at_ms * NS_PER_MS
    ns = alert_ns_start(dossier_id)
    for _ in range(NS_PER_MS):
        if base + ns not in taken:
            return ns
        ns = (ns + 1) % NS_PER_MS
    raise ValueError(f"a unit has {NS_PER_MS:,} alerts at {iso(at_ms)}: no nanosecond left within that millisecond")


def alert_row(unit_tags: dict[str, str], a: Alert, ns_in_ms: int) -> Row:
    """The alert's dossier_alerts point (updated in place when the dossier is resolved or apologised
    for). The series is the unit's, kind and procedure: bounded by the procedure catalogue, not by the
    number of dossiers; the dossier is a field, and ``ns_in_ms`` (chosen once, kept in the record's
    alert flag) keeps the points of one series at one millisecond apart."""
    tags = {
        **unit_tags,
        "kind": a["kind"],
        "procedure_code": a["procedure_code"] or "-",
    }
    fields: dict[str, object] = {
        "dossier_id": a["dossier_id"],
        "due_at": a["due_at"],
        "late_seconds": a["late_seconds"],
        "field": a["field"] or "-",
        "apology_sent": a["apology_sent"],
        "resolved": a["resolved"],
    }
    if a["resolved_at"]:
        fields["resolved_at"] = a["resolved_at"]
    return Row(m.DOSSIER_ALERTS, tags, fields, to_ms_iso(a["alert_at"]), ns_in_ms)


# -- citizen feedback (phản ánh, kiến nghị) ----------------------------------------------------
# Kept apart from the dossier alerts above: a feedback alert has no procedure and no apology, and
# its point goes to its own measurement (feedback_alerts), so dossier_alerts keeps its shape.
def feedback_alert_payload(
    unit: str, unit_tags: dict[str, str], key: str, rec: Record, kind: str, at: int, due: int
) -> Alert:
    """The feedback alert as sent to the alerts topic; its id is the same across replays (key, kind, due).
    No personal data: the feedback's id, unit, subject, field and times only."""
    rcv = rec.get("feedback_reception")
    handling = rec.get("feedback_handling")
    return {
        "alert_id": str(uuid.uuid5(ALERT_NAMESPACE, f"{key}|{kind}|{due}")),
        "kind": kind,
        "feedback_id": key.split("|", 2)[2],
        "unit_code": unit,
        **unit_tags,
        "subject": rcv["subject"] if rcv else "",
        "field": (rcv["field"] or "") if rcv else "",
        "related_dossier_id": rcv["related_dossier_id"] if rcv else None,
        "received_at": iso(rcv["at_ms"]) if rcv else None,
        "due_at": iso(due),
        "alert_at": iso(at),
        "late_seconds": (at - due) // 1000,
        "handled": handling is not None,
        "handled_at": iso(handling["at_ms"]) if handling else None,
    }


def feedback_alert_row(unit_tags: dict[str, str], a: Alert, ns_in_ms: int) -> Row:
    """The feedback alert's feedback_alerts point (updated in place when the item is handled). As for
    dossier_alerts, the item is a field and ``ns_in_ms`` keeps the point apart from the unit's other
    alerts of that millisecond, so series do not grow with the number of feedback items."""
    tags = {**unit_tags, "kind": a["kind"], "subject": a["subject"] or "-"}
    fields: dict[str, object] = {
        "feedback_id": a["feedback_id"],
        "due_at": a["due_at"],
        "late_seconds": a["late_seconds"],
        "field": a["field"] or "-",
        "handled": a["handled"],
    }
    if a["handled_at"]:
        fields["handled_at"] = a["handled_at"]
    return Row(m.FEEDBACK_ALERTS, tags, fields, to_ms_iso(a["alert_at"]), ns_in_ms)
