"""Scenario files: what the simulator should produce, as exact integer plans.

A scenario YAML (format: ``producers/scenarios/README.md``) describes a period and a
list of units with their dossier, document and meeting figures.  :func:`load_scenario`
validates it (every error names the YAML key, e.g. ``units[2].dossiers.on_time``) and
resolves it into :class:`UnitPlan` objects holding *exact counts*: a share is turned
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
from datetime import date, datetime, time, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Any, Literal, Required, Self, TypedDict, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from common.calendar import LOCAL_TIMEZONE
from schemas import units as unit_registry

__all__ = [
    "CHANNELS",
    "RATING_LEVELS",
    "DocumentPlan",
    "DossierPlan",
    "GroupInfo",
    "MeetingPlan",
    "Procedure",
    "Quantity",
    "Scenario",
    "ScenarioError",
    "UnitPlan",
    "apportion",
    "load_scenario",
    "parse_scenario",
]

ChannelName = Literal["online_full", "online_partial", "in_person", "postal"]
RatingLevel = Literal["very_satisfied", "satisfied", "unsatisfied"]
CertificateName = Literal["organisation", "personal"]
CHANNELS: tuple[ChannelName, ...] = ("online_full", "online_partial", "in_person", "postal")
RATING_LEVELS: tuple[RatingLevel, ...] = ("very_satisfied", "satisfied", "unsatisfied")
CERTIFICATE_KINDS: tuple[CertificateName, ...] = ("organisation", "personal")
UNIT_CODE_RE = re.compile(r"^[A-Za-z0-9._-]{1,40}$")


class ScenarioError(ValueError):
    """A scenario that cannot be used; the message names the file and the YAML key."""

    def __init__(self, key: str, message: str, source: str | Path | None = None) -> None:
        self.key = key
        self.reason = message
        self.source = str(source) if source else None
        where = f"{self.source}: " if self.source else ""
        super().__init__(f"{where}{key}: {message}" if key else f"{where}{message}")


# ---------------------------------------------------------------------------------------
# Quantities and apportionment
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Quantity:
    """An exact ``count`` or a ``share`` (Fraction in [0, 1]) of some base."""

    count: int | None = None
    share: Fraction | None = None

    def of(self, base: int, key: str, base_name: str) -> int:
        if self.count is not None:
            if self.count > base:
                raise ScenarioError(key, f"{self.count} exceeds {base_name} ({base})")
            return self.count
        assert self.share is not None
        return _round_half_up(self.share * base)

    def __str__(self) -> str:
        return str(self.count) if self.count is not None else f"{float(self.share) * 100:g}%"  # type: ignore[arg-type]  # share is set when count is not


def _round_half_up(x: Fraction) -> int:
    return int((x + Fraction(1, 2)).__floor__())


def _parse_quantity(v: Any) -> Quantity:
    if isinstance(v, Quantity):
        return v
    if isinstance(v, bool):
        raise ValueError(f"expected a count (integer) or a share (0.95 or '95%'), not {v!r}")
    if isinstance(v, int):
        if v < 0:
            raise ValueError(f"a count cannot be negative ({v})")
        return Quantity(count=v)
    if isinstance(v, float):
        share = Fraction(repr(v))
        if not 0 <= share <= 1:
            raise ValueError(f"a share must be between 0 and 1 (got {v}); write an integer for a count")
        return Quantity(share=share)
    if isinstance(v, str):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*%\s*", v)
        if not m:
            raise ValueError(f"expected a count (integer) or a share (0.95 or '95%'), not {v!r}")
        share = Fraction(m.group(1)) / 100
        if share > 1:
            raise ValueError(f"a share cannot exceed 100% (got {v})")
        return Quantity(share=share)
    raise ValueError(f"expected a count (integer) or a share (0.95 or '95%'), not {type(v).__name__}")


Q = Annotated[Quantity, BeforeValidator(_parse_quantity)]


def apportion(total: int, weights: Sequence[Fraction | int | float], caps: list[int] | None = None) -> list[int]:
    """Split ``total`` into integers proportional to ``weights`` (largest remainder).

    Each part is within 1 of its exact quota; ties go to the earlier entry, so the
    result is deterministic.  With ``caps`` no part exceeds its cap (requires
    ``sum(caps) >= total``).
    """
    n = len(weights)
    if total == 0 or n == 0:
        return [0] * n
    ws = [Fraction(w) if not isinstance(w, Fraction) else w for w in weights]
    if caps is not None and sum(caps) < total:
        raise ValueError(f"cannot place {total} into capacities {caps}")
    wsum = sum(ws)
    if wsum <= 0:
        if caps is None:
            raise ValueError("all weights are zero")
        ws, wsum = [Fraction(c) for c in caps], Fraction(sum(caps))
    quotas = [total * w / wsum for w in ws]
    parts = [int(q.__floor__()) for q in quotas]
    if caps is not None:
        parts = [min(p, c) for p, c in zip(parts, caps, strict=False)]
    left = total - sum(parts)
    order = sorted(range(n), key=lambda i: (-(quotas[i] - int(quotas[i].__floor__())), i))
    while left > 0:
        moved = False
        for i in order:
            if left == 0:
                break
            if caps is None or parts[i] < caps[i]:
                parts[i] += 1
                left -= 1
                moved = True
        if not moved:
            raise ValueError("apportionment failed")  # pragma: no cover - guarded by the caps check
    return parts


def split_matrix(row_totals: list[int], col_totals: list[int]) -> list[list[int]]:
    """Integer matrix with the given row and column sums, each row mixed like the columns.

    Rows are filled in order, each in proportion to what is left of every column, so
    the last row takes the exact remainder (sum(rows) must equal sum(cols)).
    """
    if sum(row_totals) != sum(col_totals):
        raise ValueError(f"row totals {sum(row_totals)} != column totals {sum(col_totals)}")
    left = list(col_totals)
    out = []
    for r in row_totals:
        part = apportion(r, [Fraction(x) for x in left], caps=left) if r else [0] * len(left)
        out.append(part)
        left = [a - b for a, b in zip(left, part, strict=False)]
    return out


# ---------------------------------------------------------------------------------------
# YAML models (validation only; resolved into plans below)
# ---------------------------------------------------------------------------------------
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)


class ProcedureIn(_Strict):
    code: str = Field(min_length=1, max_length=100, description="mã thủ tục hành chính")
    name: str | None = Field(None, max_length=500)
    field: str = Field(min_length=1, max_length=500, description="lĩnh vực")
    days: int = Field(ge=1, le=250, description="statutory processing time in working days")
    fee: bool = Field(False, description="whether the procedure charges a fee (phí, lệ phí)")
    count: int | None = Field(None, ge=0)
    share: float | str | None = None

    @model_validator(mode="after")
    def _one_weight(self) -> Self:
        if self.count is not None and self.share is not None:
            raise ValueError("give either count or share, not both")
        return self


def _default_rating_levels() -> dict[RatingLevel, Quantity]:
    return {
        "very_satisfied": _parse_quantity(0.85),
        "satisfied": _parse_quantity(0.13),
        "unsatisfied": _parse_quantity(0.02),
    }


def _default_channels() -> dict[ChannelName, Quantity]:
    return {"in_person": _parse_quantity(1.0)}


def _default_certificate() -> dict[CertificateName, Quantity]:
    return {"organisation": _parse_quantity(0.7), "personal": _parse_quantity(0.3)}


class RatingsIn(_Strict):
    total: Q = Field(description="ratings: count, or share of resolved dossiers")
    levels: dict[RatingLevel, Q] = Field(default_factory=_default_rating_levels)


class DossiersIn(_Strict):
    received: int = Field(ge=0)
    channels: dict[ChannelName, Q] = Field(default_factory=_default_channels)
    procedures: list[ProcedureIn] = Field(min_length=1)
    resolved: Q
    on_time: Q = Field(description="resolved on time or early: count, or share of resolved")
    late: Q | None = Field(None, description="optional check: must equal resolved - on_time")
    early: Q = Field(default_factory=lambda: _parse_quantity(0.6), description="share/count of on_time")
    withdrawn: Q = Field(default_factory=lambda: _parse_quantity(0))
    refused: Q = Field(default_factory=lambda: _parse_quantity(0))
    open_overdue: Q = Field(default_factory=lambda: _parse_quantity(0.3), description="of dossiers left open")
    supplements: Q = Field(default_factory=lambda: _parse_quantity(0.03), description="of received (not refused)")
    transfers: Q = Field(default_factory=lambda: _parse_quantity(0), description="of received (not refused)")
    transfer_to: list[str] = Field(default_factory=list)
    apologies: Q = Field(default_factory=lambda: _parse_quantity(1.0), description="of late resolved dossiers")
    open_overdue_apologies: Q = Field(default_factory=lambda: _parse_quantity(0))
    digitised: Q = Field(default_factory=lambda: _parse_quantity(0.5), description="of resolved")
    online_payment: Q = Field(default_factory=lambda: _parse_quantity(0.3), description="of fee-bearing resolved")
    ratings: RatingsIn | None = None
    late_days_max: int = Field(10, ge=0, le=60, description="lateness of late dossiers, working days at most")

    @field_validator("transfer_to")
    @classmethod
    def _codes(cls, v: list[str]) -> list[str]:
        for c in v:
            if not UNIT_CODE_RE.match(c):
                raise ValueError(f"{c!r} is not a valid unit code (letters, digits, . _ -)")
        return v


class DocumentsIn(_Strict):
    issued: int = Field(0, ge=0, description="văn bản đi")
    signed: Q = Field(default_factory=lambda: _parse_quantity(0), description="ký số: count or share of issued")
    secret: Q = Field(default_factory=lambda: _parse_quantity(0), description="văn bản mật (never signed online)")
    certificate: dict[CertificateName, Q] = Field(default_factory=_default_certificate)
    leader_signed: Q = Field(default_factory=lambda: _parse_quantity(0.4), description="of signed")
    received: int = Field(0, ge=0, description="văn bản đến")
    processed_online: Q = Field(default_factory=lambda: _parse_quantity(1.0), description="of received")


class MeetingsIn(_Strict):
    count: int = Field(ge=0)
    uninterrupted: Q = Field(default_factory=lambda: _parse_quantity(1.0), description="of count")
    endpoints: list[str] = Field(min_length=1, description="connected endpoints (điểm cầu), host included")
    title: str = Field("Họp trực tuyến", min_length=1, max_length=500)
    duration_minutes: tuple[int, int] = (60, 180)

    @field_validator("endpoints")
    @classmethod
    def _codes(cls, v: list[str]) -> list[str]:
        for c in v:
            if not UNIT_CODE_RE.match(c):
                raise ValueError(f"{c!r} is not a valid endpoint code (letters, digits, . _ -, at most 40)")
        if len(set(v)) != len(v):
            raise ValueError("endpoints are listed twice")
        return v

    @field_validator("duration_minutes")
    @classmethod
    def _durations(cls, v: tuple[int, int]) -> tuple[int, int]:
        if not 1 <= v[0] <= v[1] <= 600:
            raise ValueError("expected [min, max] minutes with 1 <= min <= max <= 600")
        return v


class UnitIn(_Strict):
    label: str | None = None
    province_code: str = Field(pattern=r"^\d{2}$")
    ward_code: str | None = Field(None, pattern=r"^\d{5}$")
    district_code: str | None = Field(None, pattern=r"^\d{3}$")
    unit_code: str | None = Field(None, pattern=r"^[A-Za-z0-9._-]{1,40}$")
    wards: dict[str, float | int] | None = Field(None, description="group: ward code -> weight")
    source_system: str | None = Field(None, min_length=1, max_length=500)
    dossiers: DossiersIn | None = None
    documents: DocumentsIn | None = None
    meetings: MeetingsIn | None = None

    @model_validator(mode="after")
    def _shape(self) -> Self:
        if self.wards is not None:
            if self.ward_code is not None:
                raise ValueError("ward_code: give either ward_code or wards (a group), not both")
            if not self.wards:
                raise ValueError("wards: a group needs at least one ward")
            for code, w in self.wards.items():
                if not re.fullmatch(r"\d{5}", str(code)):
                    raise ValueError(f"wards: {code!r} is not a 5-digit ward code")
                if isinstance(w, bool) or w < 0:
                    raise ValueError(f"wards.{code}: weight must be a non-negative number")
            if sum(self.wards.values()) <= 0:
                raise ValueError("wards: weights must not all be zero")
        elif self.ward_code is None and self.district_code is None and self.unit_code is None:
            raise ValueError("ward_code: one of ward_code, district_code, unit_code or wards is required")
        return self


class PeriodIn(_Strict):
    start: date
    end: date = Field(description="inclusive")
    timezone: str = LOCAL_TIMEZONE

    @model_validator(mode="after")
    def _order(self) -> Self:
        if self.end < self.start:
            raise ValueError(f"end: {self.end} is before start {self.start}")
        try:
            tz = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timezone: unknown timezone {self.timezone!r}") from None
        for d in (self.start, self.end):
            off = datetime.combine(d, time(12), tz).utcoffset()
            if off != timedelta(hours=7):
                raise ValueError(
                    f"timezone: the working-day calendar is Vietnam's (UTC+07:00); {self.timezone} is {off} on {d}"
                )
        return self


class ScenarioIn(_Strict):
    name: str = Field(min_length=1, max_length=200)
    description: str | None = None
    seed: int
    period: PeriodIn
    extra_units: list[str] | str = Field(default_factory=list)
    source_system: str = Field("motcua", min_length=1, max_length=500)
    office_hours: list[tuple[time, time]] = Field(
        default_factory=lambda: [(time(7, 30), time(11, 30)), (time(13, 30), time(17, 0))]
    )
    defaults: dict[str, Any] = Field(default_factory=dict)
    units: list[dict[str, Any]] = Field(min_length=1)

    @field_validator("office_hours")
    @classmethod
    def _sessions(cls, v: list[tuple[time, time]]) -> list[tuple[time, time]]:
        prev = None
        for a, b in v:
            if not a < b or (prev is not None and a < prev):
                raise ValueError("sessions must be [start, end] pairs, in order, not overlapping")
            prev = b
        if not v:
            raise ValueError("at least one office session is needed")
        return v


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
                q = _parse_quantity(p.share)
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
