"""The sync outbox's events: one per change staff systems should hear of, with a stable key.

Two ways in, both idempotent by the event's key: :func:`enqueue`, called in the transaction that
makes a change (for kinds the tables below cannot tell apart afterwards), and :func:`derive`, run
by the sync task after the deliveries, which reads the changes made since the last sync from the
ledger, the CTA tables, the offboardings, the renewal cycles, staff's actions, members' answers
and the reply holds (include/sql/sync/derive_events.sql).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import psycopg

from renewals.storage.db import one_row
from renewals.storage.sql_files import sql_text

CTA_KINDS = frozenset({"cta.opened", "cta.escalated", "cta.reowned", "cta.closed"})
MESSAGE_KINDS = frozenset({"message.sent", "message.skipped", "message.held"})
OFFBOARDING_KINDS = frozenset({"offboarding.started", "offboarding.done"})
# What a member said: a one-click answer, a reply read from the inbox (it holds the reminders) and
# the end of that hold (staff resumed the reminders, or the gate changed).
MEMBER_KINDS = frozenset({"member.answered", "reply.held", "reply.resumed"})
KINDS = CTA_KINDS | MESSAGE_KINDS | OFFBOARDING_KINDS | MEMBER_KINDS | {"task.due", "renewal.gate", "staff.action"}
# What the pipeline did and heard, for a CRM's activity history (next to its tasks).
ACTIVITY_KINDS = MESSAGE_KINDS | MEMBER_KINDS | {"staff.action"}

# Changes are read again from this far before the last sync: a delivery's transaction that began
# (and stamped its rows) before the last sync but committed after it is still seen.
DERIVE_OVERLAP = timedelta(hours=1)


@dataclass(frozen=True)
class Event:
    event_id: int
    event_key: str
    kind: str
    subscription_id: str
    renewal_date: date | None
    occurred_at: datetime
    payload: dict[str, Any]

    def body(self, delivery_id: str) -> dict[str, Any]:
        """The event as targets send it (a webhook's JSON body)."""
        return {
            "event": self.event_key,
            "delivery": delivery_id,
            "kind": self.kind,
            "occurred_at": self.occurred_at.isoformat(),
            "subscription_id": self.subscription_id,
            "renewal_date": self.renewal_date.isoformat() if self.renewal_date else None,
            "data": self.payload,
        }


def enqueue(
    conn: psycopg.Connection,
    kind: str,
    event_key: str,
    subscription_id: str,
    renewal_date: date | None,
    payload: dict[str, Any],
) -> bool:
    """Queue an event in the caller's transaction; False when its key was queued before.
    ``kind`` must be one of KINDS (a new kind is added there, and to the targets that take it)."""
    if kind not in KINDS:
        raise ValueError(f"unknown sync event kind {kind!r}; known: {sorted(KINDS)}")
    row = conn.execute(
        """
        insert into renewals.sync_events (event_key, kind, subscription_id, renewal_date, occurred_at, payload)
        values (%s, %s, %s, %s, now(), %s::jsonb)
        on conflict (event_key) do nothing
        returning event_id
        """,
        (event_key, kind, subscription_id, renewal_date, json.dumps(payload, default=str)),
    ).fetchone()
    return row is not None


def derive(ops: psycopg.Connection) -> int:
    """Queue the events of the changes made since the last sync; returns how many are new.
    One transaction; the cursor only moves forward."""
    with ops.transaction():
        (since,) = one_row(ops.execute("select derived_until from renewals.sync_cursor for update"))
        added = ops.execute(sql_text("sync/derive_events.sql"), {"since": since - DERIVE_OVERLAP}).rowcount
        ops.execute("update renewals.sync_cursor set derived_until = greatest(derived_until, now())")
    return added
