"""Report periods as ``govpulse report --period`` takes them and as a report's heading names them
(no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from common import measurements as m
from streams.domain.windows import LocalCalendar

_ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV"}


@dataclass(frozen=True, slots=True)
class Period:
    """A calendar or report period: window, key, and its local first and last day (inclusive)."""

    window: str
    key: int
    start_ms: int
    end_ms: int  # exclusive
    first_day: date
    last_day: date
    label: str  # 2022, 2024Q3, 2024-05

    @property
    def is_report_period(self) -> bool:
        """A legal report period (kỳ báo cáo, Decree 09/2019) rather than a calendar one."""
        return self.window.startswith("report_")


def parse_period(text: str, cal: LocalCalendar) -> Period:
    """``report_year:2022``, ``report_quarter:2024Q3``, ``report_half:2024H1``, ``report_month:2024-05``,
    ``month:2024-05``, ``year:2024``. Raises ValueError naming what is wrong."""
    window, sep, label = text.partition(":")
    if not sep:
        raise ValueError(f"period: {text!r} should be WINDOW:LABEL, e.g. report_year:2022 or report_quarter:2024Q3")
    key = cal.parse_period(window, label)
    return period_of(window, key, cal)


def period_of(window: str, key: int, cal: LocalCalendar) -> Period:
    start, end = cal.period_start(window, key), cal.period_end(window, key)
    return Period(
        window,
        key,
        start,
        end,
        cal.local_date(start),
        cal.local_date(end) - timedelta(days=1),
        cal.period_label(window, key),
    )


def months_of(period: Period, cal: LocalCalendar) -> list[Period]:
    """The months a period is made of: report months for a report period, calendar months otherwise."""
    window = m.REPORT_MONTH if period.is_report_period else m.MONTH
    first = cal.period_key(window, period.start_ms)
    out = []
    key = first
    while cal.period_start(window, key) < period.end_ms:
        out.append(period_of(window, key, cal))
        key += 1
    return out


def _d(d: date) -> str:
    return d.strftime("%d/%m/%Y")


def heading(period: Period) -> str:
    """How the report's heading names the period, in Vietnamese, with its exact days."""
    p = period
    span = f"từ ngày {_d(p.first_day)} đến ngày {_d(p.last_day)}"
    if p.window == m.REPORT_YEAR:
        return f"Năm {p.label} (kỳ báo cáo {span})"
    if p.window == m.YEAR:
        return f"Năm {p.label} ({span})"
    if p.window == m.REPORT_QUARTER:
        return f"Quý {_ROMAN[int(p.label[-1])]} năm {p.label[:4]} (kỳ báo cáo {span})"
    if p.window == m.REPORT_HALF:
        half = "6 tháng đầu năm" if p.label.endswith("1") else "6 tháng cuối năm"
        return f"{half} {p.label[:4]} (kỳ báo cáo {span})"
    year, month = p.label.split("-")
    if p.window == m.REPORT_MONTH:
        return f"Tháng {int(month)} năm {year} (kỳ báo cáo {span})"
    return f"Tháng {int(month)} năm {year} ({span})"


def month_label(month: Period) -> str:
    """A month on a chart axis: T5/2024."""
    year, mo = month.label.split("-")
    return f"T{int(mo)}/{year}"
