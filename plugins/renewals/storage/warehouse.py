"""Reads of the warehouse outside the bulk extract: the current facts of a batch, re-checked
right before it is sent."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import psycopg

from renewals.storage.sql_files import sql_text


@dataclass(frozen=True)
class CurrentFacts:
    renewal_date: date | None
    paused: bool
    intent_confirmed_at: datetime | None
    paid_at: datetime | None
    declined_at: datetime | None


def current_facts(warehouse: psycopg.Connection, subscription_ids: Sequence[str]) -> dict[str, CurrentFacts]:
    rows = warehouse.execute(sql_text("extract/recheck_gates.sql"), {"subscription_ids": list(subscription_ids)})
    facts = {}
    for subscription_id, renewal_date, intent_at, paid_at, declined_at, paused in rows:
        facts[subscription_id] = CurrentFacts(
            renewal_date=renewal_date,
            paused=bool(paused),
            intent_confirmed_at=intent_at,
            paid_at=paid_at,
            declined_at=declined_at,
        )
    warehouse.commit()  # end the read transaction so the next batch sees fresh facts
    return facts
