"""Vietnamese working-day calendar (lịch ngày làm việc) for due-date arithmetic.

One-stop systems count processing time in working days (ngày làm việc): Monday to
Friday, minus public holidays (nghỉ lễ, Tết) including observed days, and the
government's make-up swaps: when a holiday is bridged, a Saturday becomes a working
day for public offices (e.g. Sat 4 May 2024 was worked for Mon 29 April 2024).  Both
lists come from the ``holidays`` package (``holidays.country_holidays("VN")`` and its
``weekend_workdays``); this module only adds the arithmetic.

All functions take timezone-aware datetimes and count on local dates in
Asia/Ho_Chi_Minh (a date that is a holiday in Hà Nội is a holiday, whatever the
caller's zone).  The time of day is kept, so a dossier received at 09:12 is due at
09:12 on its due date.  Results come back in the caller's timezone.

Counting convention (the one the whole project uses):

* ``working_days_between(a, b)`` = number of working days ``d`` with
  ``date(a) < d <= date(b)`` (negative when ``b`` is before ``a``).  Times of day are
  ignored.
* ``add_working_days(t, n)`` steps ``n`` times to the next working day, so it is the
  earliest date with ``working_days_between(t, result) == n``; the result is always a
  working day for ``n >= 1`` (a dossier received on a Saturday with 1 working day is
  due on Monday).
* ``subtract_working_days(t, n)`` is the mirror: it first rolls ``t`` back to a working
  day (a Sunday deadline counts as Friday), then steps back ``n`` working days; the
  result is the latest working day with ``working_days_between(result, t) == n``.

Pure: no I/O, no settings; holiday sets are computed once per year and cached.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from datetime import date, datetime, tzinfo
from functools import cache
from zoneinfo import ZoneInfo

import holidays as _holidays

__all__ = [
    "LOCAL_TIMEZONE",
    "LOCAL_TZ",
    "add_working_days",
    "holidays_in",
    "is_working_day",
    "local_date",
    "next_working_day",
    "previous_working_day",
    "subtract_working_days",
    "weekend_workdays_in",
    "working_days_between",
    "working_days_in",
]

# The one definition of the local time zone: Vietnam's working days and holidays are dates in it,
# and it is the default of GOVPULSE_TIMEZONE (the calendar windows) and of scenario files.
LOCAL_TIMEZONE = "Asia/Ho_Chi_Minh"
LOCAL_TZ = ZoneInfo(LOCAL_TIMEZONE)

# holidays' data covers these years; outside them we still compute Mon-Fri days.
_MIN_YEAR, _MAX_YEAR = 1, 9998


@cache
def _year_tables(year: int) -> tuple[frozenset[date], frozenset[date], tuple[int, ...]]:
    """(public holidays, weekend workdays, sorted ordinals of working days) for one year."""
    cal = _holidays.country_holidays("VN", years=year)
    off = frozenset(d for d in cal if d.year == year)
    # weekend_workdays accumulates every year the object has seen (plus fixed old
    # entries), so keep only this year's make-up Saturdays.
    extra = frozenset(d for d in getattr(cal, "weekend_workdays", ()) if d.year == year)
    first, last = date(year, 1, 1).toordinal(), date(year, 12, 31).toordinal()
    days = []
    for o in range(first, last + 1):
        d = date.fromordinal(o)
        if d in extra or (d.weekday() < 5 and d not in off):
            days.append(o)
    return off, extra, tuple(days)


def holidays_in(year: int) -> frozenset[date]:
    """Public holidays and observed days off (ngày nghỉ lễ) in ``year``."""
    return _year_tables(year)[0]


def weekend_workdays_in(year: int) -> frozenset[date]:
    """Saturdays/Sundays worked by public offices to bridge a holiday (ngày làm bù)."""
    return _year_tables(year)[1]


def _ordinals(year: int) -> tuple[int, ...]:
    return _year_tables(year)[2]


def is_working_day(d: date) -> bool:
    """Whether ``d`` is a working day (ngày làm việc) for Vietnamese public offices."""
    if isinstance(d, datetime):
        raise TypeError("is_working_day takes a date; use local_date(dt) for a datetime")
    return _is_working_ordinal(d.toordinal(), d.year)


def _is_working_ordinal(o: int, year: int) -> bool:
    days = _ordinals(year)
    i = bisect_left(days, o)
    return i < len(days) and days[i] == o


def _local(t: datetime) -> datetime:
    if not isinstance(t, datetime):
        raise TypeError(f"expected a timezone-aware datetime, got {type(t).__name__}")
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"naive datetime {t.isoformat()}: working-day arithmetic needs a timezone-aware datetime")
    return t.astimezone(LOCAL_TZ)


def local_date(t: datetime) -> date:
    """The calendar date of ``t`` in Asia/Ho_Chi_Minh."""
    return _local(t).date()


def _step_forward(o: int, n: int) -> int:
    """Ordinal of the n-th working day strictly after ordinal ``o`` (n >= 1)."""
    year = date.fromordinal(o).year
    days = _ordinals(year)
    i = bisect_right(days, o)  # working days of this year strictly after o start at i
    while True:
        avail = len(days) - i
        if n <= avail:
            return days[i + n - 1]
        n -= avail
        year += 1
        if year > _MAX_YEAR:
            raise OverflowError("working-day arithmetic beyond year 9998")
        days, i = _ordinals(year), 0


def _step_back(o: int, n: int) -> int:
    """Ordinal of the n-th working day strictly before ordinal ``o`` (n >= 1)."""
    year = date.fromordinal(o).year
    days = _ordinals(year)
    i = bisect_left(days, o)  # days[:i] are strictly before o
    while True:
        if n <= i:
            return days[i - n]
        n -= i
        year -= 1
        if year < _MIN_YEAR:
            raise OverflowError("working-day arithmetic before year 1")
        days = _ordinals(year)
        i = len(days)


def _count_upto(o: int) -> int:
    """Working days in the ordinal's year up to and including ``o``."""
    return bisect_right(_ordinals(date.fromordinal(o).year), o)


def _count_between_ordinals(a: int, b: int) -> int:
    """Working days d with a < d <= b (a <= b)."""
    ya, yb = date.fromordinal(a).year, date.fromordinal(b).year
    if ya == yb:
        return _count_upto(b) - _count_upto(a)
    total = len(_ordinals(ya)) - _count_upto(a)
    for y in range(ya + 1, yb):
        total += len(_ordinals(y))
    return total + _count_upto(b)


def _with_date(t_local: datetime, o: int, tz: tzinfo | None) -> datetime:
    d = date.fromordinal(o)
    return t_local.replace(year=d.year, month=d.month, day=d.day).astimezone(tz)


def next_working_day(d: date) -> date:
    """The first working day strictly after ``d``."""
    return date.fromordinal(_step_forward(d.toordinal(), 1))


def previous_working_day(d: date) -> date:
    """The last working day strictly before ``d``."""
    return date.fromordinal(_step_back(d.toordinal(), 1))


def add_working_days(start: datetime, n: int) -> datetime:
    """``n`` working days after ``start``, same local time of day (ngày hẹn trả).

    ``n == 0`` returns ``start``; negative ``n`` is :func:`subtract_working_days`.
    """
    n = _check_n(n)
    if n < 0:
        return subtract_working_days(start, -n)
    loc = _local(start)
    if n == 0:
        return start
    return _with_date(loc, _step_forward(loc.date().toordinal(), n), start.tzinfo)


def subtract_working_days(t: datetime, n: int) -> datetime:
    """``n`` working days before ``t``, same local time of day.

    A ``t`` on a non-working day is first rolled back to the previous working day.
    """
    n = _check_n(n)
    if n < 0:
        return add_working_days(t, -n)
    loc = _local(t)
    if n == 0:
        return t
    o = loc.date().toordinal()
    if not _is_working_ordinal(o, loc.year):
        o = _step_back(o, 1)
    return _with_date(loc, _step_back(o, n), t.tzinfo)


def working_days_between(a: datetime, b: datetime) -> int:
    """Signed count of working days in (date(a), date(b)] (local dates; times ignored)."""
    oa, ob = _local(a).date().toordinal(), _local(b).date().toordinal()
    if oa <= ob:
        return _count_between_ordinals(oa, ob)
    return -_count_between_ordinals(ob, oa)


def working_days_in(first: date, last: date) -> list[date]:
    """Working days from ``first`` to ``last`` inclusive, in order."""
    out: list[date] = []
    for year in range(first.year, last.year + 1):
        days = _ordinals(year)
        lo = bisect_left(days, first.toordinal())
        hi = bisect_right(days, last.toordinal())
        out.extend(date.fromordinal(o) for o in days[lo:hi])
    return out


def _check_n(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"number of working days must be an int, not {type(n).__name__}")
    return n
