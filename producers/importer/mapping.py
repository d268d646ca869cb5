"""The mapping file of ``govpulse import``: which column of an export is which dossier field.

A mapping is YAML (see ``producers/importer/mappings/``)::

    name: vendor_csv
    extends: tracking_book            # optional: a shipped mapping's name or a path; this file overrides it
    source_system: motcua-vendor      # default of --source-system
    timezone: Asia/Ho_Chi_Minh        # naive dates in the file are local times
    date_formats: ["%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y"]
    excel_serial_dates: true          # 44561.5 in a text cell is an Excel date (1900 system)
    columns:                          # field -> header names (matched accent- and case-insensitively)
      dossier_code: ["Mã hồ sơ", "Số biên nhận"]
      received_at: ["Ngày tiếp nhận"]
      ...
    personal_data: ["họ tên", "địa chỉ", ...]   # header fragments never read (Decree 13/2023)
    status: {resolved: [...], open: [...], withdrawn: [...], refused: [...]}
    channels: {"Trực tuyến toàn trình": online_full, "Trực tiếp": in_person, ...}
    units: {"UBND Phường Mỹ Tho": {ward_code: "28261", district_code: "815", province_code: "82"}}
    default_unit: {district_code: "815", province_code: "82"}   # when the file has no unit column
    defaults: {channel: in_person, field: "Chưa phân loại"}

Header names, status values, channel names, unit names and booleans are compared after
:func:`norm`: Unicode NFC, accents removed (đ → d), lower case, runs of spaces and punctuation
collapsed, so ``"Ngày tiếp nhận"``, ``"NGAY TIEP NHAN"`` and ``"ngày  tiếp-nhận"`` are one name.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

MAPPINGS_DIR = Path(__file__).with_name("mappings")

# Every field a column can be mapped to, with what it means (shown by --inspect).
FIELDS: dict[str, str] = {
    "dossier_code": "mã hồ sơ (required)",
    "procedure_code": "mã thủ tục hành chính",
    "procedure_name": "tên thủ tục hành chính",
    "field": "lĩnh vực",
    "unit": "receiving unit (name or code, mapped by `units`)",
    "received_at": "ngày giờ nhận hồ sơ (required)",
    "due_at": "ngày hẹn trả kết quả (required)",
    "channel": "hình thức tiếp nhận (trực tiếp / trực tuyến / bưu chính)",
    "online_service": "toàn trình / một phần (if not part of the channel value)",
    "supplement_requested_at": "ngày yêu cầu bổ sung",
    "supplement_due_at": "ngày hẹn trả mới sau bổ sung",
    "supplement_reason": "lý do bổ sung",
    "transferred_at": "ngày chuyển hồ sơ đến cơ quan giải quyết",
    "transferred_to": "cơ quan chủ trì giải quyết (destination of the transfer)",
    "resolved_at": "ngày trả kết quả",
    "closed_at": "ngày rút / từ chối (else resolved_at's column)",
    "status": "trạng thái (mapped by `status`)",
    "outcome": "kết quả giải quyết (approved / denied)",
    "reason": "lý do từ chối / rút",
    "result_digitised": "kết quả được số hoá (yes/no)",
    "fee_paid_online": "thanh toán trực tuyến (yes/no; empty = no fee)",
    "apology_at": "ngày gửi thư xin lỗi (a date, or yes)",
    "apology_due_at": "ngày hẹn trả mới trong thư xin lỗi",
    "rating": "mức độ hài lòng",
    "rated_at": "ngày đánh giá (else the resolution date)",
}
REQUIRED = ("dossier_code", "received_at", "due_at")
DATE_FIELDS = (
    "received_at",
    "due_at",
    "supplement_requested_at",
    "supplement_due_at",
    "transferred_at",
    "resolved_at",
    "closed_at",
    "apology_at",
    "apology_due_at",
    "rated_at",
)
CHANNELS = ("online_full", "online_partial", "in_person", "postal")
STATUS_KINDS = ("resolved", "open", "withdrawn", "refused")
RATINGS = ("very_satisfied", "satisfied", "unsatisfied")

_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)


@lru_cache(maxsize=65536)
def norm(text: str) -> str:
    """Accent-, case- and punctuation-insensitive form of a header or value."""
    t = unicodedata.normalize("NFD", str(text).replace("đ", "d").replace("Đ", "D"))
    t = "".join(c for c in t if not unicodedata.combining(c))
    return _PUNCT.sub(" ", t.lower()).strip()


def _values_in(table: dict[str, str], allowed: Iterable[str], what: str) -> dict[str, str]:
    """A mapping table whose values must all be among ``allowed`` (the error lists the others)."""
    allowed = list(allowed)
    bad = {k: x for k, x in table.items() if x not in allowed}
    if bad:
        raise ValueError(f"{what} values must be one of {allowed}: {bad}")
    return table


class UnitRef(BaseModel):
    """The unit codes of an event envelope (see schemas/units.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    province_code: str
    ward_code: str | None = None
    district_code: str | None = None
    unit_code: str | None = None

    @model_validator(mode="after")
    def _one(self) -> UnitRef:
        if not (self.ward_code or self.district_code or self.unit_code):
            raise ValueError("a unit needs ward_code, district_code or unit_code")
        return self

    @property
    def key(self) -> str:
        return self.ward_code or self.district_code or self.unit_code or ""


class Defaults(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Literal["online_full", "online_partial", "in_person", "postal"] | None = None
    field: str | None = None
    procedure_code_from_name: bool = True  # use the procedure name as code when there is none
    result_digitised: bool = False
    supplement_reason: str = "Yêu cầu bổ sung hồ sơ"
    refusal_reason: str = "Từ chối tiếp nhận (không ghi lý do)"
    outcome: Literal["approved", "denied"] = "approved"


class Mapping(BaseModel):
    """A validated mapping file."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str | None = None
    source_system: str | None = None
    timezone: str = "Asia/Ho_Chi_Minh"
    date_formats: list[str] = Field(
        default_factory=lambda: ["%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"]
    )
    excel_serial_dates: bool = True
    # a date without a time: due dates mean "by the end of that day", other dates its start
    date_only_end_of_day: list[str] = Field(default_factory=lambda: ["due_at", "supplement_due_at", "apology_due_at"])
    sheets: list[str] | None = Field(None, description="sheet names to read (default: every sheet)")
    header_search_rows: int = 30
    csv_delimiter: str | None = Field(None, description="default: detected among , ; tab")
    columns: dict[str, list[str]]
    personal_data: list[str] = Field(default_factory=list)
    status: dict[str, list[str]] = Field(default_factory=dict)
    channels: dict[str, str] = Field(default_factory=dict)
    online_services: dict[str, Literal["full", "partial"]] = Field(default_factory=dict)
    outcomes: dict[str, Literal["approved", "denied"]] = Field(default_factory=dict)
    ratings: dict[str, str] = Field(default_factory=dict)
    yes: list[str] = Field(default_factory=lambda: ["có", "x", "1", "true", "yes", "đã", "rồi"])
    no: list[str] = Field(default_factory=lambda: ["không", "0", "false", "no", "chưa"])
    units: dict[str, UnitRef] = Field(default_factory=dict)
    default_unit: UnitRef | None = None
    defaults: Defaults = Defaults()

    _status: dict[str, str] = PrivateAttr(default_factory=dict)
    _channels: dict[str, str] = PrivateAttr(default_factory=dict)
    _online: dict[str, str] = PrivateAttr(default_factory=dict)
    _outcomes: dict[str, str] = PrivateAttr(default_factory=dict)
    _ratings: dict[str, str] = PrivateAttr(default_factory=dict)
    _yes: set[str] = PrivateAttr(default_factory=set)
    _no: set[str] = PrivateAttr(default_factory=set)
    _units: dict[str, UnitRef] = PrivateAttr(default_factory=dict)
    _personal: list[str] = PrivateAttr(default_factory=list)
    _aliases: dict[str, str] = PrivateAttr(default_factory=dict)

    @field_validator("columns")
    @classmethod
    def _known_fields(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        unknown = sorted(set(v) - set(FIELDS))
        if unknown:
            raise ValueError(f"unknown field(s) {unknown}; known: {sorted(FIELDS)}")
        missing = [f for f in REQUIRED if f not in v]
        if missing:
            raise ValueError(f"required field(s) without a column: {missing}")
        return v

    @field_validator("status")
    @classmethod
    def _status_kinds(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        unknown = sorted(set(v) - set(STATUS_KINDS))
        if unknown:
            raise ValueError(f"status kinds must be {list(STATUS_KINDS)}, not {unknown}")
        return v

    @field_validator("channels")
    @classmethod
    def _check_channels(cls, v: dict[str, str]) -> dict[str, str]:
        return _values_in(v, CHANNELS, "channel")

    @field_validator("ratings")
    @classmethod
    def _check_ratings(cls, v: dict[str, str]) -> dict[str, str]:
        return _values_in(v, RATINGS, "rating")

    # -- lookups on normalised text (built once) -----------------------------------------
    def model_post_init(self, _context: Any) -> None:
        self._status = {norm(s): kind for kind, values in self.status.items() for s in values}
        self._channels = {norm(k): c for k, c in self.channels.items()}
        self._online = {norm(k): c for k, c in self.online_services.items()}
        self._outcomes = {norm(k): c for k, c in self.outcomes.items()}
        self._ratings = {norm(k): r for k, r in self.ratings.items()}
        self._yes = {norm(x) for x in self.yes}
        self._no = {norm(x) for x in self.no}
        self._units = {norm(k): u for k, u in self.units.items()}
        self._personal = [norm(p) for p in self.personal_data]
        self._aliases = {norm(a): f for f, aliases in self.columns.items() for a in aliases}

    def status_kind(self, value: str) -> str | None:
        return self._status.get(norm(value))

    def channel(self, value: str) -> str | None:
        return self._channels.get(norm(value))

    def online_service(self, value: str) -> str | None:
        return self._online.get(norm(value))

    def outcome(self, value: str) -> str | None:
        return self._outcomes.get(norm(value))

    def rating(self, value: str) -> str | None:
        return self._ratings.get(norm(value))

    def boolean(self, value: str) -> bool | None:
        n = norm(value)
        if n in self._yes:
            return True
        if n in self._no:
            return False
        return None

    def unit(self, value: str) -> UnitRef | None:
        return self._units.get(norm(value))

    def is_personal(self, header: str) -> bool:
        """A header naming personal data: it contains one of ``personal_data`` (normalised, as words)."""
        h = f" {norm(header)} "
        return any(f" {p} " in h for p in self._personal if p)

    def field_of(self, header: str) -> str | None:
        """The field a header is mapped to (personal data never is)."""
        if self.is_personal(header):
            return None
        return self._aliases.get(norm(header))


class MappingError(ValueError):
    """A mapping file that cannot be used; the message names the file and the problem."""


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict) and k != "defaults_replace":
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def shipped(name: str) -> Path:
    return MAPPINGS_DIR / f"{name.removesuffix('.yaml')}.yaml"


def _load_dict(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    if path in seen:
        raise MappingError(f"{path}: `extends` loops back to itself")
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise MappingError(f"{path}: cannot read the mapping: {e}") from e
    if not isinstance(data, dict):
        raise MappingError(f"{path}: a mapping is a YAML mapping (key: value), not {type(data).__name__}")
    parent = data.pop("extends", None)
    if parent:
        p = Path(str(parent))
        if not p.is_absolute():
            p = (path.parent / p) if (path.parent / p).exists() else shipped(str(parent))
        data = _merge(_load_dict(p, (*seen, path)), data)
    out: dict[str, Any] = data
    return out


def load_mapping(path_or_name: str | Path) -> Mapping:
    """A mapping from a file, or a shipped one by name (``tracking_book``, ``vendor_csv``)."""
    path = Path(path_or_name)
    if not path.exists() and shipped(str(path_or_name)).exists():
        path = shipped(str(path_or_name))
    if not path.exists():
        raise MappingError(f"{path}: no such mapping file (shipped: {', '.join(shipped_names())})")
    data = _load_dict(path)
    try:
        return Mapping.model_validate(data)
    except ValueError as e:
        raise MappingError(f"{path}: {e}") from e


def shipped_names() -> list[str]:
    return sorted(p.stem for p in MAPPINGS_DIR.glob("*.yaml"))
