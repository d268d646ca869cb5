"""Time arithmetic for classification and windows (no I/O). Times are epoch milliseconds, UTC.

Windows (see common.measurements):
- rolling ``24h`` evaluated every hour, ``7d``/``30d`` every local day. The value "as of"
  instant T covers [T - length, T). An event at t touches the as-of instants whose window
  contains it, plus the first one after it has left (so the decay to zero is written too).
- calendar ``month``, ``year`` and the legal report periods ``report_month``, ``report_quarter``,
  ``report_half``, ``report_year`` (Decree 09/2019: from the 15th by default) in local time
  (Asia/Ho_Chi_Minh by default); their point time is the period start.

Vietnam has had one UTC offset (+07:00) with no daylight saving since 1975, so a fixed
offset per deployment is exact and keeps the hot path to integer arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from common import measurements as m
from common.calendar import LOCAL_TIMEZONE

HOUR_MS = 3_600_000
DAY_MS = 86_400_000

EARLY, ON_TIME, LATE = "early", "on_time", "late"


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def to_ms(t: datetime) -> int:
    if t.tzinfo is None:
        raise ValueError("naive datetime: timezone required")
    # integer arithmetic: int(t.timestamp() * 1000) is off by one ms for some instants (float rounding)
    return (t - _EPOCH) // _MS


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


@dataclass(frozen=True)
class LocalCalendar:
    """Local-time bucketing for one deployment (fixed UTC offset, report year start)."""

    offset_ms: int = 7 * HOUR_MS
    report_start_month: int = 12
    report_start_day: int = 15

    @classmethod
    def for_zone(cls, tz: str = LOCAL_TIMEZONE, report_year_start: str = "12-15") -> LocalCalendar:
        off = ZoneInfo(tz).utcoffset(datetime(2020, 1, 1))
        m, d = (int(x) for x in report_year_start.split("-"))
        date(2001, m, d)  # validates month/day
        return cls(int(off.total_seconds() * 1000), m, d)  # type: ignore[union-attr]  # a ZoneInfo always has one

    # -- days ------------------------------------------------------------------
    def local_day(self, ms: int) -> int:
        """Local calendar day number (days since 1970-01-01 local)."""
        return (ms + self.offset_ms) // DAY_MS

    def day_start(self, day: int) -> int:
        return day * DAY_MS - self.offset_ms

    def local_date(self, ms: int) -> date:
        return _epoch_day_to_date(self.local_day(ms))

    # -- classification -----------------------------------------------------------
    def classify_resolution(self, resolved_ms: int, due_ms: int) -> str:
        """early (trước hạn): an earlier local calendar day than due; on time (đúng hạn):
        the due day, not after due_at; late (trễ hạn): after due_at."""
        if resolved_ms > due_ms:
            return LATE
        if self.local_day(resolved_ms) < self.local_day(due_ms):
            return EARLY
        return ON_TIME

    # -- calendar windows ------------------------------------------------------------
    def month_key(self, ms: int) -> int:
        d = self.local_date(ms)
        return d.year * 12 + d.month - 1

    def month_start(self, key: int) -> int:
        y, m0 = divmod(key, 12)
        return self._date_start(date(y, m0 + 1, 1))

    def year_key(self, ms: int) -> int:
        return self.local_date(ms).year

    def year_start(self, year: int) -> int:
        return self._date_start(date(year, 1, 1))

    def report_year_key(self, ms: int) -> int:
        """Label of the reporting year containing ms: the calendar year in which the period ends."""
        d = self.local_date(ms)
        start_this_year = date(d.year, self.report_start_month, self.report_start_day)
        start_year = d.year if d >= start_this_year else d.year - 1
        return start_year + (0 if (self.report_start_month, self.report_start_day) == (1, 1) else 1)

    def report_year_start(self, label: int) -> int:
        y = label if (self.report_start_month, self.report_start_day) == (1, 1) else label - 1
        return self._date_start(date(y, self.report_start_month, self.report_start_day))

    # -- legal report periods (Decree 09/2019/NĐ-CP: kỳ báo cáo) ------------------------------
    # Every report period starts on the report year's start day (the 15th by default) of a month:
    # a report month runs from that day to the day before it in the next month, a quarter is three
    # report months and a half six, counted from the report year's start (15 Dec: Q1 = 15 Dec to
    # 14 Mar, H1 = 15 Dec to 14 Jun). A start day a month lacks (the 31st) falls on its last day.
    # Keys: a report month is keyed by the month it ends in (month-key arithmetic: year * 12 +
    # month - 1), as the reports name it ("tháng 5" = 15 Apr to 14 May); quarters and halves by
    # their count since the epoch.
    def _period_month_start(self, start_month: int) -> int:
        """Start of the report month that begins in calendar month ``start_month`` (month key)."""
        y, m0 = divmod(start_month, 12)
        return self._date_start(date(y, m0 + 1, min(self.report_start_day, _days_in_month(y, m0 + 1))))

    def _start_month(self, ms: int) -> int:
        """Month key of the calendar month in which the report month holding ``ms`` began."""
        d = self.local_date(ms)
        k = d.year * 12 + d.month - 1
        return k if ms >= self._period_month_start(k) else k - 1

    @property
    def _ends_next_month(self) -> int:
        return 0 if self.report_start_day == 1 else 1

    def report_month_key(self, ms: int) -> int:
        return self._start_month(ms) + self._ends_next_month

    def report_month_start(self, key: int) -> int:
        return self._period_month_start(key - self._ends_next_month)

    def report_quarter_key(self, ms: int) -> int:
        return (self._start_month(ms) - (self.report_start_month - 1)) // 3

    def report_quarter_start(self, key: int) -> int:
        return self._period_month_start(key * 3 + self.report_start_month - 1)

    def report_half_key(self, ms: int) -> int:
        return (self._start_month(ms) - (self.report_start_month - 1)) // 6

    def report_half_start(self, key: int) -> int:
        return self._period_month_start(key * 6 + self.report_start_month - 1)

    def period_key(self, window: str, ms: int) -> int:
        """The key of the calendar or report period ``window`` that holds ``ms``."""
        return _PERIOD_KEYS[window](self, ms)

    def period_start(self, window: str, key: int) -> int:
        """Start instant (epoch ms) of a calendar or report period: its points' time."""
        return _PERIOD_STARTS[window](self, key)

    def period_label(self, window: str, key: int) -> str:
        """How people name a period: ``2024-05`` (month, report month: the month it ends in),
        ``2024`` (year, report year), ``2024Q1``, ``2024H2`` (report quarter and half: the report
        year they belong to and their number in it)."""
        if window in (m.MONTH, m.REPORT_MONTH):
            y, m0 = divmod(key, 12)
            return f"{y}-{m0 + 1:02d}"
        if window in (m.YEAR, m.REPORT_YEAR):
            return str(key)
        per_year = 4 if window == m.REPORT_QUARTER else 2
        start = self.period_start(window, key)
        number = key % per_year + 1
        return f"{self.report_year_key(start)}{'Q' if per_year == 4 else 'H'}{number}"

    def parse_period(self, window: str, label: str) -> int:
        """The key of the period people name ``label`` (the inverse of :meth:`period_label`):
        ``2024-05`` for a month or report month, ``2024`` for a year or report year, ``2024Q3``
        and ``2024H1`` for a report quarter and half. A label that does not name one raises
        ValueError saying what was expected."""
        import re

        if window in (m.MONTH, m.REPORT_MONTH):
            match = re.fullmatch(r"(\d{4})-(\d{2})", label)
            if not match or not 1 <= int(match[2]) <= 12:
                raise ValueError(f"{window}: {label!r} is not a month (expected YYYY-MM, e.g. 2024-05)")
            return int(match[1]) * 12 + int(match[2]) - 1
        if window in (m.YEAR, m.REPORT_YEAR):
            if not re.fullmatch(r"\d{4}", label):
                raise ValueError(f"{window}: {label!r} is not a year (expected YYYY, e.g. 2022)")
            return int(label)
        if window in (m.REPORT_QUARTER, m.REPORT_HALF):
            letter, count = ("Q", 4) if window == m.REPORT_QUARTER else ("H", 2)
            match = re.fullmatch(rf"(\d{{4}}){letter}([1-{count}])", label)
            if not match:
                raise ValueError(
                    f"{window}: {label!r} is not one (expected YYYY{letter}1..{letter}{count}, e.g. 2024{letter}1)"
                )
            first = self.period_key(window, self.report_year_start(int(match[1])))
            return first + int(match[2]) - 1
        raise ValueError(f"window: {window!r} is not a calendar or report period ({', '.join(m.CALENDAR_WINDOWS)})")

    def period_end(self, window: str, key: int) -> int:
        """End instant (exclusive) of a calendar or report period: the next one's start."""
        return self.period_start(window, key + 1)

    def _date_start(self, d: date) -> int:
        return self.day_start((d - date(1970, 1, 1)).days)


def _days_in_month(year: int, month: int) -> int:
    nxt = date(year + month // 12, month % 12 + 1, 1)
    return (nxt - date(year, month, 1)).days


_PERIOD_KEYS = {
    m.MONTH: LocalCalendar.month_key,
    m.YEAR: LocalCalendar.year_key,
    m.REPORT_YEAR: LocalCalendar.report_year_key,
    m.REPORT_MONTH: LocalCalendar.report_month_key,
    m.REPORT_QUARTER: LocalCalendar.report_quarter_key,
    m.REPORT_HALF: LocalCalendar.report_half_key,
}
_PERIOD_STARTS = {
    m.MONTH: LocalCalendar.month_start,
    m.YEAR: LocalCalendar.year_start,
    m.REPORT_YEAR: LocalCalendar.report_year_start,
    m.REPORT_MONTH: LocalCalendar.report_month_start,
    m.REPORT_QUARTER: LocalCalendar.report_quarter_start,
    m.REPORT_HALF: LocalCalendar.report_half_start,
}


@lru_cache(maxsize=65536)
def _epoch_day_to_date(day: int) -> date:
    return date(1970, 1, 1) + timedelta(days=day)


# -- rolling windows -------------------------------------------------------------------
ROLLING = {
    # window: (bucket, steps in the window)
    m.ROLLING_24H: ("hour", 24),
    m.ROLLING_7D: ("day", 7),
    m.ROLLING_30D: ("day", 30),
}


def touched_asof_steps(bucket_index: int, steps: int) -> range:
    """As-of step indices whose window [T - steps, T) holds this bucket, plus the first one after."""
    return range(bucket_index + 1, bucket_index + steps + 2)


def window_bucket_range(asof_step: int, steps: int) -> range:
    """Bucket indices summed for the as-of instant at step ``asof_step``."""
    return range(asof_step - steps, asof_step)
