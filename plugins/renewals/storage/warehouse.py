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


# The parameters of deliver/normalise_recheck.sql, in the column order of extract/recheck_gates.sql.
_RECHECK_ARRAYS = (
    "source_ids", "renewal_dates", "intent_confirmed_ats", "paid_ats", "declined_ats", "pauseds", "updated_ats",
)  # fmt: skip


def current_facts(
    warehouse: psycopg.Connection, ops: psycopg.Connection, source_ids: Sequence[str]
) -> dict[str, CurrentFacts]:
    """The gate facts of these subscriptions as the warehouse holds them now, keyed by the
    normalised subscription id. ``source_ids`` are the ids as the warehouse spells them (the
    staged ``source_id``); the values go through the extract's normalisation on ``ops``, so a
    text-typed warehouse and a typed one give the same facts."""
    columns = warehouse.execute(sql_text("extract/recheck_gates.sql"), {"source_ids": list(source_ids)}).fetchall()
    warehouse.commit()  # end the read transaction so the next batch sees fresh facts
    params = {name: [row[i] for row in columns] for i, name in enumerate(_RECHECK_ARRAYS)}
    rows = ops.execute(sql_text("deliver/normalise_recheck.sql"), params).fetchall()
    return {
        subscription_id: CurrentFacts(
            renewal_date=renewal_date,
            paused=paused,
            intent_confirmed_at=intent_at,
            paid_at=paid_at,
            declined_at=declined_at,
        )
        for subscription_id, renewal_date, paused, intent_at, paid_at, declined_at in rows
    }
