"""Scenario files: what the simulator should produce, as exact integer plans.

A scenario YAML (format: ``producers/scenarios/README.md``) describes a period and a
list of units with their dossier, document and meeting figures.  :func:`load_scenario`
validates it (every error names the YAML key, e.g. ``units[2].dossiers.on_time``) and
resolves it into :class:`UnitPlan` objects holding *exact counts* (the YAML's models are in
:mod:`producers.scenario_input`, quantities and apportioning in :mod:`producers.apportion`): a share is turned
into a count of its base once, here, rounded to the nearest whole event, so the
simulator only ever deals with integers and the stream matches the plan exactly.

Quantities: an integer is an exact count; a number with a decimal point (``0.98``) or
a percent string (``"98.2%"``) is a share of the quantity's base (documented per key).
Mixes (channels, rating levels, certificate kinds, procedures) take counts and shares
together: counts are fixed, shares split the rest in proportion (largest remainder).

A *group* entry (``wards:`` with weights instead of one ``ward_code``) gives totals
for several wards; the totals are split across the wards so that every nested figure
still adds up exactly (resolved <= received per ward, on-time <= resolved, ...).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal, Required, TypedDict, TypeVar
from zoneinfo import ZoneInfo

import yaml
from pydantic import ValidationError

from producers.apportion import Quantity, apportion, parse_quantity, split_matrix
from producers.scenario_errors import ScenarioError
from producers.scenario_input import (
    CERTIFICATE_KINDS,
    CHANNELS,
    FEEDBACK_CHANNELS,
    FEEDBACK_SUBJECTS,
    RATING_LEVELS,
    DocumentsIn,
    DossiersIn,
    FeedbackIn,
    MeetingsIn,
    ScenarioIn,
    UnitIn,
)
from schemas import units as unit_registry

__all__ = [
    "DocumentPlan",
    "DossierPlan",
    "FeedbackPlan",
    "GroupInfo",
    "MeetingPlan",
    "Procedure",
    "Scenario",
    "ScenarioError",  # raised by load_scenario and parse_scenario (defined in producers.scenario_errors)
    "UnitPlan",
    "load_scenario",
    "parse_scenario",
]


# ---------------------------------------------------------------------------------------
# Resolved plans (exact integers)
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Procedure:
    code: str
    name: str | None
    field: str
    days: int
    fee: bool


@dataclass(frozen=True)
class DossierPlan:
    received: int
    channels: tuple[tuple[str, int], ...]
    procedures: tuple[tuple[Procedure, int], ...]
    resolved: int
    early: int
    on_time_plain: int  # on time, not early (resolved on the due date, by due_at)
    late: int
    withdrawn: int
    refused: int
    open_overdue: int
    open_pending: int
    supplements: int
    transfers: int
    transfer_to: tuple[str, ...]
    apologies: int  # late resolved dossiers with an apology letter
    open_overdue_apologies: int
    digitised: int
    online_payment: Quantity  # of fee-bearing resolved; known only once procedures are drawn
    ratings: tuple[tuple[str, int], ...]
    late_days_max: int

    @property
    def on_time(self) -> int:
        """Resolved on time or early (đúng hạn và trước hạn)."""
        return self.early + self.on_time_plain

    @property
    def open(self) -> int:
        return self.open_overdue + self.open_pending

    @property
    def rated(self) -> int:
        return sum(n for _, n in self.ratings)

    @property
    def online(self) -> int:
        return sum(n for c, n in self.channels if c.startswith("online"))


@dataclass(frozen=True)
class DocumentPlan:
    issued: int
    signed: int
    secret: int
    certificate: tuple[tuple[str, int], ...]
    leader_signed: int
    received: int
    processed_online: int


@dataclass(frozen=True)
class MeetingPlan:
    count: int
    uninterrupted: int
    endpoints: tuple[str, ...]
    title: str
    duration_minutes: tuple[int, int]


@dataclass(frozen=True)
class FeedbackPlan:
    """Citizen feedback (phản ánh, kiến nghị) of a unit, as exact counts."""

    received: int
    early: int  # handled on an earlier day than due
    on_time_plain: int  # handled on the due day, by due_at
    late: int
    open_overdue: int
    open_pending: int
    days: int  # working days to handle (hạn xử lý)
    channels: tuple[tuple[str, int], ...]
    subjects: tuple[tuple[str, int], ...]
    transfers: int
    transfer_to: tuple[str, ...]
    ratings: tuple[tuple[str, int], ...]  # of handled items
    late_days_max: int

    @property
    def handled(self) -> int:
        return self.early + self.on_time_plain + self.late

    @property
    def rated(self) -> int:
        return sum(n for _, n in self.ratings)


class EnvelopeFields(TypedDict, total=False):
    """The envelope fields a unit puts on every event (codes it does not have are absent)."""

    source_system: Required[str]
    province_code: Required[str]
    district_code: str
    ward_code: str
    unit_code: str


_CODE_FIELDS: tuple[Literal["district_code", "ward_code", "unit_code"], ...] = (
    "district_code",
    "ward_code",
    "unit_code",
)


@dataclass(frozen=True)
class UnitPlan:
    index: int
    label: str
    province_code: str
    ward_code: str | None
    district_code: str | None
    unit_code: str | None
    source_system: str
    dossiers: DossierPlan | None
    documents: DocumentPlan | None
    meetings: MeetingPlan | None
    group: str | None = None
    feedback: FeedbackPlan | None = None

    @property
    def key(self) -> str:
        """The Kafka key / receiving unit (same rule as ``Envelope.unit_key``)."""
        return self.ward_code or self.district_code or self.unit_code  # type: ignore[return-value]

    def envelope_fields(self) -> EnvelopeFields:
        out: EnvelopeFields = {"source_system": self.source_system, "province_code": self.province_code}
        for k in _CODE_FIELDS:
            v = getattr(self, k)
            if v is not None:
                out[k] = v
        return out


@dataclass(frozen=True)
class GroupInfo:
    label: str
    yaml_key: str
    unit_keys: tuple[str, ...]


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str | None
    seed: int
    start: datetime  # first instant (aware)
    end: datetime  # exclusive end instant (aware)
    timezone: str
    office_hours: tuple[tuple[time, time], ...]
    units: tuple[UnitPlan, ...]
    groups: tuple[GroupInfo, ...] = ()
    extra_unit_files: tuple[Path, ...] = ()
    source: Path | None = None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def unit(self, key: str) -> UnitPlan:
        for u in self.units:
            if u.key == key:
                return u
        raise KeyError(key)

    def shifted(self, start: datetime) -> Scenario:
        """The same scenario over a period of the same length starting at ``start``.

        Generation then runs on the shifted dates (weekends and holidays of the new
        period), so counts stay exact and due dates stay consistent.
        """
        if start.tzinfo is None:
            raise ValueError("shifted(): start must be timezone-aware")
        start = start.astimezone(self.tz).replace(microsecond=0)
        return replace(self, start=start, end=start + self.duration)

    def expected_counts(self) -> dict[str, dict[str, int]]:
        """unit key -> event type -> exact number of events the simulator will emit.

        ``dossier.resolved.online_payment`` is not included: it depends on which
        dossiers draw fee-bearing procedures.
        """
        out: dict[str, dict[str, int]] = {}
        for u in self.units:
            c: dict[str, int] = {}
            d = u.dossiers
            if d:
                c.update(
                    {
                        "dossier.received": d.received,
                        "dossier.resolved": d.resolved,
                        "dossier.supplement_requested": d.supplements,
                        "dossier.transferred": d.transfers,
                        "dossier.withdrawn": d.withdrawn,
                        "dossier.refused": d.refused,
                        "dossier.apology_issued": d.apologies + d.open_overdue_apologies,
                        "dossier.rated": d.rated,
                    }
                )
            if u.documents:
                c["document.issued"] = u.documents.issued
                c["document.received"] = u.documents.received
            if u.meetings:
                c["meeting.scheduled"] = c["meeting.started"] = c["meeting.ended"] = u.meetings.count
            if u.feedback:
                c["feedback.received"] = u.feedback.received
                c["feedback.handled"] = u.feedback.handled
                c["feedback.transferred"] = u.feedback.transfers
                c["feedback.rated"] = u.feedback.rated
            out[u.key] = {k: v for k, v in c.items() if v}
        return out


# ---------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------
def _key(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _pydantic_error(e: ValidationError, prefix: str, source: Path | None) -> ScenarioError:
    err = e.errors(include_url=False)[0]
    loc = tuple(x for x in err["loc"] if not (isinstance(x, str) and x.startswith(("function-", "tagged-union"))))
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown key (check the spelling; see producers/scenarios/README.md)"
    elif err["type"] == "missing":
        msg = "required key is missing"
    # model validators report "field: reason"; lift the field into the key
    m = re.match(r"^([a-z_]+(?:\.[A-Za-z0-9_]+)?): (.*)$", msg, re.S)
    if m and err["type"] not in ("extra_forbidden", "missing"):
        loc, msg = (*loc, m.group(1)), m.group(2)
    key = _key(loc)
    if prefix:
        key = prefix + ("." + key if key and not key.startswith("[") else key)
    return ScenarioError(key, msg, source)


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def load_scenario(path: str | Path) -> Scenario:
    """Read, validate and resolve a scenario file; registers its extra units."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ScenarioError("", f"cannot read scenario: {e.strerror}", path) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ScenarioError("", f"not valid YAML: {e}", path) from None
    return parse_scenario(data, source=path)


def parse_scenario(data: Any, source: Path | None = None) -> Scenario:
    if not isinstance(data, dict):
        raise ScenarioError("", "a scenario must be a YAML mapping with name, seed, period and units", source)
    try:
        top = ScenarioIn.model_validate(data)
    except ValidationError as e:
        raise _pydantic_error(e, "", source) from None

    # extra units first: unit codes below are checked against the registry
    files = [top.extra_units] if isinstance(top.extra_units, str) else list(top.extra_units)
    base_dir = source.parent if source else Path.cwd()
    extra_paths = []
    for i, f in enumerate(files):
        p = Path(f)
        p = p if p.is_absolute() else base_dir / p
        try:
            unit_registry.load_extra_units(p)
        except FileNotFoundError:
            raise ScenarioError(f"extra_units[{i}]", f"file not found: {p}", source) from None
        except ValueError as e:
            raise ScenarioError(f"extra_units[{i}]", str(e), source) from None
        extra_paths.append(p)

    tz = ZoneInfo(top.period.timezone)
    start = datetime.combine(top.period.start, time(0), tz)
    end = datetime.combine(top.period.end + timedelta(days=1), time(0), tz)

    plans: list[UnitPlan] = []
    groups: list[GroupInfo] = []
    seen: dict[str, str] = {}
    for i, raw in enumerate(top.units):
        ykey = f"units[{i}]"
        if not isinstance(raw, dict):
            raise ScenarioError(ykey, "each unit must be a mapping", source)
        merged = _deep_merge(top.defaults, raw) if top.defaults else raw
        try:
            u = UnitIn.model_validate(merged)
        except ValidationError as e:
            raise _pydantic_error(e, ykey, source) from None
        for plan in _resolve_unit(u, ykey, top, len(plans), source):
            if plan.key in seen:
                raise ScenarioError(ykey, f"unit {plan.key} is already defined at {seen[plan.key]}", source)
            seen[plan.key] = ykey
            plans.append(plan)
        if u.wards is not None:
            groups.append(GroupInfo(u.label or ykey, ykey, tuple(p.key for p in plans if p.group == ykey)))

    return Scenario(
        name=top.name,
        description=top.description,
        seed=top.seed,
        start=start,
        end=end,
        timezone=top.period.timezone,
        office_hours=tuple(top.office_hours),
        units=tuple(plans),
        groups=tuple(groups),
        extra_unit_files=tuple(extra_paths),
        source=source,
    )


def _check_codes(u: UnitIn, ward_code: str | None, key: str, source: Path | None) -> None:
    for field, reason in unit_registry.check_codes(u.province_code, ward_code, u.district_code, u.unit_code):
        if field == "ward_code" and u.wards:
            field = f"wards.{ward_code}"
        raise ScenarioError(f"{key}.{field}", reason, source)


def _label(u: UnitIn, ward_code: str | None) -> str:
    if ward_code:
        w = unit_registry.ward(ward_code)
        return w.name if w else ward_code
    code = u.district_code or u.unit_code
    x = unit_registry.extra_unit(code) if code else None
    return x.name if x else str(code)


def _resolve_unit(u: UnitIn, key: str, top: ScenarioIn, index0: int, source: Path | None) -> list[UnitPlan]:
    wards = list(u.wards) if u.wards is not None else [u.ward_code]
    for w in wards:
        _check_codes(u, w, key, source)
    try:
        d = _resolve_dossiers(u.dossiers, f"{key}.dossiers") if u.dossiers else None
        docs = _resolve_documents(u.documents, f"{key}.documents") if u.documents else None
        meets = _resolve_meetings(u.meetings, f"{key}.meetings") if u.meetings else None
        fb = _resolve_feedback(u.feedback, f"{key}.feedback") if u.feedback else None
    except ScenarioError as e:
        raise ScenarioError(e.key, e.reason, source) from None
    src = u.source_system or top.source_system
    if u.wards is None:
        return [
            UnitPlan(
                index0,
                u.label or _label(u, u.ward_code),
                u.province_code,
                u.ward_code,
                u.district_code,
                u.unit_code,
                src,
                d,
                docs,
                meets,
                feedback=fb,
            )
        ]
    weights = [Fraction(repr(w)) if isinstance(w, float) else Fraction(w) for w in u.wards.values()]
    n = len(wards)
    d_parts = _split_dossiers(d, weights) if d else [None] * n
    doc_parts = _split_documents(docs, weights) if docs else [None] * n
    meet_parts = _split_meetings(meets, weights) if meets else [None] * n
    group_label = u.label or key
    return [
        UnitPlan(
            index0 + j,
            f"{_label(u, w)} ({group_label})",
            u.province_code,
            w,
            u.district_code,
            u.unit_code,
            src,
            d_parts[j],
            doc_parts[j],
            meet_parts[j],
            group=key,
        )
        for j, w in enumerate(wards)
    ]


_Name = TypeVar("_Name", bound=str)


def _mix(
    mix: Mapping[_Name, Quantity], names: Sequence[_Name], base: int, key: str, base_name: str
) -> tuple[tuple[str, int], ...]:
    fixed = {k: q.count for k, q in mix.items() if q.count is not None}
    weights = {k: q.share for k, q in mix.items() if q.share is not None}
    rest = base - sum(fixed.values())
    if rest < 0:
        raise ScenarioError(key, f"counts add up to {sum(fixed.values())}, more than {base_name} ({base})")
    if rest and (not weights or sum(weights.values()) == 0):
        raise ScenarioError(
            key,
            f"counts add up to {sum(fixed.values())} but {base_name} is {base}; "
            "make them add up or give shares for the rest",
        )
    order = [n for n in names if n in weights]
    parts = dict(zip(order, apportion(rest, [weights[n] for n in order]), strict=False)) if rest else {}
    return tuple((n, fixed.get(n, 0) + parts.get(n, 0)) for n in names if n in mix)


def _resolve_dossiers(d: DossiersIn, key: str) -> DossierPlan:
    n = d.received
    channels = _mix(d.channels, CHANNELS, n, f"{key}.channels", "received")

    procs = []
    for j, p in enumerate(d.procedures):
        if p.count is not None:
            q = Quantity(count=p.count)
        elif p.share is not None:
            try:
                q = parse_quantity(p.share)
            except ValueError as e:
                raise ScenarioError(f"{key}.procedures[{j}].share", str(e)) from None
            if q.count is not None:
                raise ScenarioError(f"{key}.procedures[{j}].share", "a share is a fraction or percent; use count")
        else:
            q = Quantity(share=Fraction(1))
        procs.append((Procedure(p.code, p.name, p.field, p.days, p.fee), q))
    codes = [p.code for p, _ in procs]
    if len(set(codes)) != len(codes):
        raise ScenarioError(f"{key}.procedures", "a procedure code is listed twice")
    labels = [f"p{j}" for j in range(len(procs))]
    counts = dict(
        _mix(dict(zip(labels, (q for _, q in procs), strict=False)), labels, n, f"{key}.procedures", "received")
    )
    procedures = tuple((p, counts[lab]) for (p, _), lab in zip(procs, labels, strict=False))

    resolved = d.resolved.of(n, f"{key}.resolved", "received")
    on_time = d.on_time.of(resolved, f"{key}.on_time", "resolved")
    late = resolved - on_time
    if d.late is not None:
        given = d.late.of(resolved, f"{key}.late", "resolved")
        if given != late:
            raise ScenarioError(f"{key}.late", f"{given} does not match resolved - on_time = {late}")
    early = d.early.of(on_time, f"{key}.early", "on_time")
    withdrawn = d.withdrawn.of(n, f"{key}.withdrawn", "received")
    refused = d.refused.of(n, f"{key}.refused", "received")
    open_ = n - resolved - withdrawn - refused
    if open_ < 0:
        raise ScenarioError(
            f"{key}.resolved",
            f"resolved ({resolved}) + withdrawn ({withdrawn}) + refused ({refused}) exceed received ({n})",
        )
    open_overdue = d.open_overdue.of(open_, f"{key}.open_overdue", "open dossiers")
    not_refused = n - refused
    supplements = d.supplements.of(not_refused, f"{key}.supplements", "received - refused")
    transfers = d.transfers.of(not_refused, f"{key}.transfers", "received - refused")
    if transfers and not d.transfer_to:
        raise ScenarioError(f"{key}.transfer_to", "transfers need at least one destination unit code")
    apologies = d.apologies.of(late, f"{key}.apologies", "late dossiers")
    oo_apologies = d.open_overdue_apologies.of(open_overdue, f"{key}.open_overdue_apologies", "open overdue dossiers")
    digitised = d.digitised.of(resolved, f"{key}.digitised", "resolved")
    if d.ratings:
        total = d.ratings.total.of(resolved, f"{key}.ratings.total", "resolved")
        ratings = _mix(d.ratings.levels, RATING_LEVELS, total, f"{key}.ratings.levels", "ratings.total")
    else:
        ratings = ()
    return DossierPlan(
        received=n,
        channels=channels,
        procedures=procedures,
        resolved=resolved,
        early=early,
        on_time_plain=on_time - early,
        late=late,
        withdrawn=withdrawn,
        refused=refused,
        open_overdue=open_overdue,
        open_pending=open_ - open_overdue,
        supplements=supplements,
        transfers=transfers,
        transfer_to=tuple(d.transfer_to),
        apologies=apologies,
        open_overdue_apologies=oo_apologies,
        digitised=digitised,
        online_payment=d.online_payment,
        ratings=ratings,
        late_days_max=d.late_days_max,
    )


def _resolve_documents(d: DocumentsIn, key: str) -> DocumentPlan:
    signed = d.signed.of(d.issued, f"{key}.signed", "issued")
    secret = d.secret.of(d.issued, f"{key}.secret", "issued")
    if signed + secret > d.issued:
        raise ScenarioError(
            f"{key}.secret",
            f"signed ({signed}) + secret ({secret}) exceed issued ({d.issued}); "
            "secret documents are never signed online",
        )
    cert = _mix(d.certificate, CERTIFICATE_KINDS, signed, f"{key}.certificate", "signed")
    leader = d.leader_signed.of(signed, f"{key}.leader_signed", "signed")
    online = d.processed_online.of(d.received, f"{key}.processed_online", "received")
    return DocumentPlan(d.issued, signed, secret, cert, leader, d.received, online)


def _resolve_feedback(f: FeedbackIn, key: str) -> FeedbackPlan:
    n = f.received
    handled = f.handled.of(n, f"{key}.handled", "received")
    on_time = f.on_time.of(handled, f"{key}.on_time", "handled")
    early = f.early.of(on_time, f"{key}.early", "on_time")
    open_ = n - handled
    open_overdue = f.open_overdue.of(open_, f"{key}.open_overdue", "open feedback items")
    transfers = f.transfers.of(n, f"{key}.transfers", "received")
    if transfers and not f.transfer_to:
        raise ScenarioError(f"{key}.transfer_to", "transfers need at least one destination unit code")
    if f.ratings:
        total = f.ratings.total.of(handled, f"{key}.ratings.total", "handled")
        ratings = _mix(f.ratings.levels, RATING_LEVELS, total, f"{key}.ratings.levels", "ratings.total")
    else:
        ratings = ()
    return FeedbackPlan(
        received=n,
        early=early,
        on_time_plain=on_time - early,
        late=handled - on_time,
        open_overdue=open_overdue,
        open_pending=open_ - open_overdue,
        days=f.days,
        channels=_mix(f.channels, FEEDBACK_CHANNELS, n, f"{key}.channels", "received"),
        subjects=_mix(f.subjects, FEEDBACK_SUBJECTS, n, f"{key}.subjects", "received"),
        transfers=transfers,
        transfer_to=tuple(f.transfer_to),
        ratings=ratings,
        late_days_max=f.late_days_max,
    )


def _resolve_meetings(m: MeetingsIn, key: str) -> MeetingPlan:
    un = m.uninterrupted.of(m.count, f"{key}.uninterrupted", "count")
    return MeetingPlan(m.count, un, tuple(m.endpoints), m.title, tuple(m.duration_minutes))  # type: ignore[arg-type]


# --- splitting a group's totals across its wards ---------------------------------------------
def _split_pairs(row_totals: list[int], named: tuple[tuple[Any, int], ...]) -> list[tuple[tuple[Any, int], ...]]:
    m = split_matrix(row_totals, [c for _, c in named])
    return [tuple((name, row[k]) for k, (name, _) in enumerate(named)) for row in m]


def _split_cols(row_totals: list[int], cols: list[int]) -> list[list[int]]:
    return split_matrix(row_totals, cols)


def _split_dossiers(d: DossierPlan, weights: list[Fraction]) -> list[DossierPlan]:
    rec = apportion(d.received, weights)
    # received -> resolved / withdrawn / refused / open
    fate = _split_cols(rec, [d.resolved, d.withdrawn, d.refused, d.open])
    resolved = [r[0] for r in fate]
    open_ = [r[3] for r in fate]
    ot_late = _split_cols(resolved, [d.on_time, d.late])
    on_time = [r[0] for r in ot_late]
    late = [r[1] for r in ot_late]
    early = [r[0] for r in _split_cols(on_time, [d.early, d.on_time_plain])]
    oo = [r[0] for r in _split_cols(open_, [d.open_overdue, d.open_pending])]
    apol = [r[0] for r in _split_cols(late, [d.apologies, d.late - d.apologies])]
    oo_apol = [r[0] for r in _split_cols(oo, [d.open_overdue_apologies, d.open_overdue - d.open_overdue_apologies])]
    not_refused = [r - f[2] for r, f in zip(rec, fate, strict=False)]
    supp = [r[0] for r in _split_cols(not_refused, [d.supplements, (d.received - d.refused) - d.supplements])]
    trans = [r[0] for r in _split_cols(not_refused, [d.transfers, (d.received - d.refused) - d.transfers])]
    digit = [r[0] for r in _split_cols(resolved, [d.digitised, d.resolved - d.digitised])]
    rated_cols = [c for _, c in d.ratings] + [d.resolved - d.rated]
    rated = _split_cols(resolved, rated_cols)
    channels = _split_pairs(rec, d.channels)
    procs = _split_pairs(rec, d.procedures)
    pay = d.online_payment
    pays = (
        [Quantity(count=c) for c in apportion(pay.count, [Fraction(r) for r in resolved] if sum(resolved) else weights)]
        if pay.count is not None
        else [pay] * len(rec)
    )
    out = []
    for j in range(len(rec)):
        out.append(
            replace(
                d,
                received=rec[j],
                channels=channels[j],
                procedures=procs[j],
                resolved=resolved[j],
                early=early[j],
                on_time_plain=on_time[j] - early[j],
                late=late[j],
                withdrawn=fate[j][1],
                refused=fate[j][2],
                open_overdue=oo[j],
                open_pending=open_[j] - oo[j],
                supplements=supp[j],
                transfers=trans[j],
                apologies=apol[j],
                open_overdue_apologies=oo_apol[j],
                digitised=digit[j],
                online_payment=pays[j],
                ratings=tuple((lvl, rated[j][k]) for k, (lvl, _) in enumerate(d.ratings)),
            )
        )
    return out


def _split_documents(d: DocumentPlan, weights: list[Fraction]) -> list[DocumentPlan]:
    issued = apportion(d.issued, weights)
    kinds = _split_cols(issued, [d.signed, d.secret, d.issued - d.signed - d.secret])
    signed = [k[0] for k in kinds]
    leader = [r[0] for r in _split_cols(signed, [d.leader_signed, d.signed - d.leader_signed])]
    certs = _split_pairs(signed, d.certificate)
    received = apportion(d.received, weights)
    online = [r[0] for r in _split_cols(received, [d.processed_online, d.received - d.processed_online])]
    return [
        DocumentPlan(issued[j], signed[j], kinds[j][1], certs[j], leader[j], received[j], online[j])
        for j in range(len(weights))
    ]


def _split_meetings(m: MeetingPlan, weights: list[Fraction]) -> list[MeetingPlan]:
    count = apportion(m.count, weights)
    un = [r[0] for r in _split_cols(count, [m.uninterrupted, m.count - m.uninterrupted])]
    return [replace(m, count=count[j], uninterrupted=un[j]) for j in range(len(weights))]
