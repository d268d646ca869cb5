"""One export row → the dossier events it implies, or the reason it cannot be used.

Event ids are ``uuid5(NAMESPACE, "source_system|dossier code|kind")``: importing a file twice,
or overlapping exports, produce the same ids. The content of an event is a pure function of
the columns that define it (``occurred_at`` is the business time of the event, never the time
of the import), so a later export in which a dossier has been resolved since yields the same
``dossier.received`` as before (a duplicate to the worker) plus the new ``dossier.resolved``.

What each event depends on:

=========================  ===============================================================
``dossier.received``        code, unit, procedure, field, channel, received, due
``supplement_requested``    code, unit, requested, new due, reason
``transferred``             code, unit, transferred, destination
``resolved``                code, unit, received, due in force (the supplement's new due, else due),
                            resolved, outcome, digitised, fee paid online, channel
``withdrawn`` / ``refused`` code, unit, closing date, reason
``apology_issued``          code, unit, apology date (or, given as "yes", the due date in force), new due
``rated``                   code, unit, rating, rating date (else the resolution date)
=========================  ===============================================================
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from producers.importer.mapping import DATE_FIELDS, REQUIRED, Mapping, UnitRef, norm
from producers.importer.readers import Cell
from schemas import Event, InvalidEvent, parse_event, units

# Fixed namespace of govpulse import ids (uuid5 of the DNS name "import.govpulse"): never change it,
# or re-imports stop being recognised as duplicates.
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "import.govpulse")
EXCEL_EPOCH = datetime(1899, 12, 30)  # the 1900 date system (Lotus 1-2-3's leap-year bug included)
_SERIAL = re.compile(r"^\d{4,6}(?:[.,]\d+)?$")
_UNIT_SLUG = re.compile(r"[^A-Za-z0-9._-]+")

# Reasons of a rejected row (summary and rejects CSV).
REASONS = (
    "missing_value",
    "unparseable_date",
    "due_before_received",
    "resolved_before_received",
    "unknown_unit",
    "unknown_status",
    "unknown_value",
    "invalid_event",
)


def event_id(source_system: str, dossier_code: str, kind: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{source_system}|{dossier_code}|{kind}"))


@dataclass
class Reject:
    reason: str  # one of REASONS
    column: str  # header of the offending column ("" if none)
    detail: str


@dataclass
class Columns:
    """A sheet's header resolved against a mapping."""

    header: tuple[str, ...]
    index: dict[str, int]  # field -> column index
    personal: list[str]  # headers ignored as personal data
    unmapped: list[str]  # other headers not used
    header_row: int

    def name(self, f: str) -> str:
        i = self.index.get(f)
        return self.header[i] if i is not None else f


def resolve_header(mapping: Mapping, header: tuple[Cell, ...], header_row: int) -> Columns:
    names = tuple("" if v is None else str(v) for v in header)
    index: dict[str, int] = {}
    personal: list[str] = []
    unmapped: list[str] = []
    for i, h in enumerate(names):
        if not h:
            continue
        if mapping.is_personal(h):
            personal.append(h)
            continue
        f = mapping.field_of(h)
        if f is not None and f not in index:
            index[f] = i
        else:
            unmapped.append(h)
    return Columns(names, index, personal, unmapped, header_row)


def header_score(mapping: Mapping, row: tuple[Cell, ...]) -> int:
    return sum(1 for v in row if isinstance(v, str) and mapping.field_of(v) is not None)


class _Bad(Exception):
    def __init__(self, reject: Reject) -> None:
        self.reject = reject


@dataclass
class Converter:
    """Converts rows of one sheet; ``source_system`` decides the event ids."""

    mapping: Mapping
    columns: Columns
    source_system: str
    tz: tzinfo = field(init=False)
    _cache: dict[str, str] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.tz = ZoneInfo(self.mapping.timezone)
        self._formats = list(self.mapping.date_formats)
        self._end_of_day = set(self.mapping.date_only_end_of_day)

    # -- cells -------------------------------------------------------------------------
    def _raw(self, row: tuple[Cell, ...], f: str) -> Cell:
        i = self.columns.index.get(f)
        if i is None or i >= len(row):
            return None
        v = row[i]
        return None if v == "" else v

    def _text(self, row: tuple[Cell, ...], f: str) -> str | None:
        v = self._raw(row, f)
        if v is None:
            return None
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v).strip() or None

    def _bad(self, reason: str, f: str, detail: str) -> _Bad:
        return _Bad(Reject(reason, self.columns.name(f) if f in self.columns.index else f, detail))

    def _date(self, row: tuple[Cell, ...], f: str) -> datetime | None:
        v = self._raw(row, f)
        if v is None:
            return None
        dt = self.parse_date(v, end_of_day=f in self._end_of_day)
        if dt is None:
            raise self._bad("unparseable_date", f, f"{v!r} is not a date ({' | '.join(self._formats)})")
        return dt

    def parse_date(self, v: Cell, end_of_day: bool = False) -> datetime | None:
        """A cell as an aware datetime (naive values are local to the mapping's timezone), or None."""
        dt: datetime | None = None
        date_only = False
        if isinstance(v, datetime):
            dt = v
        elif isinstance(v, date):
            dt, date_only = datetime.combine(v, time()), True
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            if self.mapping.excel_serial_dates and 1 <= v < 2958466:
                dt = EXCEL_EPOCH + timedelta(days=float(v))
                date_only = float(v).is_integer()
        elif isinstance(v, str):
            s = v.strip()
            for i, fmt in enumerate(self._formats):
                try:
                    dt = datetime.strptime(s, fmt)
                except ValueError:
                    continue
                date_only = not any(d in fmt for d in ("%H", "%I", "%M", "%S"))
                if i:  # the format that matched first next time (exports use one format throughout)
                    self._formats.insert(0, self._formats.pop(i))
                break
            if dt is None and self.mapping.excel_serial_dates and _SERIAL.match(s):
                days = float(s.replace(",", "."))
                dt = EXCEL_EPOCH + timedelta(days=days)
                date_only = days.is_integer()
        if dt is None:
            return None
        if isinstance(dt, datetime) and dt.microsecond:
            # Excel stores times as fractions of a day: 1e-6 day errors round to the second
            dt = (dt + timedelta(microseconds=500_000)).replace(microsecond=0)
        if date_only and end_of_day:
            dt = dt.replace(hour=23, minute=59, second=59)
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=self.tz)
        return dt

    # -- units -------------------------------------------------------------------------
    def unit_of(self, value: str | None) -> UnitRef | None:
        if value is None:
            return self.mapping.default_unit
        hit = self.mapping.unit(value)
        if hit is not None:
            return hit
        code = value.strip()
        w = units.ward(code) if re.fullmatch(r"\d{5}", code) else None
        if w is not None:
            return UnitRef(province_code=w.province_code, ward_code=code)
        u = units.extra_unit(code)
        if u is not None:
            if u.level == "district":
                return UnitRef(province_code=u.province_code, district_code=code)
            return UnitRef(province_code=u.province_code, unit_code=code)
        return None

    def to_unit_code(self, value: str) -> str:
        ref = self.unit_of(value)
        if ref is not None:
            return ref.key
        return _UNIT_SLUG.sub("-", norm(value)).strip("-")[:40] or "unknown"

    # -- the row -----------------------------------------------------------------------
    def convert(self, row: tuple[Cell, ...]) -> list[Event] | Reject:
        try:
            return self._convert(row)
        except _Bad as b:
            return b.reject

    def _convert(self, row: tuple[Cell, ...]) -> list[Event]:
        m = self.mapping
        for f in REQUIRED:
            if self._raw(row, f) is None:
                raise self._bad("missing_value", f, f"no {f} in this row")
        code = self._text(row, "dossier_code")
        assert code is not None
        unit_text = self._text(row, "unit")
        unit = self.unit_of(unit_text)
        if unit is None:
            if unit_text is None:
                raise self._bad("unknown_unit", "unit", "no unit column or value, and the mapping has no default_unit")
            raise self._bad("unknown_unit", "unit", f"{unit_text!r} is not in the mapping's units nor a known code")
        dates = {f: self._date(row, f) for f in DATE_FIELDS}
        received, due = dates["received_at"], dates["due_at"]
        assert received is not None and due is not None
        if due <= received:
            raise self._bad("due_before_received", "due_at", f"due {due:%d/%m/%Y %H:%M} is not after received")

        status_text = self._text(row, "status")
        kind: str | None = None
        if status_text is not None:
            kind = m.status_kind(status_text)
            if kind is None:
                raise self._bad(
                    "unknown_status", "status", f"{status_text!r} is not one of the mapping's status values"
                )
        resolved_at = dates["resolved_at"]
        if kind is None:  # no status column: the dates say what happened
            kind = "resolved" if resolved_at is not None else "open"
        if kind == "resolved" and resolved_at is None:
            raise self._bad("missing_value", "resolved_at", f"status {status_text!r} says resolved, but no date")
        if kind == "resolved" and resolved_at is not None and resolved_at < received:
            raise self._bad("resolved_before_received", "resolved_at", "returned before it was received")

        channel_text = self._text(row, "channel")
        channel = m.channel(channel_text) if channel_text else m.defaults.channel
        if channel is None:
            raise self._bad(
                "unknown_value" if channel_text else "missing_value",
                "channel",
                f"channel {channel_text!r} is not in the mapping's channels" if channel_text else "no channel",
            )
        online_service: str | None = None
        if channel.startswith("online_"):
            online_service = channel.removeprefix("online_")
            os_text = self._text(row, "online_service")
            if os_text and m.online_service(os_text):
                online_service = m.online_service(os_text)
            channel = "online"

        proc_name = self._text(row, "procedure_name")
        proc_code = self._text(row, "procedure_code") or (
            proc_name[:100].strip() if proc_name and m.defaults.procedure_code_from_name else None
        )
        if proc_code is None:
            raise self._bad("missing_value", "procedure_code", "no procedure code or name")
        fld = self._text(row, "field") or m.defaults.field
        if fld is None:
            raise self._bad("missing_value", "field", "no field (lĩnh vực) and no default")

        env: dict[str, Any] = {
            "source_system": self.source_system,
            "province_code": unit.province_code,
            "dossier_id": code,
        }
        for k in ("ward_code", "district_code", "unit_code"):
            v = getattr(unit, k)
            if v:
                env[k] = v

        def iso(d: datetime) -> str:
            return d.isoformat()

        out: list[dict[str, Any]] = [
            {
                **env,
                "event_id": event_id(self.source_system, code, "received"),
                "event_type": "dossier.received",
                "occurred_at": iso(received),
                "procedure_code": proc_code,
                **({"procedure_name": proc_name[:500]} if proc_name else {}),
                "field": fld[:500],
                "channel": channel,
                **({"online_service": online_service} if online_service else {}),
                "received_at": iso(received),
                "due_at": iso(due),
            }
        ]
        due_in_force = due
        sup_at = dates["supplement_requested_at"]
        if sup_at is not None:
            new_due = dates["supplement_due_at"]
            if new_due is None:
                raise self._bad("missing_value", "supplement_due_at", "a supplement request without its new due date")
            if new_due <= sup_at:
                raise self._bad("due_before_received", "supplement_due_at", "new due date is not after the request")
            due_in_force = new_due
            out.append(
                {
                    **env,
                    "event_id": event_id(self.source_system, code, "supplement"),
                    "event_type": "dossier.supplement_requested",
                    "occurred_at": iso(sup_at),
                    "requested_at": iso(sup_at),
                    "reason": (self._text(row, "supplement_reason") or m.defaults.supplement_reason)[:500],
                    "new_due_at": iso(new_due),
                }
            )
        trf_at = dates["transferred_at"]
        trf_to = self._text(row, "transferred_to")
        if trf_at is not None and trf_to is not None:
            to_code = self.to_unit_code(trf_to)
            if to_code != unit.key:  # handled by the receiving unit itself: no transfer
                out.append(
                    {
                        **env,
                        "event_id": event_id(self.source_system, code, "transferred"),
                        "event_type": "dossier.transferred",
                        "occurred_at": iso(trf_at),
                        "transferred_at": iso(trf_at),
                        "to_unit_code": to_code,
                    }
                )
        if kind == "resolved":
            assert resolved_at is not None
            outcome_text = self._text(row, "outcome")
            outcome = m.outcome(outcome_text) if outcome_text else m.defaults.outcome
            if outcome is None:
                raise self._bad(
                    "unknown_value", "outcome", f"outcome {outcome_text!r} is not in the mapping's outcomes"
                )
            digitised = self._bool(row, "result_digitised", m.defaults.result_digitised)
            fee = self._bool(row, "fee_paid_online", None)
            out.append(
                {
                    **env,
                    "event_id": event_id(self.source_system, code, "resolved"),
                    "event_type": "dossier.resolved",
                    "occurred_at": iso(resolved_at),
                    "received_at": iso(received),
                    "due_at": iso(due_in_force),
                    "resolved_at": iso(resolved_at),
                    "outcome": outcome,
                    "result_digitised": bool(digitised),
                    **({"fee_paid_online": fee} if fee is not None else {}),
                    "channel": channel,
                }
            )
        elif kind in ("withdrawn", "refused"):
            closed = dates["closed_at"] or resolved_at
            if closed is None:
                raise self._bad("missing_value", "closed_at", f"status {status_text!r} without the date it happened")
            reason = self._text(row, "reason")
            ev: dict[str, Any] = {
                **env,
                "event_id": event_id(self.source_system, code, kind),
                "occurred_at": iso(closed),
            }
            if kind == "withdrawn":
                ev.update(event_type="dossier.withdrawn", withdrawn_at=iso(closed))
                if reason:
                    ev["reason"] = reason[:500]
            else:
                ev.update(
                    event_type="dossier.refused",
                    refused_at=iso(closed),
                    reason=(reason or m.defaults.refusal_reason)[:500],
                )
            out.append(ev)

        apology_raw = self._raw(row, "apology_at")
        if apology_raw is not None:
            apology_at = self.parse_date(apology_raw)
            if apology_at is None:
                yes = m.boolean(str(apology_raw))
                if yes is None:
                    raise self._bad("unparseable_date", "apology_at", f"{apology_raw!r} is neither a date nor yes/no")
                apology_at = due_in_force if yes else None
            if apology_at is not None:
                new_due = dates["apology_due_at"]
                out.append(
                    {
                        **env,
                        "event_id": event_id(self.source_system, code, "apology"),
                        "event_type": "dossier.apology_issued",
                        "occurred_at": iso(apology_at),
                        "issued_at": iso(apology_at),
                        **({"new_due_at": iso(new_due)} if new_due else {}),
                    }
                )
        rating_text = self._text(row, "rating")
        if rating_text is not None:
            level = m.rating(rating_text)
            if level is None:
                raise self._bad("unknown_value", "rating", f"rating {rating_text!r} is not in the mapping's ratings")
            rated_at = dates["rated_at"] or resolved_at
            if rated_at is None:
                raise self._bad("missing_value", "rated_at", "a rating without its date (nor a resolution date)")
            rating_env = {k: v for k, v in env.items()}
            out.append(
                {
                    **rating_env,
                    "event_id": event_id(self.source_system, code, "rated"),
                    "event_type": "dossier.rated",
                    "occurred_at": iso(rated_at),
                    "rating_id": f"{code}-DG"[:100],
                    "rated_at": iso(rated_at),
                    "rating": level,
                }
            )
        events: list[Event] = []
        for d in out:
            try:
                events.append(parse_event(d))
            except InvalidEvent as e:
                fld_name = e.errors[0][0]
                raise self._bad(
                    "invalid_event", _COLUMN_OF.get(fld_name, fld_name), f"{d['event_type']}: {e}"
                ) from None
        return events

    def _bool(self, row: tuple[Cell, ...], f: str, default: bool | None) -> bool | None:
        v = self._raw(row, f)
        if v is None:
            return default
        if isinstance(v, bool):
            return v
        b = self.mapping.boolean(str(v))
        if b is None:
            raise self._bad("unknown_value", f, f"{v!r} is not yes/no (mapping: yes, no)")
        return b


# event field -> mapping field, so a schema error names the user's column
_COLUMN_OF = {
    "received_at": "received_at",
    "due_at": "due_at",
    "resolved_at": "resolved_at",
    "requested_at": "supplement_requested_at",
    "new_due_at": "supplement_due_at",
    "issued_at": "apology_at",
    "rated_at": "rated_at",
    "ward_code": "unit",
    "district_code": "unit",
    "unit_code": "unit",
    "province_code": "unit",
    "procedure_code": "procedure_code",
    "procedure_name": "procedure_name",
    "dossier_id": "dossier_code",
    "field": "field",
    "occurred_at": "received_at",
}
