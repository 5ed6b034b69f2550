"""Reply holds (``renewals.reply_holds``): a person's reply read from the inbox stops the renewal
cycle's customer reminders until staff resume them, or the gate changes (an answer, a payment,
intent confirmed in the CRM: the conversation moved on)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import psycopg


def held(ops: psycopg.Connection, cycles: Iterable[tuple[str, date, str]]) -> set[tuple[str, date]]:
    """Of ``cycles`` (subscription_id, renewal_date, current gate), those a reply holds. A hold whose
    cycle has moved to another gate ends here (resumed by the gate change)."""
    cycles = list(cycles)
    if not cycles:
        return set()
    subscription_ids, renewal_dates, gates = (list(column) for column in zip(*cycles, strict=True))
    rows = ops.execute(
        """
        with batch as (
            select * from unnest(%s::text[], %s::date[], %s::text[]) as b(subscription_id, renewal_date, gate)
        ),
        ended as (
            update renewals.reply_holds h
            set resumed_at = now(), resumed_by = 'gate changed to ' || b.gate
            from batch b
            where h.subscription_id = b.subscription_id and h.renewal_date = b.renewal_date
              and h.resumed_at is null and h.gate is distinct from b.gate and h.gate is not null
        )
        select distinct h.subscription_id, h.renewal_date
        from renewals.reply_holds h
        join batch b using (subscription_id, renewal_date)
        where h.resumed_at is null and (h.gate is null or h.gate = b.gate)
        """,
        (subscription_ids, renewal_dates, gates),
    ).fetchall()
    return {(subscription_id, renewal_date) for subscription_id, renewal_date in rows}


def resume(ops: psycopg.Connection, subscription_id: str, resumed_by: str) -> int:
    """Staff resume a member's reminders (every open hold of theirs); returns how many holds ended."""
    return ops.execute(
        """
        update renewals.reply_holds set resumed_at = now(), resumed_by = %s
        where subscription_id = %s and resumed_at is null
        """,
        (resumed_by, subscription_id),
    ).rowcount
