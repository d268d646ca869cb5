"""Events that one-stop systems, document-management systems and meeting systems emit.

Every event shares the :class:`Envelope`; ``event_type`` selects the model.  Values
on the wire are JSON objects; timestamps are RFC 3339 date-times with an offset (naive
timestamps are rejected, because "07:30" means different instants in Hà Nội and UTC).
The accepted spellings are exactly :data:`RFC3339_PATTERN` (see :data:`DATETIME_RULES`),
checked on the raw JSON strings by :func:`timestamp_problems`, which
:func:`schemas.parse_event` runs before pydantic (whose own parser is laxer).

The unit an event belongs to is ``ward_code`` (xã/phường/đặc khu, today's official
5-digit code), or for history before 1 July 2025 a district desk
(``district_code`` without ``ward_code``), or a registered unit such as a
province department (``unit_code``).  :attr:`Envelope.unit_key` is that unit; it is
the Kafka key, so one unit's events stay in one partition, in order.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self, TypeAlias, Union
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from common import topics
from schemas import units

SCHEMA_VERSION = 1
# A source clock may run a little ahead; anything further is a bug upstream.
MAX_CLOCK_SKEW = timedelta(days=1)
# Statutory processing times are days to months; a due date years ahead is a data error.
MAX_DUE_SPAN = timedelta(days=366)


def _check_due_after_reception(received_at: datetime, due_at: datetime) -> None:
    """A due date (ngày hẹn trả, hạn xử lý) after the reception, and within MAX_DUE_SPAN of it."""
    if due_at <= received_at:
        raise ValueError(f"due_at: {due_at.isoformat()} must be after received_at {received_at.isoformat()}")
    if due_at - received_at > MAX_DUE_SPAN:
        raise ValueError(f"due_at: more than {MAX_DUE_SPAN.days} days after received_at")


Code2 = Annotated[str, Field(pattern=r"^\d{2}$", description="province code, 2 digits, e.g. '82'")]
Code3 = Annotated[str, Field(pattern=r"^\d{3}$", description="pre-2025 district code, 3 digits, e.g. '815'")]
Code5 = Annotated[str, Field(pattern=r"^\d{5}$", description="ward/commune code, 5 digits, e.g. '28261'")]
UnitCode = Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,40}$")]
Text = Annotated[str, Field(min_length=1, max_length=500)]
Id = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^\S(.*\S)?$")]


# ---------------------------------------------------------------------------------------
# Timestamps: RFC 3339 (section 5.6) date-times, one definition for the worker and the
# exported JSON Schema.  pydantic's datetime parser alone is laxer than ``format:
# date-time`` as strict validators (.NET, Java, check-jsonschema) assert it: it takes a
# space or "_" for "T", hh:mm without seconds, +0700, a "," fraction, lower-case t/z and
# even a number of seconds since 1970 in a string.
# ---------------------------------------------------------------------------------------
_YEAR = r"(?:[0-9]{3}[1-9]|[0-9]{2}[1-9][0-9]|[0-9][1-9][0-9]{2}|[1-9][0-9]{3})"  # 0001-9999
_LEAP_YEAR = r"(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)"
_FULL_DATE = (
    rf"(?:{_YEAR}-(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    rf"|{_YEAR}-(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
    rf"|{_YEAR}-02-(?:0[1-9]|1[0-9]|2[0-8])"
    rf"|{_LEAP_YEAR}-02-29)"
)
_FULL_TIME = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]+)?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
# One text, the same meaning in ECMA-262 (JSON Schema's dialect), Python, Java and .NET:
# [0-9], not \d (Python's \d takes other scripts' digits), and the end is "nothing follows"
# ("(?![\s\S])"), not "$", which in Python, Java and .NET also matches before a final "\n".
RFC3339_PATTERN = rf"^{_FULL_DATE}T{_FULL_TIME}(?![\s\S])"
DATETIME_RULES = (
    "RFC 3339 date-time (section 5.6) with its UTC offset: YYYY-MM-DDThh:mm:ss, an optional fraction of "
    "any number of digits after '.', then Z or +hh:mm / -hh:mm (e.g. 2026-11-16T08:00:00+07:00, "
    "2026-11-16T01:00:00.5Z). 'T' and 'Z' must be upper case (RFC 3339 lets a specification require it). "
    "Rejected: naive timestamps, a space for 'T', missing seconds, +hhmm, days that do not exist. "
    "Rejected although RFC 3339 allows them, because the worker's datetimes cannot represent them: "
    "leap second 60 and year 0000. Fractions finer than microseconds are truncated."
)
_rfc3339_match = re.compile(RFC3339_PATTERN).match
_LOOSE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})(.)([0-9]{2}):([0-9]{2})(?::([0-9]{2}))?([.,][0-9]*)?(.*)", re.DOTALL
)
_OFFSET = re.compile(r"Z|[+-]([0-9]{2}):([0-9]{2})")


def is_rfc3339(value: str) -> bool:
    """True if ``value`` is a date-time spelling the worker and the JSON Schema accept."""
    return _rfc3339_match(value) is not None


def why_not_rfc3339(value: str) -> str:
    """The reason ``value`` is refused, for error messages (only called for a refused value)."""
    shown = repr(value if len(value) <= 40 else value[:40] + "…")
    return f"{shown} is not an RFC 3339 date-time: {_reason(value)}"


def _reason(v: str) -> str:
    m = _LOOSE.fullmatch(v)
    if m is None:
        return "expected YYYY-MM-DDThh:mm:ss[.fraction] then Z or ±hh:mm, e.g. 2026-11-16T08:00:00+07:00"
    year, month, day, sep, hour, minute, second, frac, offset = m.groups()
    if sep == "t":
        return "'T' must be upper case"
    if sep != "T":
        return f"date and time must be separated by 'T', not {sep!r}"
    if second is None:
        return "seconds are required (hh:mm:ss)"
    if frac is not None and (frac[0] == "," or len(frac) == 1):
        return "a fraction of a second is '.' followed by digits"
    if offset == "":
        return "no UTC offset: a timezone-aware timestamp ends with Z or ±hh:mm"
    om = _OFFSET.match(offset)
    if offset[:1] == "z":
        return "'Z' must be upper case"
    if om is None:
        if re.fullmatch(r"[+-][0-9]{4}", offset):
            return "the offset is ±hh:mm, with a colon"
        return f"the offset must be Z or ±hh:mm, not {offset[:10]!r}"
    if om.end() != len(offset):
        return f"unexpected {offset[om.end() : om.end() + 10]!r} after the offset"
    y, mo, d = int(year), int(month), int(day)
    if y == 0:
        return "year 0000 is not accepted (not representable)"
    if not 1 <= mo <= 12:
        return f"month {month} does not exist"
    leap = y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)
    days = 29 if mo == 2 and leap else (28, 31, 30)[0 if mo == 2 else 2 if mo in (4, 6, 9, 11) else 1]
    if not 1 <= d <= days:
        return f"{year}-{month} has no day {day}"
    if int(hour) > 23 or int(minute) > 59:
        return f"no such time of day {hour}:{minute}"
    if second == "60":
        return "leap second 60 is not accepted (not representable)"
    if int(second) > 59:
        return f"no such second {second}"
    if om.group(1) is not None and (int(om.group(1)) > 23 or int(om.group(2)) > 59):
        return f"offset {offset} is out of range (at most ±23:59)"
    return "expected YYYY-MM-DDThh:mm:ss[.fraction] then Z or ±hh:mm"


def timestamp_problems(event_type: str, data: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, reason) for each date-time field of a decoded JSON event that is not RFC 3339.

    Cheap on the hot path: one precompiled regex per timestamp present.  Values that are
    not strings are left to pydantic ("Input should be a valid datetime").
    """
    out: list[tuple[str, str]] | None = None
    for name in TIMESTAMP_FIELDS[event_type]:
        v = data.get(name)
        if isinstance(v, str) and _rfc3339_match(v) is None:
            if out is None:
                out = []
            out.append((name, why_not_rfc3339(v)))
    return out or []


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Envelope(BaseModel):
    """Fields every event carries."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)

    event_id: UUID = Field(description="unique per event; redeliveries keep it, so duplicates are recognised")
    occurred_at: AwareDatetime = Field(description="when it happened at the source (timezone-aware)")
    schema_version: Literal[1] = 1
    source_system: Text = Field(description="producing system, e.g. 'motcua-dongthap'")
    province_code: Code2
    district_code: Code3 | None = Field(None, description="only for history before 1 July 2025")
    ward_code: Code5 | None = None
    unit_code: UnitCode | None = Field(None, description="registered non-ward unit, e.g. a province department")

    @property
    def unit_key(self) -> str:
        """The receiving unit: ward, else district desk, else registered unit (also the Kafka key)."""
        return self.ward_code or self.district_code or self.unit_code  # type: ignore[return-value]

    def event_time(self) -> datetime:
        """The business time that places this event in windows (overridden per type)."""
        return self.occurred_at

    @model_validator(mode="after")
    def _check_unit_and_clock(self) -> Self:
        problems = units.check_codes(self.province_code, self.ward_code, self.district_code, self.unit_code)
        if problems:
            raise ValueError(f"{problems[0][0]}: {problems[0][1]}")
        if self.unit_key is None:
            raise ValueError("ward_code: one of ward_code, district_code or unit_code is required")
        limit = _utcnow() + MAX_CLOCK_SKEW
        for name in _past_fields(type(self)):
            value = getattr(self, name)
            if value is not None and value > limit:
                raise ValueError(f"{name}: {value.isoformat()} is more than {MAX_CLOCK_SKEW} in the future")
        return self


_PAST_FIELDS: dict[type[Envelope], tuple[str, ...]] = {}


def _past_fields(cls: type[Envelope]) -> tuple[str, ...]:
    """Timestamps that record something that already happened (due dates and schedules may be ahead)."""
    names = _PAST_FIELDS.get(cls)
    if names is None:
        names = tuple(
            n
            for n, f in cls.model_fields.items()
            if "datetime" in str(f.annotation).lower() and "due" not in n and n != "scheduled_start"
        )
        _PAST_FIELDS[cls] = names
    return names


# ---------------------------------------------------------------------------------------
# Dossiers (hồ sơ thủ tục hành chính)
# ---------------------------------------------------------------------------------------
class Channel(str, Enum):
    """How a dossier was submitted (hình thức tiếp nhận)."""

    online = "online"  # trực tuyến
    in_person = "in_person"  # trực tiếp
    postal = "postal"  # bưu chính công ích


class OnlineService(str, Enum):
    """Online public service type (dịch vụ công trực tuyến)."""

    full = "full"  # toàn trình
    partial = "partial"  # một phần


class Outcome(str, Enum):
    approved = "approved"  # giải quyết, cấp kết quả
    denied = "denied"  # từ chối giải quyết có lý do


class Rating(str, Enum):
    very_satisfied = "very_satisfied"  # rất hài lòng
    satisfied = "satisfied"  # hài lòng
    unsatisfied = "unsatisfied"  # không hài lòng


class _DossierEvent(Envelope):
    dossier_id: Id = Field(description="mã hồ sơ, unique within the source system")


class DossierReceived(_DossierEvent):
    """Dossier received (tiếp nhận hồ sơ)."""

    event_type: Literal["dossier.received"] = "dossier.received"
    procedure_code: Id = Field(description="mã thủ tục hành chính, e.g. '1.001612'")
    procedure_name: Text | None = None
    field: Text = Field(description="lĩnh vực, e.g. 'Hộ tịch'")
    channel: Channel
    online_service: OnlineService | None = Field(None, description="required when channel is online")
    received_at: AwareDatetime
    due_at: AwareDatetime = Field(description="ngày hẹn trả, set by the one-stop system in working days")

    def event_time(self) -> datetime:
        return self.received_at

    @model_validator(mode="after")
    def _rules(self) -> Self:
        _check_due_after_reception(self.received_at, self.due_at)
        if self.channel is Channel.online and self.online_service is None:
            raise ValueError("online_service: required (full or partial) when channel is online")
        if self.channel is not Channel.online and self.online_service is not None:
            raise ValueError(f"online_service: only allowed when channel is online, not {self.channel.value}")
        return self


class SupplementRequested(_DossierEvent):
    """Supplement requested (yêu cầu bổ sung); the processing clock restarts, giving a new due date."""

    event_type: Literal["dossier.supplement_requested"] = "dossier.supplement_requested"
    requested_at: AwareDatetime
    reason: Text
    new_due_at: AwareDatetime = Field(description="due date after the restart (ngày hẹn trả mới)")

    def event_time(self) -> datetime:
        return self.requested_at

    @model_validator(mode="after")
    def _rules(self) -> Self:
        if self.new_due_at <= self.requested_at:
            raise ValueError("new_due_at: must be after requested_at")
        return self


class DossierTransferred(_DossierEvent):
    """Transferred to another unit (liên thông); the receiving unit stays accountable."""

    event_type: Literal["dossier.transferred"] = "dossier.transferred"
    transferred_at: AwareDatetime
    to_unit_code: UnitCode = Field(description="ward code or registered unit code of the destination")

    def event_time(self) -> datetime:
        return self.transferred_at


class DossierResolved(_DossierEvent):
    """Resolved and result returned (đã giải quyết, trả kết quả)."""

    event_type: Literal["dossier.resolved"] = "dossier.resolved"
    received_at: AwareDatetime
    due_at: AwareDatetime = Field(description="due date in force at resolution, after any restarts")
    resolved_at: AwareDatetime
    outcome: Outcome = Outcome.approved
    result_digitised: bool = Field(description="kết quả được số hoá")
    fee_paid_online: bool | None = Field(None, description="fees paid online; null when the procedure has no fee")
    channel: Channel | None = None

    def event_time(self) -> datetime:
        return self.resolved_at

    @model_validator(mode="after")
    def _rules(self) -> Self:
        if self.resolved_at < self.received_at:
            raise ValueError(
                f"resolved_at: {self.resolved_at.isoformat()} is before received_at {self.received_at.isoformat()}"
            )
        if self.due_at <= self.received_at:
            raise ValueError("due_at: must be after received_at")
        return self


class DossierWithdrawn(_DossierEvent):
    """Withdrawn by the applicant (rút hồ sơ); closes the dossier without resolving it."""

    event_type: Literal["dossier.withdrawn"] = "dossier.withdrawn"
    withdrawn_at: AwareDatetime
    reason: Text | None = None

    def event_time(self) -> datetime:
        return self.withdrawn_at


class DossierRefused(_DossierEvent):
    """Refused (từ chối tiếp nhận / trả lại); closes the dossier without resolving it."""

    event_type: Literal["dossier.refused"] = "dossier.refused"
    refused_at: AwareDatetime
    reason: Text

    def event_time(self) -> datetime:
        return self.refused_at


class ApologyIssued(_DossierEvent):
    """Apology letter for a late dossier (thư xin lỗi), usually with a new appointment date."""

    event_type: Literal["dossier.apology_issued"] = "dossier.apology_issued"
    issued_at: AwareDatetime
    new_due_at: AwareDatetime | None = None

    def event_time(self) -> datetime:
        return self.issued_at


class SatisfactionRated(Envelope):
    """Citizen satisfaction rating (đánh giá mức độ hài lòng)."""

    event_type: Literal["dossier.rated"] = "dossier.rated"
    rating_id: Id
    dossier_id: Id | None = None
    rated_at: AwareDatetime
    rating: Rating

    def event_time(self) -> datetime:
        return self.rated_at


# ---------------------------------------------------------------------------------------
# Citizen feedback (phản ánh, kiến nghị — PAKN)
#
# No personal data (Decree 13/2023/NĐ-CP): these events never carry the citizen's name,
# address, phone or ID number, nor the free text of the feedback or of the answer. They say
# which unit handles which item, through which channel, on what subject, when it is due and
# when and how it was handled; that is all the rates and the overdue alert need.
# ---------------------------------------------------------------------------------------
class FeedbackChannel(str, Enum):
    """How the feedback reached the unit (kênh tiếp nhận phản ánh, kiến nghị)."""

    national_portal = "national_portal"  # Cổng Dịch vụ công quốc gia (hệ thống PAKN)
    provincial_portal = "provincial_portal"  # cổng / ứng dụng PAKN của tỉnh
    hotline = "hotline"  # đường dây nóng
    in_person = "in_person"  # trực tiếp tại bộ phận một cửa
    postal = "postal"  # văn bản gửi qua bưu chính
    forwarded = "forwarded"  # chuyển đến từ Văn phòng Chính phủ hoặc cơ quan khác


class FeedbackSubject(str, Enum):
    """What the feedback is about (phân loại phản ánh, kiến nghị; criterion 5.1 of Decision 766)."""

    regulations = "regulations"  # quy định, chính sách, thủ tục hành chính
    procedure_handling = "procedure_handling"  # việc tiếp nhận, giải quyết thủ tục hành chính
    conduct = "conduct"  # hành vi, thái độ của cán bộ, công chức
    other = "other"  # khác


class FeedbackOutcome(str, Enum):
    answered = "answered"  # đã xử lý, trả lời
    declined = "declined"  # không thụ lý (không thuộc thẩm quyền, không đủ điều kiện), có lý do


class _FeedbackEvent(Envelope):
    """A citizen feedback item's event. No personal data: no name, address, phone or ID number of
    the citizen and no free text of the feedback (Decree 13/2023/NĐ-CP); unknown fields are refused."""

    feedback_id: Id = Field(description="mã phản ánh, kiến nghị, unique within the source system")


class FeedbackReceived(_FeedbackEvent):
    """Feedback received (tiếp nhận phản ánh, kiến nghị), with its due date (hạn xử lý), which the
    handling system sets in working days like a dossier's. No personal data and no free text of the
    complaint: only its channel, subject and field (lĩnh vực)."""

    event_type: Literal["feedback.received"] = "feedback.received"
    channel: FeedbackChannel
    subject: FeedbackSubject
    field: Text | None = Field(None, description="lĩnh vực the feedback concerns, e.g. 'Đất đai'")
    related_dossier_id: Id | None = Field(None, description="mã hồ sơ the feedback is about, if any")
    received_at: AwareDatetime
    due_at: AwareDatetime = Field(description="hạn xử lý, set by the handling system in working days")

    def event_time(self) -> datetime:
        return self.received_at

    @model_validator(mode="after")
    def _rules(self) -> Self:
        _check_due_after_reception(self.received_at, self.due_at)
        return self


class FeedbackTransferred(_FeedbackEvent):
    """Feedback transferred to the unit competent to handle it (chuyển xử lý); the receiving unit
    stays accountable for it, as for a transferred dossier. No personal data."""

    event_type: Literal["feedback.transferred"] = "feedback.transferred"
    transferred_at: AwareDatetime
    to_unit_code: UnitCode = Field(description="ward code or registered unit code of the destination")

    def event_time(self) -> datetime:
        return self.transferred_at


class FeedbackHandled(_FeedbackEvent):
    """Feedback handled (đã xử lý, trả lời). ``received_at`` and ``due_at`` repeat the reception's
    (the due date in force), so the item is classified on time or late even when its reception
    event is missing. No personal data and no text of the answer."""

    event_type: Literal["feedback.handled"] = "feedback.handled"
    received_at: AwareDatetime
    due_at: AwareDatetime = Field(description="hạn xử lý in force at handling")
    handled_at: AwareDatetime
    outcome: FeedbackOutcome = FeedbackOutcome.answered

    def event_time(self) -> datetime:
        return self.handled_at

    @model_validator(mode="after")
    def _rules(self) -> Self:
        if self.handled_at < self.received_at:
            raise ValueError(
                f"handled_at: {self.handled_at.isoformat()} is before received_at {self.received_at.isoformat()}"
            )
        if self.due_at <= self.received_at:
            raise ValueError("due_at: must be after received_at")
        return self


class FeedbackRated(_FeedbackEvent):
    """The citizen's satisfaction with the handling of the feedback (mức độ hài lòng với việc xử
    lý phản ánh, kiến nghị), on the same levels as dossier ratings. One per feedback item: a later
    rating replaces an earlier one. No personal data: not who rated, only the level."""

    event_type: Literal["feedback.rated"] = "feedback.rated"
    rated_at: AwareDatetime
    rating: Rating

    def event_time(self) -> datetime:
        return self.rated_at


# ---------------------------------------------------------------------------------------
# E-documents (văn bản điện tử)
# ---------------------------------------------------------------------------------------
class CertificateKind(str, Enum):
    organisation = "organisation"  # chứng thư số cơ quan, tổ chức
    personal = "personal"  # chứng thư số cá nhân


class DocumentIssued(Envelope):
    """Document issued through the document-management system (văn bản đi)."""

    event_type: Literal["document.issued"] = "document.issued"
    document_id: Id
    issued_at: AwareDatetime
    digitally_signed: bool = Field(description="ký số")
    certificate_kind: CertificateKind | None = Field(None, description="required when digitally_signed")
    signer_is_leader: bool = False
    secret: bool = Field(False, description="văn bản mật: excluded from online handling")

    def event_time(self) -> datetime:
        return self.issued_at

    @model_validator(mode="after")
    def _rules(self) -> Self:
        if self.digitally_signed and self.certificate_kind is None:
            raise ValueError("certificate_kind: required when digitally_signed is true")
        if not self.digitally_signed and self.certificate_kind is not None:
            raise ValueError("certificate_kind: must be absent when digitally_signed is false")
        return self


class DocumentReceived(Envelope):
    """Document received (văn bản đến), and whether it was processed online."""

    event_type: Literal["document.received"] = "document.received"
    document_id: Id
    received_at: AwareDatetime
    processed_online: bool

    def event_time(self) -> datetime:
        return self.received_at


# ---------------------------------------------------------------------------------------
# Online meetings (họp trực tuyến)
# ---------------------------------------------------------------------------------------
class _MeetingEvent(Envelope):
    meeting_id: Id


class MeetingScheduled(_MeetingEvent):
    event_type: Literal["meeting.scheduled"] = "meeting.scheduled"
    title: Text
    scheduled_start: AwareDatetime
    endpoints: list[UnitCode] = Field(default_factory=list, description="units expected to connect (điểm cầu)")

    def event_time(self) -> datetime:
        return self.occurred_at


class MeetingStarted(_MeetingEvent):
    event_type: Literal["meeting.started"] = "meeting.started"
    started_at: AwareDatetime
    late_start_minutes: int = Field(0, ge=0)

    def event_time(self) -> datetime:
        return self.started_at


class MeetingEnded(_MeetingEvent):
    """A meeting held; ``uninterrupted`` is "đảm bảo thông suốt"."""

    event_type: Literal["meeting.ended"] = "meeting.ended"
    started_at: AwareDatetime
    ended_at: AwareDatetime
    endpoints_connected: int = Field(ge=0, description="connected endpoints (điểm cầu)")
    connection_drops: int = Field(0, ge=0)
    late_start_minutes: int = Field(0, ge=0)
    uninterrupted: bool

    def event_time(self) -> datetime:
        return self.ended_at

    @model_validator(mode="after")
    def _rules(self) -> Self:
        if self.ended_at <= self.started_at:
            raise ValueError(
                f"ended_at: {self.ended_at.isoformat()} must be after started_at {self.started_at.isoformat()}"
            )
        if self.uninterrupted and self.connection_drops > 0:
            raise ValueError("uninterrupted: cannot be true with connection_drops > 0")
        return self


DOSSIER_EVENTS = (
    DossierReceived,
    SupplementRequested,
    DossierTransferred,
    DossierResolved,
    DossierWithdrawn,
    DossierRefused,
    ApologyIssued,
    SatisfactionRated,
)
# Feedback goes to the dossier topic: the one-stop system handles it beside the dossiers, keyed by
# the same unit, and its overdue alert fires in the same partition order as the dossiers'.
FEEDBACK_EVENTS = (FeedbackReceived, FeedbackTransferred, FeedbackHandled, FeedbackRated)
DOCUMENT_EVENTS = (DocumentIssued, DocumentReceived)
MEETING_EVENTS = (MeetingScheduled, MeetingStarted, MeetingEnded)
ALL_EVENTS = DOSSIER_EVENTS + FEEDBACK_EVENTS + DOCUMENT_EVENTS + MEETING_EVENTS

if TYPE_CHECKING:
    # mypy cannot build a Union from a tuple: the same members as ALL_EVENTS, spelled out. EVENT_TYPES
    # below is typed with it, so a model added to ALL_EVENTS but not here is a mypy error.
    Event: TypeAlias = Annotated[
        DossierReceived
        | SupplementRequested
        | DossierTransferred
        | DossierResolved
        | DossierWithdrawn
        | DossierRefused
        | ApologyIssued
        | SatisfactionRated
        | FeedbackReceived
        | FeedbackTransferred
        | FeedbackHandled
        | FeedbackRated
        | DocumentIssued
        | DocumentReceived
        | MeetingScheduled
        | MeetingStarted
        | MeetingEnded,
        Field(discriminator="event_type"),
    ]
else:
    Event = Annotated[Union[ALL_EVENTS], Field(discriminator="event_type")]  # noqa: UP007 - Union of a tuple of types
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)
EVENT_TYPES: dict[str, type[Event]] = {m.model_fields["event_type"].default: m for m in ALL_EVENTS}
# The date-time fields of each event type, which :func:`timestamp_problems` checks.
TIMESTAMP_FIELDS: dict[str, tuple[str, ...]] = {
    et: tuple(n for n, f in m.model_fields.items() if "datetime" in str(f.annotation).lower())
    for et, m in EVENT_TYPES.items()
}

# Which topic (short name) each family goes to.
TOPIC_OF_TYPE: dict[str, str] = {
    **{m.model_fields["event_type"].default: topics.DOSSIER_EVENTS for m in DOSSIER_EVENTS},
    **{m.model_fields["event_type"].default: topics.DOSSIER_EVENTS for m in FEEDBACK_EVENTS},
    **{m.model_fields["event_type"].default: topics.DOCUMENT_EVENTS for m in DOCUMENT_EVENTS},
    **{m.model_fields["event_type"].default: topics.MEETING_EVENTS for m in MEETING_EVENTS},
}
