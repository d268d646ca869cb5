"""The scenario YAML as validated input (pydantic models; no resolving): ``producers/scenarios/README.md``
documents the format, :mod:`producers.scenario` resolves these into exact plans."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Any, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from common.calendar import LOCAL_TIMEZONE
from producers.apportion import Q, Quantity, parse_quantity

ChannelName = Literal["online_full", "online_partial", "in_person", "postal"]
RatingLevel = Literal["very_satisfied", "satisfied", "unsatisfied"]
CertificateName = Literal["organisation", "personal"]
FeedbackChannelName = Literal["national_portal", "provincial_portal", "hotline", "in_person", "postal", "forwarded"]
FeedbackSubjectName = Literal["regulations", "procedure_handling", "conduct", "other"]
CHANNELS: tuple[ChannelName, ...] = ("online_full", "online_partial", "in_person", "postal")
RATING_LEVELS: tuple[RatingLevel, ...] = ("very_satisfied", "satisfied", "unsatisfied")
CERTIFICATE_KINDS: tuple[CertificateName, ...] = ("organisation", "personal")
FEEDBACK_CHANNELS: tuple[FeedbackChannelName, ...] = (
    "national_portal",
    "provincial_portal",
    "hotline",
    "in_person",
    "postal",
    "forwarded",
)
FEEDBACK_SUBJECTS: tuple[FeedbackSubjectName, ...] = ("regulations", "procedure_handling", "conduct", "other")
UNIT_CODE_RE = re.compile(r"^[A-Za-z0-9._-]{1,40}$")


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
        "very_satisfied": parse_quantity(0.85),
        "satisfied": parse_quantity(0.13),
        "unsatisfied": parse_quantity(0.02),
    }


def _default_channels() -> dict[ChannelName, Quantity]:
    return {"in_person": parse_quantity(1.0)}


def _default_certificate() -> dict[CertificateName, Quantity]:
    return {"organisation": parse_quantity(0.7), "personal": parse_quantity(0.3)}


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
    early: Q = Field(default_factory=lambda: parse_quantity(0.6), description="share/count of on_time")
    withdrawn: Q = Field(default_factory=lambda: parse_quantity(0))
    refused: Q = Field(default_factory=lambda: parse_quantity(0))
    open_overdue: Q = Field(default_factory=lambda: parse_quantity(0.3), description="of dossiers left open")
    supplements: Q = Field(default_factory=lambda: parse_quantity(0.03), description="of received (not refused)")
    transfers: Q = Field(default_factory=lambda: parse_quantity(0), description="of received (not refused)")
    transfer_to: list[str] = Field(default_factory=list)
    apologies: Q = Field(default_factory=lambda: parse_quantity(1.0), description="of late resolved dossiers")
    open_overdue_apologies: Q = Field(default_factory=lambda: parse_quantity(0))
    digitised: Q = Field(default_factory=lambda: parse_quantity(0.5), description="of resolved")
    online_payment: Q = Field(default_factory=lambda: parse_quantity(0.3), description="of fee-bearing resolved")
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
    signed: Q = Field(default_factory=lambda: parse_quantity(0), description="ký số: count or share of issued")
    secret: Q = Field(default_factory=lambda: parse_quantity(0), description="văn bản mật (never signed online)")
    certificate: dict[CertificateName, Q] = Field(default_factory=_default_certificate)
    leader_signed: Q = Field(default_factory=lambda: parse_quantity(0.4), description="of signed")
    received: int = Field(0, ge=0, description="văn bản đến")
    processed_online: Q = Field(default_factory=lambda: parse_quantity(1.0), description="of received")


class MeetingsIn(_Strict):
    count: int = Field(ge=0)
    uninterrupted: Q = Field(default_factory=lambda: parse_quantity(1.0), description="of count")
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


def _default_feedback_channels() -> dict[FeedbackChannelName, Quantity]:
    return {"national_portal": parse_quantity(1.0)}


def _default_feedback_subjects() -> dict[FeedbackSubjectName, Quantity]:
    return {"procedure_handling": parse_quantity(1.0)}


class FeedbackIn(_Strict):
    """Citizen feedback (phản ánh, kiến nghị) of one unit; README: ``feedback``."""

    received: int = Field(ge=0, description="feedback items received (tiếp nhận) in the period")
    handled: Q = Field(default_factory=lambda: parse_quantity(1.0), description="of received")
    on_time: Q = Field(default_factory=lambda: parse_quantity(1.0), description="handled on or before due: of handled")
    early: Q = Field(default_factory=lambda: parse_quantity(0.8), description="of on_time: an earlier day than due")
    open_overdue: Q = Field(default_factory=lambda: parse_quantity(0), description="of the items left open")
    days: int = Field(15, ge=1, le=120, description="working days to handle an item (hạn xử lý)")
    channels: dict[FeedbackChannelName, Q] = Field(default_factory=_default_feedback_channels)
    subjects: dict[FeedbackSubjectName, Q] = Field(default_factory=_default_feedback_subjects)
    transfers: Q = Field(default_factory=lambda: parse_quantity(0), description="of received")
    transfer_to: list[str] = Field(default_factory=list)
    ratings: RatingsIn | None = Field(None, description="the citizen's satisfaction with the handling: of handled")
    late_days_max: int = Field(5, ge=0, le=60)

    @field_validator("transfer_to")
    @classmethod
    def _codes(cls, v: list[str]) -> list[str]:
        for c in v:
            if not UNIT_CODE_RE.match(c):
                raise ValueError(f"{c!r} is not a valid unit code (letters, digits, . _ -)")
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
    feedback: FeedbackIn | None = None

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
            if self.feedback is not None:
                raise ValueError("feedback: not supported for a group of wards; give it per ward")
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
