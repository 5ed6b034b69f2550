"""Parked events: what a staff system refused for good, for staff to read, retry or dismiss.

Retry puts the delivery back to pending (the next run's sync sends it again, with its delivery
id); dismiss settles it without sending. Both are audited in ``renewals.sync_actions``.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

from renewals.statuses import ParkedAction, SyncDeliveryStatus
from renewals.storage.sql_files import sql_text

PARKED_LIMIT = 500


class NotParked(LookupError):
    """No parked delivery of that event to that target (settled already, or never parked)."""


def parked(ops: psycopg.Connection, limit: int = PARKED_LIMIT) -> list[dict[str, Any]]:
    with ops.cursor(row_factory=dict_row) as cur:
        return cur.execute(sql_text("console/sync_parked.sql"), {"limit": limit}).fetchall()


def act(
    ops: psycopg.Connection,
    event_id: int,
    target: str,
    action: ParkedAction,
    user: str,
    note: str | None = None,
) -> None:
    """Retry or dismiss a parked delivery, with who did it (one transaction)."""
    with ops.transaction():
        changed = ops.execute(
            """
            update renewals.sync_deliveries
            set status = %(status)s,
                attempts = case when %(retry)s then 0 else attempts end,  -- a retry starts afresh
                updated_at = now()
            where event_id = %(event_id)s and target = %(target)s and status = %(parked)s
            """,
            {
                "status": SyncDeliveryStatus.PENDING if action == ParkedAction.RETRY else SyncDeliveryStatus.DISMISSED,
                "retry": action == ParkedAction.RETRY,
                "event_id": event_id,
                "target": target,
                "parked": SyncDeliveryStatus.PARKED,
            },
        ).rowcount
        if not changed:
            raise NotParked(f"no parked delivery of event {event_id} to {target}: settled already, or never parked")
        ops.execute(
            "insert into renewals.sync_actions (event_id, target, action, acted_by, note) values (%s, %s, %s, %s, %s)",
            (event_id, target, action, user, note),
        )
