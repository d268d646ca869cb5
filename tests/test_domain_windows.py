"""streams/domain/windows.py: ms conversion, classification, local days and calendar/rolling windows.

Expected values are worked out by hand, or with ``zoneinfo`` (Asia/Ho_Chi_Minh) as the oracle.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.domain.windows import (
    DAY_MS,
    EARLY,
    HOUR_MS,
    LATE,
    ON_TIME,
    ROLLING,
    LocalCalendar,
    from_ms,
    to_ms,
    touched_asof_steps,
    window_bucket_range,
)
from tests.domain_factories import DAY, HOUR, VN, dt_of, local, local_date, ms_of, utc

CAL = LocalCalendar.for_zone("Asia/Ho_Chi_Minh", "12-15")

# instants from 1976 (Vietnam has been on +07:00 since 13 June 1975) to 2100
instants = st.integers(utc(1976, 1, 1), utc(2100, 1, 1))


# -- ms conversion ------------------------------------------------------------------------------
def test_to_ms_requires_timezone():
    with pytest.raises(ValueError):
        to_ms(datetime(2024, 1, 1, 9, 0))


def test_to_ms_same_instant_in_any_zone():
    a = datetime(2024, 3, 7, 23, 30, tzinfo=UTC)
    b = datetime(2024, 3, 8, 6, 30, tzinfo=VN)
    assert to_ms(a) == to_ms(b) == 1709854200000


@settings(max_examples=300, deadline=None)
@given(instants)
def test_ms_roundtrip_is_exact(ms):
    assert from_ms(ms) == datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    assert to_ms(from_ms(ms)) == ms
    assert to_ms(dt_of(ms)) == ms
    assert from_ms(ms).tzinfo is not None and from_ms(ms).utcoffset() == timedelta(0)


# -- configuration ------------------------------------------------------------------------------
def test_for_zone_defaults():
    cal = LocalCalendar.for_zone()
    assert cal == LocalCalendar(7 * HOUR_MS, 12, 15)
    assert LocalCalendar.for_zone("UTC", "01-01") == LocalCalendar(0, 1, 1)


@pytest.mark.parametrize("bad", ["02-30", "13-01", "00-10", "12-32"])
def test_for_zone_rejects_impossible_report_year_start(bad):
    with pytest.raises(ValueError):
        LocalCalendar.for_zone("Asia/Ho_Chi_Minh", bad)


# -- classification (trước hạn / đúng hạn / trễ hạn) ----------------------------------------------
DUE = local(2024, 3, 7, 17, 0)  # Thu 7 Mar 2024 17:00 +07:00 = 10:00 UTC


@pytest.mark.parametrize(
    "resolved_at,expected",
    [
        (local(2024, 3, 1, 9, 0), EARLY),  # days before
        (local(2024, 3, 6, 23, 59, 59, 999), EARLY),  # last ms of the previous local day
        (local(2024, 3, 7, 0, 0), ON_TIME),  # first ms of the due local day
        (local(2024, 3, 7, 16, 59, 59, 999), ON_TIME),
        (DUE, ON_TIME),  # exactly at due_at
        (DUE + 1, LATE),  # 1 ms after due_at
        (local(2024, 3, 7, 23, 59), LATE),  # same local day but after due
        (local(2024, 3, 20, 9, 0), LATE),
    ],
)
def test_classification_boundaries(resolved_at, expected):
    assert CAL.classify_resolution(resolved_at, DUE) == expected


def test_classification_uses_local_day_not_utc_day():
    # due Fri 8 Mar 08:00 local = 01:00 UTC on the 8th; resolved 7 Mar 23:30 UTC = 8 Mar 06:30 local
    due = local(2024, 3, 8, 8, 0)
    res = utc(2024, 3, 7, 23, 30)
    assert datetime.fromtimestamp(res / 1000, UTC).date() < datetime.fromtimestamp(due / 1000, UTC).date()
    assert CAL.classify_resolution(res, due) == ON_TIME  # same local day: on time, not early
    # the mirror: same UTC day, earlier local day -> early
    due2 = utc(2024, 3, 7, 23, 0)  # 8 Mar 06:00 local
    res2 = utc(2024, 3, 7, 16, 59)  # 7 Mar 23:59 local
    assert CAL.classify_resolution(res2, due2) == EARLY
    assert CAL.classify_resolution(utc(2024, 3, 7, 17, 0), due2) == ON_TIME  # 8 Mar 00:00 local


@settings(max_examples=300, deadline=None)
@given(instants, st.integers(-40 * DAY, 40 * DAY))
def test_classification_matches_definition(due, delta):
    res = due + delta
    if res > due:
        expected = LATE
    elif local_date(res) < local_date(due):
        expected = EARLY
    else:
        expected = ON_TIME
    assert CAL.classify_resolution(res, due) == expected


# -- local days ----------------------------------------------------------------------------------
def test_local_day_boundary_is_17_utc():
    midnight = local(2024, 3, 8)  # 2024-03-07T17:00:00Z
    assert midnight == utc(2024, 3, 7, 17)
    assert CAL.local_date(midnight) == date(2024, 3, 8)
    assert CAL.local_date(midnight - 1) == date(2024, 3, 7)
    assert CAL.local_day(midnight) == CAL.local_day(midnight - 1) + 1
    assert CAL.day_start(CAL.local_day(midnight)) == midnight
    assert CAL.local_date(utc(2024, 3, 7, 23, 30)) == date(2024, 3, 8)


@settings(max_examples=300, deadline=None)
@given(instants)
def test_local_day_matches_zoneinfo(ms):
    d = dt_of(ms).date()
    assert CAL.local_date(ms) == d
    day = CAL.local_day(ms)
    assert day == (d - date(1970, 1, 1)).days
    start = CAL.day_start(day)
    assert start == ms_of(datetime(d.year, d.month, d.day, tzinfo=VN))
    assert start <= ms < start + DAY_MS


def test_other_fixed_offsets():
    cal = LocalCalendar.for_zone("UTC", "01-01")
    assert cal.local_date(utc(2024, 3, 7, 23, 30)) == date(2024, 3, 7)
    assert cal.classify_resolution(utc(2024, 3, 7, 23, 30), utc(2024, 3, 8, 1)) == EARLY


# -- calendar windows ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "ms,month,year",
    [
        (local(2024, 1, 31, 23, 59, 59, 999), (2024, 1), 2024),
        (local(2024, 2, 1), (2024, 2), 2024),
        (utc(2024, 1, 31, 17, 0), (2024, 2), 2024),  # 1 Feb 00:00 local
        (utc(2023, 12, 31, 16, 59, 59, 999), (2023, 12), 2023),
        (utc(2023, 12, 31, 17, 0), (2024, 1), 2024),  # new year in Vietnam, still 2023 in UTC
    ],
)
def test_month_and_year_keys(ms, month, year):
    y, mo = month
    assert CAL.month_key(ms) == y * 12 + mo - 1
    assert CAL.month_start(CAL.month_key(ms)) == local(y, mo, 1)
    assert CAL.year_key(ms) == year
    assert CAL.year_start(year) == local(year, 1, 1)


def test_report_year_2022_runs_from_15_dec_2021_to_14_dec_2022():
    start = CAL.report_year_start(2022)
    assert start == local(2021, 12, 15) == utc(2021, 12, 14, 17)
    assert CAL.report_year_start(2023) == local(2022, 12, 15)
    assert CAL.report_year_key(start) == 2022
    assert CAL.report_year_key(start - 1) == 2021  # 14 Dec 2021 23:59:59.999 local
    assert CAL.report_year_key(local(2022, 12, 14, 23, 59, 59, 999)) == 2022
    assert CAL.report_year_key(local(2022, 12, 15)) == 2023
    # whole days
    assert CAL.report_year_key(local(2021, 12, 16, 10)) == 2022
    assert CAL.report_year_key(local(2021, 12, 14, 10)) == 2021
    assert CAL.report_year_key(local(2022, 6, 1)) == 2022
    assert CAL.report_year_key(local(2022, 1, 1)) == 2022
    # Mỹ Tho's 2022 reporting period (16/12/2021–30/11/2022) lies inside report year 2022
    assert CAL.report_year_key(local(2021, 12, 16)) == CAL.report_year_key(local(2022, 11, 30, 23)) == 2022


def test_report_year_start_january_first_is_the_calendar_year():
    cal = LocalCalendar.for_zone("Asia/Ho_Chi_Minh", "01-01")
    assert cal.report_year_key(local(2022, 1, 1)) == 2022
    assert cal.report_year_key(local(2022, 1, 1) - 1) == 2021
    assert cal.report_year_key(local(2022, 12, 31, 23)) == 2022
    assert cal.report_year_start(2022) == local(2022, 1, 1)


def _oracle_report_year(d: date, m: int, dd: int) -> tuple[int, date]:
    """(label, start date) of the reporting period containing local date d: label = year the period ends in."""
    start = date(d.year, m, dd) if d >= date(d.year, m, dd) else date(d.year - 1, m, dd)
    end = date(start.year + 1, m, dd) - timedelta(days=1)
    return end.year, start


@settings(max_examples=300, deadline=None)
@given(
    st.integers(utc(1990, 1, 1), utc(2090, 1, 1)),
    st.sampled_from(["12-15", "01-01", "01-02", "07-01", "12-31", "02-28"]),
)
def test_calendar_windows_match_zoneinfo(ms, start_spec):
    cal = LocalCalendar.for_zone("Asia/Ho_Chi_Minh", start_spec)
    d = dt_of(ms).date()
    # month
    mk = cal.month_key(ms)
    assert divmod(mk, 12) == (d.year, d.month - 1)
    assert cal.month_start(mk) == local(d.year, d.month, 1)
    assert cal.month_start(mk) <= ms < cal.month_start(mk + 1)
    # year
    assert cal.year_key(ms) == d.year
    assert cal.year_start(d.year) <= ms < cal.year_start(d.year + 1)
    # report year
    m, dd = (int(x) for x in start_spec.split("-"))
    label, start = _oracle_report_year(d, m, dd)
    assert cal.report_year_key(ms) == label
    assert cal.report_year_start(label) == local(start.year, start.month, start.day)
    assert cal.report_year_start(label) <= ms < cal.report_year_start(label + 1)


# -- rolling windows ------------------------------------------------------------------------------
def test_rolling_definitions():
    assert ROLLING == {"24h": ("hour", 24), "7d": ("day", 7), "30d": ("day", 30)}


def test_touched_steps_by_hand():
    # an event in bucket 10 of a 24-step window is inside the windows of as-of steps 11..34
    # ([T-24, T) holds bucket 10 for T in 11..34) plus the decay step 35
    assert list(touched_asof_steps(10, 24)) == list(range(11, 36))
    assert list(window_bucket_range(11, 24)) == list(range(-13, 11))
    assert 10 in window_bucket_range(34, 24) and 10 not in window_bucket_range(35, 24)
    assert 10 not in window_bucket_range(10, 24)  # the window ends before its as-of step


@settings(max_examples=300, deadline=None)
@given(st.integers(-10_000, 10_000), st.integers(-10_000, 10_000), st.sampled_from([1, 7, 24, 30]))
def test_touched_steps_are_exactly_the_windows_holding_the_bucket_plus_decay(bucket, step, steps):
    touched = touched_asof_steps(bucket, steps)
    holds = bucket in window_bucket_range(step, steps)
    assert holds == (step in touched and step != bucket + steps + 1)
    assert len(window_bucket_range(step, steps)) == steps
    assert len(touched) == steps + 1


def test_rolling_24h_window_covers_t_minus_24h_to_t():
    """As of T = step*HOUR the 24h window is [T-24h, T): the hour buckets step-24 .. step-1."""
    t = utc(2024, 3, 7, 10, 0)
    step = t // HOUR_MS
    buckets = window_bucket_range(step, 24)
    assert buckets[0] * HOUR == t - 24 * HOUR
    assert (buckets[-1] + 1) * HOUR == t
    event = t - 1  # 09:59:59.999 counts as of 10:00
    assert event // HOUR_MS in buckets
    assert t // HOUR_MS not in buckets  # an event exactly at T does not


def test_rolling_7d_window_is_seven_local_days():
    t = local(2024, 3, 8)  # as of the start of 8 Mar local
    step = CAL.local_day(t)
    days = [CAL.local_date(CAL.day_start(b)) for b in window_bucket_range(step, 7)]
    assert days == [date(2024, 3, 1) + timedelta(days=i) for i in range(7)]


@pytest.mark.parametrize("ms", [274_377_507_678, 1_000_000_000_001, 1_900_000_000_003])
def test_to_ms_known_float_traps(ms):
    """Instants where int(timestamp() * 1000) used to truncate to ms - 1."""
    t = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    assert to_ms(t) == ms
    assert to_ms(t.astimezone(VN)) == ms


def test_to_ms_floors_sub_millisecond_parts():
    t = datetime(2024, 3, 7, 10, 0, 0, 999, tzinfo=UTC)  # 999 µs
    assert to_ms(t) == utc(2024, 3, 7, 10)


# -- legal report periods (Decree 09/2019/NĐ-CP) --------------------------------------------------
@pytest.mark.parametrize(
    ("window", "at", "label", "start", "end"),
    [
        # monthly: the 15th of the previous month to the 14th of the month
        ("report_month", (2024, 5, 14, 23, 59), "2024-05", (2024, 4, 15), (2024, 5, 15)),
        ("report_month", (2024, 5, 15, 0, 0), "2024-06", (2024, 5, 15), (2024, 6, 15)),
        ("report_month", (2024, 1, 3, 9, 0), "2024-01", (2023, 12, 15), (2024, 1, 15)),
        # quarterly: the 15th of the month before the quarter to the 14th of its last month
        ("report_quarter", (2023, 12, 15, 0, 0), "2024Q1", (2023, 12, 15), (2024, 3, 15)),
        ("report_quarter", (2024, 3, 14, 12, 0), "2024Q1", (2023, 12, 15), (2024, 3, 15)),
        ("report_quarter", (2024, 9, 20, 8, 0), "2024Q4", (2024, 9, 15), (2024, 12, 15)),
        # six-monthly: 15 Dec of the previous year to 14 Jun; then 15 Jun to 14 Dec
        ("report_half", (2024, 6, 14, 23, 0), "2024H1", (2023, 12, 15), (2024, 6, 15)),
        ("report_half", (2024, 6, 15, 0, 0), "2024H2", (2024, 6, 15), (2024, 12, 15)),
        # annual: 15 Dec of the previous year to 14 Dec
        ("report_year", (2022, 11, 30, 17, 0), "2022", (2021, 12, 15), (2022, 12, 15)),
    ],
)
def test_report_periods_of_decree_09(window, at, label, start, end):
    cal = LocalCalendar.for_zone()
    ms = local(*at)
    key = cal.period_key(window, ms)
    assert cal.period_label(window, key) == label
    assert cal.period_start(window, key) == local(*start)
    assert cal.period_start(window, key + 1) == local(*end)


def _oracle_report_month_start(d: date, day: int) -> date:
    """The latest report-month start on or before d (a month without ``day`` starts on its last)."""

    def start_in(y: int, mo: int) -> date:
        last = (date(y + mo // 12, mo % 12 + 1, 1) - timedelta(days=1)).day
        return date(y, mo, min(day, last))

    s = start_in(d.year, d.month)
    if d >= s:
        return s
    y, mo = (d.year - 1, 12) if d.month == 1 else (d.year, d.month - 1)
    return start_in(y, mo)


@settings(max_examples=400, deadline=None)
@given(
    st.integers(utc(1990, 1, 1), utc(2090, 1, 1)),
    st.sampled_from(["12-15", "01-01", "01-02", "07-01", "12-31", "02-28", "03-30"]),
)
def test_report_periods_tile_time_and_nest_in_the_report_year(ms, start_spec):
    cal = LocalCalendar.for_zone("Asia/Ho_Chi_Minh", start_spec)
    day = int(start_spec.split("-")[1])
    d = dt_of(ms).date()
    for window in ("report_month", "report_quarter", "report_half", "report_year"):
        k = cal.period_key(window, ms)
        assert cal.period_start(window, k) <= ms < cal.period_start(window, k + 1), window
    # a report month starts on the start day (or the month's last day), and is one calendar month long
    rm = cal.period_key("report_month", ms)
    assert local_date(cal.period_start("report_month", rm)) == _oracle_report_month_start(d, day)
    # quarters and halves are 3 and 6 report months counted from the report year's start
    q_start = cal.period_start("report_quarter", cal.period_key("report_quarter", ms))
    h_start = cal.period_start("report_half", cal.period_key("report_half", ms))
    y_start = cal.period_start("report_year", cal.report_year_key(ms))
    for start, n in ((q_start, 3), (h_start, 6), (y_start, 12)):
        first = cal.period_key("report_month", start)
        assert cal.period_start("report_month", first) == start  # starts with a report month
        assert first <= rm < first + n
        assert (first - cal.period_key("report_month", y_start)) % n == 0  # in step with the year
    assert y_start <= h_start <= q_start <= ms


# -- period labels, both ways (govpulse report --period WINDOW:LABEL) -----------------------------
@pytest.mark.parametrize("start", ["12-15", "01-01", "10-01", "01-31"])
def test_every_period_label_parses_back_to_its_key(start):
    from common import measurements as mm

    cal = LocalCalendar.for_zone(report_year_start=start)
    for window in mm.CALENDAR_WINDOWS:
        first = cal.period_key(window, cal.report_year_start(2019))
        for key in range(first, first + 30):
            label = cal.period_label(window, key)
            assert cal.parse_period(window, label) == key, (window, label)
            assert cal.period_end(window, key) == cal.period_start(window, key + 1) > cal.period_start(window, key)


@pytest.mark.parametrize(
    ("window", "label", "says"),
    [
        ("report_month", "2024-13", "YYYY-MM"),
        ("month", "May 2024", "YYYY-MM"),
        ("report_year", "22", "YYYY"),
        ("report_quarter", "2024Q5", "YYYYQ1..Q4"),
        ("report_half", "2024Q1", "YYYYH1..H2"),
        ("7d", "2024", "not a calendar or report period"),
    ],
)
def test_a_bad_period_label_names_what_was_expected(window, label, says):
    with pytest.raises(ValueError, match=says.replace(".", r"\.")):
        LocalCalendar.for_zone().parse_period(window, label)


def test_decree_09_periods_by_their_labels():
    cal = LocalCalendar.for_zone()
    day = lambda ms: cal.local_date(ms).isoformat()  # noqa: E731
    q = cal.parse_period("report_quarter", "2024Q3")
    assert (day(cal.period_start("report_quarter", q)), day(cal.period_end("report_quarter", q))) == (
        "2024-06-15",
        "2024-09-15",
    )
    h = cal.parse_period("report_half", "2024H1")
    assert day(cal.period_start("report_half", h)) == "2023-12-15"
    mo = cal.parse_period("report_month", "2024-05")
    assert day(cal.period_start("report_month", mo)) == "2024-04-15"
