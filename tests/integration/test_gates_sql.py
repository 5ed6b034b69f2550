"""The classification SQL decides gates and cohorts exactly like the Python reference
(renewals.decisions.gates, tested alone in tests/unit/test_gates.py), on real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from renewals.decisions.gates import GATES, cohort_of, gate_on
from renewals.storage.sql_files import sql_text
from tests.unit.test_gates import DAY, at, facts

# --- agreement with the classification SQL ----------------------------------------------------

ZONES = ["UTC", "America/New_York", "Asia/Tokyo", "Pacific/Auckland", "America/Los_Angeles", "Europe/London"]
SQL_FILE = "stage/validate_subscriptions.sql"

# The same expressions as include/sql/stage/validate_subscriptions.sql (facts, gated, cohort).
GATE_SQL = """
with v as (
    select %(intent)s::timestamptz as intent_confirmed_at, %(paid)s::timestamptz as paid_at,
           %(declined)s::timestamptz as declined_at, %(zone)s::text as zone,
           %(renewal)s::date as renewal_date
), a as (  -- no member answer: the warehouse's facts alone (answers: tests/integration/test_member_answers.py)
    select null::text as answer, null::date as counted_on
), facts as (
    select v.*,
           coalesce((v.intent_confirmed_at at time zone v.zone)::date,
                    case when a.answer = 'intent' then a.counted_on end) as intent_on,
           (v.paid_at at time zone v.zone)::date as paid_on,
           coalesce((v.declined_at at time zone v.zone)::date,
                    case when a.answer = 'decline' then a.counted_on end) as declined_on
    from v cross join a
), gated as (
    select f.*,
           case when f.paid_on <= %(as_of)s then 'paid'
                when f.declined_on <= %(as_of)s then 'declined'
                when f.intent_on <= %(as_of)s then 'intent_confirmed'
                else 'no_response' end as gate,
           f.renewal_date - %(as_of)s::date as days_to_renewal
    from facts f
)
select gate, days_to_renewal,
       case gate when 'paid' then 'renewed'
                 when 'declined' then 'declined'
                 when 'intent_confirmed' then 'awaiting_payment'
                 else case when days_to_renewal < 0 then 'overdue' else 'upcoming' end end as cohort
from gated
"""


def test_the_agreement_query_uses_the_expressions_of_the_shipped_sql():
    # If validate_subscriptions.sql changes how it decides, the agreement test below must follow.
    shipped = " ".join(sql_text(SQL_FILE).split())
    for expression in [
        "coalesce((v.intent_confirmed_at at time zone v.zone)::date, "
        "case when a.answer = 'intent' then a.counted_on end) as intent_on",
        "(v.paid_at at time zone v.zone)::date as paid_on",
        "coalesce((v.declined_at at time zone v.zone)::date, "
        "case when a.answer = 'decline' then a.counted_on end) as declined_on",
        "case when f.paid_on <= %(as_of)s then 'paid' when f.declined_on <= %(as_of)s then 'declined' "
        "when f.intent_on <= %(as_of)s then 'intent_confirmed' else 'no_response' end as gate",
        "f.renewal_date - %(as_of)s::date as days_to_renewal",
        "case gate when 'paid' then 'renewed' when 'declined' then 'declined' "
        "when 'intent_confirmed' then 'awaiting_payment' "
        "else case when days_to_renewal < 0 then 'overdue' else 'upcoming' end end",
    ]:
        assert expression in shipped, expression


@pytest.fixture(scope="module")
def pg(pg_server: str) -> Iterator[psycopg.Connection]:
    # A session in a zone unlike any fact's, so the SQL cannot lean on the session timezone.
    with psycopg.connect(pg_server + "/postgres", autocommit=True, options="-c timezone=Asia/Kathmandu") as conn:
        yield conn


AS_OF = st.dates(min_value=date(2024, 1, 1), max_value=date(2030, 12, 31))


@st.composite
def fact_cases(draw):
    as_of = draw(AS_OF)
    # Facts cluster around the as-of date so that "same day", "day before" and "day after" in
    # some zone all come up, including the DST change days of the zones.
    near = st.integers(min_value=-3 * 24 * 60, max_value=3 * 24 * 60).map(
        lambda minutes: datetime(as_of.year, as_of.month, as_of.day, 12, tzinfo=UTC) + timedelta(minutes=minutes)
    )
    anywhere = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC))
    moment = st.none() | near | anywhere
    return {
        "intent": draw(moment),
        "paid": draw(moment),
        "declined": draw(moment),
        "zone": draw(st.sampled_from(ZONES)),
        "as_of": as_of,
        "renewal": as_of + timedelta(days=draw(st.integers(min_value=-90, max_value=90))),
    }


@settings(max_examples=200, deadline=None)
@given(fact_cases())
def test_sql_gate_and_cohort_agree_with_the_python_reference(pg, case):
    gate, days, cohort = pg.execute(GATE_SQL, case).fetchone()
    expected_gate = gate_on(facts(case["intent"], case["paid"], case["declined"], case["zone"]), case["as_of"])
    assert gate == expected_gate
    assert days == (case["renewal"] - case["as_of"]).days
    assert cohort == cohort_of(expected_gate, days)
    assert gate in GATES


def test_sql_and_python_agree_on_a_known_tokyo_case(pg):
    case = {
        "intent": None,
        "paid": at(DAY, 22, 30),
        "declined": None,
        "zone": "Asia/Tokyo",
        "as_of": DAY,
        "renewal": DAY + timedelta(days=10),
    }
    assert pg.execute(GATE_SQL, case).fetchone() == ("no_response", 10, "upcoming")
    case["as_of"] = DAY + timedelta(days=1)
    assert pg.execute(GATE_SQL, case).fetchone() == ("paid", 9, "renewed")
