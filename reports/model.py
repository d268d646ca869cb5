"""What a report holds (no I/O): rows of period figures, as the official form lays them out.

The figures of one row (a field — lĩnh vực —, a unit or a procedure) over a period [start, end):

  carried over (kỳ trước chuyển qua)  + received (mới tiếp nhận: online + in person or postal)
  = resolved (đã giải quyết: early + on time + late) + withdrawn + refused
    + in process at the end (đang giải quyết: within due + overdue)

The identity holds for every row (:meth:`PeriodRow.identity_holds`): the worker writes each
dossier's reception and closure as flows, and the stocks are sums of flows before the period's
start and end (see ``common.measurements``, measurement ``report_counts``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass(frozen=True, slots=True)
class PeriodRow:
    """One row of the form: a field (lĩnh vực), a unit or a procedure over the report period."""

    label: str
    carried_over: int  # kỳ trước chuyển qua: received before the start, open at it
    received_online: int  # tiếp nhận trực tuyến
    received_offline: int  # tiếp nhận trực tiếp hoặc qua dịch vụ bưu chính công ích
    resolved_early: int  # trước hạn
    resolved_on_time: int  # đúng hạn
    resolved_late: int  # quá hạn
    withdrawn: int  # rút hồ sơ
    refused: int  # từ chối tiếp nhận / trả lại
    in_process_within_due: int  # đang giải quyết trong hạn (at the period end)
    in_process_overdue: int  # đang giải quyết quá hạn (at the period end)
    code: str = ""  # unit code or procedure code, when the row is one

    @property
    def received(self) -> int:
        """Newly received in the period (mới tiếp nhận)."""
        return self.received_online + self.received_offline

    @property
    def to_handle(self) -> int:
        """Dossiers to handle (số hồ sơ nhận giải quyết; Gia Lai: cần xử lý) = carried over + received."""
        return self.carried_over + self.received

    @property
    def resolved(self) -> int:
        return self.resolved_early + self.resolved_on_time + self.resolved_late

    @property
    def resolved_in_time(self) -> int:
        """Resolved early or on time (đúng hạn và trước hạn)."""
        return self.resolved_early + self.resolved_on_time

    @property
    def in_process(self) -> int:
        return self.in_process_within_due + self.in_process_overdue

    @property
    def on_time_rate(self) -> float | None:
        """tỷ lệ giải quyết đúng hạn và trước hạn, over resolved dossiers (what the reports quote)."""
        return self.resolved_in_time / self.resolved if self.resolved else None

    @property
    def portal_late_rate(self) -> float | None:
        """The one-stop portals' late rate: (overdue in process + resolved late) / to handle."""
        return (self.in_process_overdue + self.resolved_late) / self.to_handle if self.to_handle else None

    @property
    def portal_on_time_rate(self) -> float | None:
        """The one-stop portals' on-time rate over dossiers to handle = 1 - the portal late rate."""
        late = self.portal_late_rate
        return None if late is None else 1.0 - late

    def identity_holds(self) -> bool:
        return self.to_handle == self.resolved + self.withdrawn + self.refused + self.in_process

    @classmethod
    def total_of(cls, rows: list[PeriodRow], label: str = "Tổng cộng") -> PeriodRow:
        """The sum of rows (for checking a total row read separately, and for roll-ups in tests)."""
        return cls(label, *(sum(getattr(r, n) for r in rows) for n in ROW_COUNTS))


# the counts a row is made of, in the order PeriodRow takes them after its label
ROW_COUNTS = (
    "carried_over",
    "received_online",
    "received_offline",
    "resolved_early",
    "resolved_on_time",
    "resolved_late",
    "withdrawn",
    "refused",
    "in_process_within_due",
    "in_process_overdue",
)


@dataclass(frozen=True, slots=True)
class MonthPoint:
    """One month of the period for the on-time chart (calendar or report months)."""

    label: str  # "T1/2022" or "15/12–14/01"
    resolved: int
    resolved_in_time: int

    @property
    def on_time_rate(self) -> float | None:
        return self.resolved_in_time / self.resolved if self.resolved else None


@dataclass(frozen=True, slots=True)
class IndexCriterionRow:
    """One criterion of the Decision 766 index as the report shows it (numbers None: no figure)."""

    id: str  # "2.1"
    name: str  # Vietnamese, as the decision's sources name it
    numerator: float | None
    denominator: float | None
    value: float | None  # a share in [0, 1]; 2.2: an average time; None: not applicable or no figure
    score: float | None  # None: not scored
    maximum: float | None  # the criterion's points, when known
    status: str  # "" when scored, else why not: "chưa chấm điểm: …", "không áp dụng: …", "chưa có số liệu: …"
    is_share: bool = True  # False for 2.2 (an average time, not a rate)


@dataclass(frozen=True, slots=True)
class IndexGroupRow:
    """A component group of the index (nhóm chỉ số) with its criteria."""

    number: int
    name: str
    score: float  # the scored criteria's points
    scored_max: float  # the points of the criteria that were scored
    maximum: float  # the group's maximum in the decision
    criteria: list[IndexCriterionRow]


@dataclass(frozen=True, slots=True)
class IndexUnitRow:
    """A unit of a roll-up with its own index total (its own counts scored, never a share of the scope's)."""

    rank: int  # equal scores share a rank (1, 2, 2, 4)
    code: str
    name: str
    score: float
    scored_max: float


@dataclass(frozen=True, slots=True)
class IndexSection:
    """The service index of Decision 766/QĐ-TTg for the report's scope and period (see
    ``reports.service_index.index_section``); ``error``: the weights or figures file could not be used,
    and why (the rest of the section is then empty)."""

    groups: list[IndexGroupRow] = field(default_factory=list)
    score: float = 0.0
    scored_max: float = 0.0
    maximum: float = 100.0
    units: list[IndexUnitRow] = field(default_factory=list)  # a roll-up's units, highest score first
    notes: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Report:
    """A unit's (or a district's / province's roll-up) periodic report."""

    title: str  # "Báo cáo kết quả giải quyết thủ tục hành chính"
    unit_code: str
    unit_name: str  # "Thành phố Mỹ Tho" (the unit, or the district/province for a roll-up)
    scope: str  # unit | district | province
    period_label: str  # "Năm 2022 (kỳ báo cáo 15/12/2021 – 14/12/2022)"
    period_start: date  # first day, local
    period_end: date  # last day, inclusive, local
    generated_at: datetime  # aware
    rows: list[PeriodRow]  # one per field (lĩnh vực), sorted by label
    total: PeriodRow  # the total row, read from InfluxDB on its own (equals the sum of rows)
    ranking: list[PeriodRow] = field(default_factory=list)  # units of the roll-up, best on-time rate first
    # per reception channel and online-service level (toàn trình, một phần, trực tiếp, bưu chính)
    channels: list[PeriodRow] = field(default_factory=list)
    late_procedures: list[PeriodRow] = field(default_factory=list)  # the ten with the most late dossiers
    months: list[MonthPoint] = field(default_factory=list)  # on-time rate by month
    notes: list[str] = field(default_factory=list)  # footnotes: sources, what events do not carry
    index: IndexSection | None = None  # the Decision 766 index of the scope and period (None: left out)
