"""Decision gates: first match wins, facts count from the local day they happened on (the
classification SQL against this reference: tests/integration/test_gates_sql.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from renewals.decisions.gates import (
    COHORTS,
    DECLINED,
    INTENT_CONFIRMED,
    NO_RESPONSE,
    PAID,
    GateFacts,
    cohort_of,
    gate_on,
)

DAY = date(2026, 11, 21)


def at(day: date, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def facts(intent=None, paid=None, declined=None, timezone="UTC") -> GateFacts:
    return GateFacts(intent_confirmed_at=intent, paid_at=paid, declined_at=declined, timezone=timezone)


# --- first match wins -------------------------------------------------------------------------


def test_nothing_recorded_is_no_response():
    assert gate_on(facts(), DAY) == NO_RESPONSE


def test_intent_alone_is_intent_confirmed():
    assert gate_on(facts(intent=at(DAY)), DAY) == INTENT_CONFIRMED


def test_paid_wins_over_everything():
    assert gate_on(facts(intent=at(DAY), paid=at(DAY), declined=at(DAY)), DAY) == PAID
    assert gate_on(facts(paid=at(DAY), declined=at(DAY)), DAY) == PAID


def test_declined_wins_over_intent():
    assert gate_on(facts(intent=at(DAY), declined=at(DAY)), DAY) == DECLINED


def test_order_is_by_gate_not_by_which_fact_came_last():
    # Declined long after paying is still paid; intent after declining is still declined.
    assert gate_on(facts(paid=at(DAY - timedelta(days=30)), declined=at(DAY)), DAY) == PAID
    assert gate_on(facts(declined=at(DAY - timedelta(days=30)), intent=at(DAY)), DAY) == DECLINED


# --- facts count from the day they happened on ------------------------------------------------


def test_a_fact_dated_after_the_day_does_not_count_yet():
    tomorrow = DAY + timedelta(days=1)
    assert gate_on(facts(paid=at(tomorrow)), DAY) == NO_RESPONSE
    assert gate_on(facts(declined=at(tomorrow)), DAY) == NO_RESPONSE
    assert gate_on(facts(intent=at(tomorrow)), DAY) == NO_RESPONSE


def test_a_later_fact_does_not_hide_an_earlier_one():
    # Paid tomorrow, intent today: today the renewal is awaiting payment.
    assert gate_on(facts(intent=at(DAY), paid=at(DAY + timedelta(days=1))), DAY) == INTENT_CONFIRMED
    assert gate_on(facts(intent=at(DAY), paid=at(DAY + timedelta(days=1))), DAY + timedelta(days=1)) == PAID


def test_a_fact_counts_from_the_start_of_its_day():
    assert gate_on(facts(paid=at(DAY, 0, 0)), DAY) == PAID
    assert gate_on(facts(paid=at(DAY, 23, 59)), DAY) == PAID
    assert gate_on(facts(paid=at(DAY, 23, 59)), DAY - timedelta(days=1)) == NO_RESPONSE


def test_late_evening_utc_is_the_next_day_in_tokyo():
    paid = at(DAY, 22, 30)  # 07:30 on the 22nd in Tokyo
    assert gate_on(facts(paid=paid, timezone="UTC"), DAY) == PAID
    assert gate_on(facts(paid=paid, timezone="Asia/Tokyo"), DAY) == NO_RESPONSE
    assert gate_on(facts(paid=paid, timezone="Asia/Tokyo"), DAY + timedelta(days=1)) == PAID


def test_early_morning_utc_is_the_previous_day_in_los_angeles():
    paid = at(DAY, 3, 0)  # 19:00 on the 20th in Los Angeles
    yesterday = DAY - timedelta(days=1)
    assert gate_on(facts(paid=paid, timezone="UTC"), yesterday) == NO_RESPONSE
    assert gate_on(facts(paid=paid, timezone="America/Los_Angeles"), yesterday) == PAID


def test_late_evening_utc_is_the_same_day_in_los_angeles():
    paid = at(DAY, 22, 30)  # 14:30 on the 21st in Los Angeles
    assert gate_on(facts(paid=paid, timezone="America/Los_Angeles"), DAY) == PAID
    assert gate_on(facts(paid=paid, timezone="America/Los_Angeles"), DAY - timedelta(days=1)) == NO_RESPONSE


# --- cohorts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gate", "days", "cohort"),
    [
        (PAID, 30, "renewed"),
        (PAID, -5, "renewed"),
        (DECLINED, 30, "declined"),
        (DECLINED, -5, "declined"),
        (INTENT_CONFIRMED, 30, "awaiting_payment"),
        (INTENT_CONFIRMED, -5, "awaiting_payment"),
        (NO_RESPONSE, 30, "upcoming"),
        (NO_RESPONSE, 0, "upcoming"),
        (NO_RESPONSE, -1, "overdue"),
        (NO_RESPONSE, -60, "overdue"),
    ],
)
def test_cohort_of(gate, days, cohort):
    assert cohort_of(gate, days) == cohort
    assert cohort in COHORTS
