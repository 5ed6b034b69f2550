"""Date rules of the renewal calendar: as-of dates, days to renewal, business days."""

from __future__ import annotations

import calendar
from collections.abc import Container, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo


def as_of_date(moment: datetime, business_timezone: str) -> date:
    """The calendar date of ``moment`` in the business timezone (a run's as-of date)."""
    if moment.tzinfo is None:
        raise ValueError("as_of_date needs an aware datetime")
    return moment.astimezone(ZoneInfo(business_timezone)).date()


def local_date(moment: datetime | None, timezone: str) -> date | None:
    """The calendar date on which ``moment`` happened for someone living in ``timezone``."""
    if moment is None:
        return None
    return moment.astimezone(ZoneInfo(timezone)).date()


def days_to_renewal(renewal_date: date, as_of: date) -> int:
    """Whole days from ``as_of`` to ``renewal_date``; negative once the renewal date has passed."""
    return (renewal_date - as_of).days


def add_months(day: date, months: int) -> date:
    """``day`` moved by whole months, clamped to the end of shorter months (Jan 31 + 1 = Feb 28/29)."""
    month_index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(month_index, 12)
    last_day = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last_day))


def term_end(term_start: date, term_months: int) -> date:
    """The last day of a term of ``term_months`` months starting on ``term_start``."""
    return add_months(term_start, term_months) - timedelta(days=1)


def is_business_day(day: date, holidays: Container[date] = frozenset()) -> bool:
    """Monday to Friday, less the holiday calendar."""
    return day.weekday() < 5 and day not in holidays


def first_business_day(year: int, month: int, holidays: Container[date] = frozenset()) -> date:
    """The first business day of a month."""
    day = date(year, month, 1)
    while not is_business_day(day, holidays):
        day += timedelta(days=1)
    return day


def notice_day(renewal_date: date, months_before: int, holidays: Container[date] = frozenset()) -> date:
    """First business day of the month ``months_before`` months before the renewal month.

    The membership notice batch goes out then, so that every notice is out by the 7th.
    """
    month_start = add_months(renewal_date.replace(day=1), -months_before)
    return first_business_day(month_start.year, month_start.month, holidays)


@dataclass(frozen=True)
class HolidayCalendar:
    """The days that are not business days besides weekends: explicit dates (RENEWALS_HOLIDAYS)
    and, with ``country``, that country's public holidays (and its ``subdivision``'s) from the
    ``holidays`` package, for any year asked about."""

    dates: frozenset[date] = frozenset()
    country: str | None = None
    subdivision: str | None = None

    def __post_init__(self) -> None:
        if self.country is not None:
            _country_holidays(self.country, self.subdivision)  # an unknown country or subdivision fails here

    def __contains__(self, day: object) -> bool:
        if day in self.dates:
            return True
        return self.country is not None and day in _country_holidays(self.country, self.subdivision)


@lru_cache(maxsize=8)
def _country_holidays(country: str, subdivision: str | None) -> Any:
    import holidays  # imported on first use: most deployments name no country

    try:
        return holidays.country_holidays(country, subdiv=subdivision)
    except NotImplementedError as exc:
        raise ValueError(f"holiday calendar: {exc}") from None


def months_between(first: date, last: date) -> list[date]:
    """The first day of every month from ``first``'s month to ``last``'s month, inclusive."""
    months = []
    current = first.replace(day=1)
    while current <= last:
        months.append(current)
        current = add_months(current, 1)
    return months


def parse_holidays(values: Iterable[str]) -> frozenset[date]:
    """ISO dates (blank entries ignored) as a holiday calendar; a malformed date is a clear error."""
    holidays = set()
    for raw in values:
        text = raw.strip()
        if not text:
            continue
        try:
            holidays.add(date.fromisoformat(text))
        except ValueError as exc:
            raise ValueError(f"holiday calendar: {text!r} is not an ISO date (YYYY-MM-DD)") from exc
    return frozenset(holidays)
