"""Offboarding (gate 3): the offboarding record of a renewal cycle and the contacts recorded for
deactivation. The checklist of an offboarding is the ledger rows of its playbook's steps."""

from __future__ import annotations

import psycopg

from renewals.storage.ledger import LedgerKey
from renewals.storage.runs import RunContext


def start(ops: psycopg.Connection, key: LedgerKey, member_type: str | None, decline_reason: str | None) -> None:
    ops.execute(
        """
        insert into renewals.offboardings (subscription_id, renewal_date, member_type, decline_reason)
        values (%(subscription_id)s, %(renewal_date)s, %(member_type)s, %(decline_reason)s)
        on conflict (subscription_id, renewal_date) do nothing
        """,
        {**key.params(), "member_type": member_type, "decline_reason": decline_reason},
    )


def deactivate_contacts(ops: psycopg.Connection, run: RunContext, key: LedgerKey) -> list[tuple[str, str]]:
    """Record every contact of the subscription for deactivation; returns the new ones (role, email)."""
    return ops.execute(
        run.work.statement("deliver/record_deactivations.sql"), {**key.params(), "run_id": run.run_id}
    ).fetchall()
