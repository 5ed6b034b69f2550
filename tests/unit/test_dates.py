"""Date rules of the renewal calendar: month arithmetic, business days, the notice
month, days to renewal and the as-of date of a run in the business timezone."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from renewals.config import ConfigError, Settings
from renewals.decisions.dates import (
    HolidayCalendar,
    add_months,
    as_of_date,
    days_to_renewal,
    first_business_day,
    is_business_day,
    notice_day,
    parse_holidays,
)

DAYS = st.dates(min_value=date(1950, 1, 1), max_value=date(2150, 12, 31))
MONTHS = st.integers(min_value=-240, max_value=240)
YEAR_MONTHS = st.tuples(st.integers(min_value=1950, max_value=2150), st.integers(min_value=1, max_value=12))


def _last_day(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def _shift_month(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + month - 1 + months
    return index // 12, index % 12 + 1


# --- add_months -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),
        (date(2026, 3, 31), -1, date(2026, 2, 28)),
        (date(2026, 5, 31), 1, date(2026, 6, 30)),
        (date(2028, 2, 29), 12, date(2029, 2, 28)),
        (date(2026, 12, 15), 1, date(2027, 1, 15)),
        (date(2027, 1, 15), -1, date(2026, 12, 15)),
        (date(2026, 8, 31), -6, date(2026, 2, 28)),
    ],
)
def test_add_months_clamps_to_the_end_of_shorter_months(start, months, expected):
    assert add_months(start, months) == expected


@given(DAYS, MONTHS)
def test_add_months_lands_in_the_target_month_on_the_same_or_last_day(day, months):
    result = add_months(day, months)
    year, month = _shift_month(day.year, day.month, months)
    assert (result.year, result.month) == (year, month)
    assert result.day == min(day.day, _last_day(year, month))


@given(DAYS, MONTHS)
def test_add_months_then_back_keeps_the_day_when_it_exists(day, months):
    year, month = _shift_month(day.year, day.month, months)
    there = add_months(day, months)
    back = add_months(there, -months)
    if day.day <= _last_day(year, month):
        assert back == day
    else:
        # Clamped on the way out: the way back cannot restore the lost days, but stays in the month.
        assert (back.year, back.month) == (day.year, day.month)
        assert back.day < day.day


# --- business days ----------------------------------------------------------------------------


@st.composite
def month_with_holidays(draw):
    year, month = draw(YEAR_MONTHS)
    days = st.integers(min_value=1, max_value=_last_day(year, month)).map(lambda d: date(year, month, d))
    holidays = frozenset(draw(st.lists(days, max_size=8)))
    return year, month, holidays


@given(month_with_holidays())
def test_first_business_day_is_a_weekday_that_is_not_a_holiday(case):
    year, month, holidays = case
    day = first_business_day(year, month, holidays)
    assert (day.year, day.month) == (year, month)
    assert day.weekday() < 5
    assert day not in holidays
    assert is_business_day(day, holidays)


@given(month_with_holidays())
def test_no_business_day_precedes_the_first_business_day(case):
    year, month, holidays = case
    first = first_business_day(year, month, holidays)
    earlier = [date(year, month, d) for d in range(1, first.day)]
    assert all(day.weekday() >= 5 or day in holidays for day in earlier)


@given(YEAR_MONTHS)
def test_without_holidays_the_first_business_day_is_the_1st_to_3rd(year_month):
    year, month = year_month
    assert 1 <= first_business_day(year, month).day <= 3


def test_first_business_day_skips_weekend_and_holidays():
    # 1 August 2026 is a Saturday; Monday the 3rd is a holiday here.
    assert first_business_day(2026, 8) == date(2026, 8, 3)
    assert first_business_day(2026, 8, frozenset({date(2026, 8, 3)})) == date(2026, 8, 4)
    # 1 January 2026 is a Thursday: New Year's Day as a holiday moves it to Friday the 2nd.
    assert first_business_day(2026, 1, frozenset({date(2026, 1, 1)})) == date(2026, 1, 2)


# --- the notice month -------------------------------------------------------------------------


@given(DAYS)
def test_notice_day_is_in_the_month_two_months_before_the_renewal_month(renewal):
    notice = notice_day(renewal, 2)
    year, month = _shift_month(renewal.year, renewal.month, -2)
    assert (notice.year, notice.month) == (year, month)
    assert notice.day <= 7
    assert notice == first_business_day(year, month)


@pytest.mark.parametrize(
    ("renewal", "expected"),
    [
        (date(2028, 2, 29), date(2027, 12, 1)),  # Feb 29 renewal, notice in the previous year
        (date(2027, 1, 31), date(2026, 11, 2)),  # 1 Nov 2026 is a Sunday
        (date(2027, 2, 1), date(2026, 12, 1)),
        (date(2026, 12, 31), date(2026, 10, 1)),
        (date(2027, 3, 31), date(2027, 1, 1)),  # January, no holiday calendar
    ],
)
def test_notice_day_across_year_boundaries_and_leap_days(renewal, expected):
    assert notice_day(renewal, 2) == expected


def test_notice_day_respects_the_holiday_calendar():
    new_year = frozenset({date(2027, 1, 1)})
    assert notice_day(date(2027, 3, 31), 2, new_year) == date(2027, 1, 4)  # Fri holiday, then weekend


# --- days to renewal --------------------------------------------------------------------------


@given(DAYS, DAYS)
def test_days_to_renewal_is_the_calendar_day_difference(renewal, as_of):
    days = days_to_renewal(renewal, as_of)
    assert as_of + timedelta(days=days) == renewal
    assert (days < 0) == (as_of > renewal)


def test_days_to_renewal_examples():
    assert days_to_renewal(date(2026, 12, 21), date(2026, 11, 21)) == 30
    assert days_to_renewal(date(2026, 12, 21), date(2026, 12, 21)) == 0
    assert days_to_renewal(date(2026, 12, 21), date(2026, 12, 22)) == -1
    assert days_to_renewal(date(2028, 3, 1), date(2028, 2, 28)) == 2  # leap year


# --- as-of date in the business timezone across DST changes -----------------------------------

# (zone, day the clocks change); spring: 23-hour day, autumn: 25-hour day.
DST_DAYS = [
    ("America/New_York", date(2026, 3, 8)),
    ("America/New_York", date(2026, 11, 1)),
    ("Europe/London", date(2026, 3, 29)),
    ("Europe/London", date(2026, 10, 25)),
]


def _local_midnight(zone: str, day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(zone)).astimezone(UTC)


@pytest.mark.parametrize(("zone", "change_day"), DST_DAYS)
def test_as_of_date_around_midnights_of_a_dst_change_day(zone, change_day):
    start = _local_midnight(zone, change_day)
    end = _local_midnight(zone, change_day + timedelta(days=1))
    second = timedelta(seconds=1)
    assert as_of_date(start - second, zone) == change_day - timedelta(days=1)
    assert as_of_date(start, zone) == change_day
    assert as_of_date(end - second, zone) == change_day
    assert as_of_date(end, zone) == change_day + timedelta(days=1)


@pytest.mark.parametrize(("zone", "change_day"), DST_DAYS)
def test_the_dst_change_day_is_really_23_or_25_hours(zone, change_day):
    # Guards the fixture above: these are the days whose length is not 24 hours.
    length = _local_midnight(zone, change_day + timedelta(days=1)) - _local_midnight(zone, change_day)
    assert length in (timedelta(hours=23), timedelta(hours=25))


@pytest.mark.parametrize(("zone", "change_day"), DST_DAYS)
def test_days_to_renewal_counts_calendar_days_across_a_dst_change(zone, change_day):
    renewal = change_day + timedelta(days=1)
    day_before = change_day - timedelta(days=1)
    just_before_change_day = _local_midnight(zone, change_day) - timedelta(seconds=1)
    late_on_change_day = _local_midnight(zone, renewal) - timedelta(seconds=1)
    start_of_renewal_day = _local_midnight(zone, renewal)
    assert days_to_renewal(renewal, as_of_date(just_before_change_day, zone)) == 2
    assert as_of_date(just_before_change_day, zone) == day_before
    assert days_to_renewal(renewal, as_of_date(late_on_change_day, zone)) == 1
    assert days_to_renewal(renewal, as_of_date(start_of_renewal_day, zone)) == 0


@settings(max_examples=200)
@given(
    st.sampled_from(DST_DAYS),
    st.integers(min_value=-26 * 3600, max_value=50 * 3600),
)
def test_as_of_date_matches_the_local_wall_clock_near_dst_changes(case, offset_seconds):
    zone, change_day = case
    moment = _local_midnight(zone, change_day) + timedelta(seconds=offset_seconds)
    wall = moment.astimezone(ZoneInfo(zone))
    assert as_of_date(moment, zone) == wall.date()
    # Whole local days elapsed since the midnight starting the change day, however long that day is.
    expected = (wall.replace(tzinfo=None) - datetime(change_day.year, change_day.month, change_day.day)).days
    assert days_to_renewal(as_of_date(moment, zone), change_day) == expected


def test_as_of_date_refuses_a_naive_datetime():
    with pytest.raises(ValueError, match="aware"):
        as_of_date(datetime(2026, 11, 21, 12), "UTC")


def test_as_of_date_in_utc_and_ahead_of_utc():
    moment = datetime(2026, 11, 20, 23, 30, tzinfo=UTC)
    assert as_of_date(moment, "UTC") == date(2026, 11, 20)
    assert as_of_date(moment, "Asia/Tokyo") == date(2026, 11, 21)
    assert as_of_date(moment, "America/Los_Angeles") == date(2026, 11, 20)


# --- holiday calendar -------------------------------------------------------------------------


def test_parse_holidays_reads_iso_dates_and_ignores_blanks():
    holidays = parse_holidays(["2026-12-25", "", "  ", " 2027-01-01 ", "2026-12-25"])
    assert holidays == frozenset({date(2026, 12, 25), date(2027, 1, 1)})


def test_parse_holidays_of_an_empty_setting_is_no_holidays():
    assert parse_holidays([""]) == frozenset()


@pytest.mark.parametrize("bad", ["2026-13-01", "2026-02-30", "25/12/2026", "christmas"])
def test_parse_holidays_rejects_a_malformed_date_with_a_clear_message(bad):
    with pytest.raises(ValueError) as error:
        parse_holidays(["2026-12-25", bad])
    message = str(error.value)
    assert repr(bad) in message
    assert "YYYY-MM-DD" in message


# --- Country holidays (RENEWALS_HOLIDAY_COUNTRY / _SUBDIVISION) ---------------------------------


def test_a_countrys_holiday_moves_the_notice_day():
    # Notices of February 2027 renewals go out in January; 1 January 2027 is a Friday.
    assert notice_day(date(2027, 2, 15), 1) == date(2027, 1, 1)
    assert notice_day(date(2027, 2, 15), 1, HolidayCalendar(country="US")) == date(2027, 1, 4)


def test_a_subdivisions_holiday_moves_the_notice_day_only_there():
    # 2 January 2026 (a Friday) is a bank holiday in Scotland, not in England.
    assert notice_day(date(2026, 2, 10), 1, HolidayCalendar(country="GB", subdivision="ENG")) == date(2026, 1, 2)
    assert notice_day(date(2026, 2, 10), 1, HolidayCalendar(country="GB", subdivision="SCT")) == date(2026, 1, 5)


def test_country_holidays_and_explicit_dates_combine():
    configured = Settings.from_env(
        {"RENEWALS_HOLIDAY_COUNTRY": "GB", "RENEWALS_HOLIDAY_SUBDIVISION": "SCT", "RENEWALS_HOLIDAYS": "2026-01-05"}
    )
    assert notice_day(date(2026, 2, 10), 1, configured.holidays) == date(2026, 1, 6)
    assert first_business_day(2026, 1, configured.holidays) == date(2026, 1, 6)
    assert not is_business_day(date(2026, 12, 25), configured.holidays)  # Christmas, from the country


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RENEWALS_HOLIDAY_COUNTRY": "XX"}, "Country XX not available"),
        ({"RENEWALS_HOLIDAY_COUNTRY": "GB", "RENEWALS_HOLIDAY_SUBDIVISION": "ZZ"}, "subdivision ZZ"),
        ({"RENEWALS_HOLIDAY_SUBDIVISION": "SCT"}, "needs RENEWALS_HOLIDAY_COUNTRY"),
    ],
)
def test_an_unknown_country_or_subdivision_is_a_clear_config_error(env, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)
