"""Working-day calendar (streams/domain/calendar.py): known dates and properties."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.calendar import (
    LOCAL_TZ,
    add_working_days,
    holidays_in,
    is_working_day,
    local_date,
    next_working_day,
    previous_working_day,
    subtract_working_days,
    weekend_workdays_in,
    working_days_between,
    working_days_in,
)

VN = LOCAL_TZ


def at(y, m, d, hh=9, mm=0, tz=VN) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=tz)


# --- known dates -------------------------------------------------------------------
@pytest.mark.parametrize(
    "d", [date(2022, 1, 31), date(2022, 2, 1), date(2022, 2, 2), date(2022, 2, 3), date(2022, 2, 4)]
)
def test_tet_2022_is_off(d):
    assert d in holidays_in(2022)
    assert not is_working_day(d)


def test_around_tet_2022_is_worked():
    assert is_working_day(date(2022, 1, 28))  # Friday before Tết
    assert is_working_day(date(2022, 2, 7))  # Monday after


@pytest.mark.parametrize("d", [date(2022, 4, 30), date(2022, 5, 1), date(2022, 5, 2), date(2022, 5, 3)])
def test_30_4_and_1_5_2022_with_observed_days(d):
    assert not is_working_day(d)


def test_national_day():
    assert not is_working_day(date(2022, 9, 2))  # Friday 2/9/2022
    assert not is_working_day(date(2022, 9, 1))  # the day before, off since 2021
    assert not is_working_day(date(2023, 9, 4))  # observed Monday
    assert not is_working_day(date(2024, 9, 2)) and not is_working_day(date(2024, 9, 3))


def test_weekends_and_plain_days():
    assert is_working_day(date(2022, 3, 15))  # Tuesday
    assert not is_working_day(date(2022, 3, 19))  # Saturday
    assert not is_working_day(date(2022, 3, 20))  # Sunday


def test_make_up_saturday_2024():
    # Government swap: Mon 29/4/2024 off, Sat 4/5/2024 worked by public offices.
    assert date(2024, 5, 4) in weekend_workdays_in(2024)
    assert is_working_day(date(2024, 5, 4))
    assert not is_working_day(date(2024, 4, 29))


def test_holiday_sets_are_cached_per_year():
    assert holidays_in(2022) is holidays_in(2022)


def test_due_date_across_tet_2022():
    # Friday 28/1/2022 09:30 + 3 working days: Tết week is off -> Wed 9/2/2022 09:30
    assert add_working_days(at(2022, 1, 28, 9, 30), 1) == at(2022, 2, 7, 9, 30)
    assert add_working_days(at(2022, 1, 28, 9, 30), 3) == at(2022, 2, 9, 9, 30)


def test_due_date_across_30_4_2022():
    # Friday 29/4/2022 + 1 working day: 30/4, 1/5, 2/5, 3/5 all off -> Wed 4/5/2022
    assert add_working_days(at(2022, 4, 29, 14, 0), 1) == at(2022, 5, 4, 14, 0)


def test_keeps_time_of_day_and_callers_timezone():
    start = datetime(2022, 4, 29, 7, 0, tzinfo=UTC)  # 14:00 in Hà Nội, Friday
    due = add_working_days(start, 1)
    assert due.tzinfo is UTC
    assert due == datetime(2022, 5, 4, 7, 0, tzinfo=UTC)


def test_local_date_decides_the_day():
    # 23:30 UTC on Friday 28/1 is already Saturday 29/1 06:30 in Hà Nội
    t = datetime(2022, 1, 28, 23, 30, tzinfo=UTC)
    assert local_date(t) == date(2022, 1, 29)
    assert add_working_days(t, 1).astimezone(VN) == at(2022, 2, 7, 6, 30)


def test_received_on_weekend_counts_from_next_working_day():
    assert add_working_days(at(2022, 3, 19), 1) == at(2022, 3, 21)  # Sat -> Mon


def test_zero_and_negative():
    t = at(2022, 3, 15)
    assert add_working_days(t, 0) == t
    assert subtract_working_days(t, 0) == t
    assert add_working_days(t, -1) == subtract_working_days(t, 1) == at(2022, 3, 14)
    assert subtract_working_days(t, -1) == add_working_days(t, 1)


def test_subtract_across_tet_and_weekend():
    assert subtract_working_days(at(2022, 2, 7), 1) == at(2022, 1, 28)
    # Sunday deadline counts from Friday: 1 working day before is Thursday
    assert subtract_working_days(at(2022, 3, 20), 1) == at(2022, 3, 17)


def test_between():
    assert working_days_between(at(2022, 1, 28), at(2022, 2, 7)) == 1
    assert working_days_between(at(2022, 2, 7), at(2022, 1, 28)) == -1
    assert working_days_between(at(2022, 3, 15, 8), at(2022, 3, 15, 17)) == 0
    assert working_days_between(at(2021, 12, 31), at(2022, 1, 4)) == 1  # 1/1 Sat, 3/1 observed
    # a full year: 2022 has 249 working days (Mon-Fri minus weekday holidays)
    assert working_days_between(at(2021, 12, 31), at(2022, 12, 31)) == len(
        working_days_in(date(2022, 1, 1), date(2022, 12, 31))
    )


def test_working_days_in_range():
    days = working_days_in(date(2022, 1, 27), date(2022, 2, 8))
    assert days == [date(2022, 1, 27), date(2022, 1, 28), date(2022, 2, 7), date(2022, 2, 8)]
    assert next_working_day(date(2022, 1, 28)) == date(2022, 2, 7)
    assert previous_working_day(date(2022, 2, 7)) == date(2022, 1, 28)


def test_naive_datetime_rejected():
    with pytest.raises(ValueError, match="naive"):
        add_working_days(datetime(2022, 3, 15, 9), 1)
    with pytest.raises(ValueError, match="naive"):
        working_days_between(datetime(2022, 3, 15, 9), at(2022, 3, 16))


def test_bad_n_rejected():
    with pytest.raises(TypeError):
        add_working_days(at(2022, 3, 15), 1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        add_working_days(at(2022, 3, 15), True)  # type: ignore[arg-type]


def test_is_working_day_rejects_datetime():
    with pytest.raises(TypeError):
        is_working_day(at(2022, 3, 15))  # type: ignore[arg-type]


# --- properties -------------------------------------------------------------------------
instants = st.datetimes(
    min_value=datetime(2015, 1, 1),
    max_value=datetime(2030, 12, 31),
    timezones=st.sampled_from([VN, UTC, ZoneInfo("Europe/Paris"), timezone(timedelta(hours=-5))]),
)
counts = st.integers(min_value=0, max_value=400)


@settings(max_examples=400, deadline=None)
@given(instants, counts)
def test_add_then_between_round_trips(t, n):
    assert working_days_between(t, add_working_days(t, n)) == n


@settings(max_examples=400, deadline=None)
@given(instants, st.integers(min_value=1, max_value=400))
def test_add_lands_on_working_day_same_time(t, n):
    due = add_working_days(t, n)
    assert is_working_day(local_date(due))
    assert due.astimezone(VN).time() == t.astimezone(VN).time()
    assert due > t


@settings(max_examples=300, deadline=None)
@given(instants, st.integers(min_value=0, max_value=200), st.integers(min_value=0, max_value=200))
def test_add_is_monotonic_in_n(t, a, b):
    lo, hi = sorted((a, b))
    assert add_working_days(t, lo) <= add_working_days(t, hi)
    if lo < hi:
        assert local_date(add_working_days(t, lo)) < local_date(add_working_days(t, hi))


@settings(max_examples=300, deadline=None)
@given(instants, st.integers(min_value=1, max_value=400))
def test_subtract_mirrors_add(t, n):
    back = subtract_working_days(t, n)
    assert is_working_day(local_date(back))
    assert working_days_between(back, t) == n
    assert back.astimezone(VN).time() == t.astimezone(VN).time()
    if is_working_day(local_date(t)):
        assert add_working_days(back, n) == t
        assert subtract_working_days(add_working_days(t, n), n) == t


@settings(max_examples=300, deadline=None)
@given(instants, instants)
def test_between_is_antisymmetric_and_matches_enumeration(a, b):
    assert working_days_between(a, b) == -working_days_between(b, a)
    da, db = local_date(a), local_date(b)
    if da <= db and (db - da).days < 800:
        assert working_days_between(a, b) == len(working_days_in(da + timedelta(days=1), db))


@settings(max_examples=200, deadline=None)
@given(st.dates(min_value=date(2015, 1, 1), max_value=date(2030, 12, 31)))
def test_is_working_day_matches_definition(d):
    expected = (d.weekday() < 5 and d not in holidays_in(d.year)) or d in weekend_workdays_in(d.year)
    assert is_working_day(d) == expected
    # stepping from the day before lands here exactly when d is a working day
    prev = datetime.combine(d - timedelta(days=1), time(9), VN)
    assert (local_date(add_working_days(prev, 1)) == d) == is_working_day(d)
