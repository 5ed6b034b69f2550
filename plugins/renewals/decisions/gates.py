"""Decision gates of a renewal cycle and the cohorts they put a subscription in.

The classification SQL (include/sql/stage/validate_subscriptions.sql) computes the same gate
in Postgres for every row; this module is the reference the delivery step re-checks against
right before sending, and tests hold the two to agreement.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from renewals.decisions.dates import local_date

PAID = "paid"
DECLINED = "declined"
INTENT_CONFIRMED = "intent_confirmed"
NO_RESPONSE = "no_response"
GATES = (PAID, DECLINED, INTENT_CONFIRMED, NO_RESPONSE)

# Cohorts: how the daily DAG branches. A no-response renewal is "upcoming" until its renewal
# date and "overdue" (gate 4) from the day after.
COHORTS = ("upcoming", "awaiting_payment", "overdue", "renewed", "declined")


@dataclass(frozen=True)
class GateFacts:
    """The warehouse facts a gate is decided on."""

    intent_confirmed_at: datetime | None
    paid_at: datetime | None
    declined_at: datetime | None
    timezone: str


def gate_on(facts: GateFacts, day: date) -> str:
    """The gate a renewal stood at on ``day``: first match wins, paid before declined before intent.

    A fact counts from the local calendar day it happened on, so a backfill of an earlier day
    sees the world as it was then.
    """
    for gate, moment in (
        (PAID, facts.paid_at),
        (DECLINED, facts.declined_at),
        (INTENT_CONFIRMED, facts.intent_confirmed_at),
    ):
        happened_on = local_date(moment, facts.timezone)
        if happened_on is not None and happened_on <= day:
            return gate
    return NO_RESPONSE


def cohort_of(gate: str, days_to_renewal: int) -> str:
    """The cohort of a renewal at ``gate`` with ``days_to_renewal`` left."""
    if gate == PAID:
        return "renewed"
    if gate == DECLINED:
        return "declined"
    if gate == INTENT_CONFIRMED:
        return "awaiting_payment"
    return "overdue" if days_to_renewal < 0 else "upcoming"
