"""Staff posts queued during the delivery and posted by the run's publish step.

The delivery queues a post (payments received, deactivations, CTA changes) in
``renewals.slack_outbox`` in its own database transaction, and ``publish`` posts the queue, so
Slack never holds up or fails an email, and each event is posted once (its ``dedupe_key``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from renewals.config import SLACK_CONN_ID
from renewals.slack.transport import FAILED, SlackPolicy, post_message

OUTBOX_MAX_ATTEMPTS = 5  # publish runs that try a queued staff post before it is marked failed


def queue_staff_message(
    conn: psycopg.Connection,
    dedupe_key: str,
    kind: str,
    text: str,
    blocks: Sequence[dict[str, Any]] | None = None,
    run_id: str | None = None,
) -> bool:
    """Queue a staff post in ``renewals.slack_outbox`` (in the caller's transaction); the run's
    publish step posts it. One post per ``dedupe_key``: False when it was queued before."""
    row = conn.execute(
        """
        insert into renewals.slack_outbox (dedupe_key, kind, text, blocks, run_id)
        values (%s, %s, %s, %s::jsonb, %s)
        on conflict (dedupe_key) do nothing
        returning post_id
        """,
        (dedupe_key, kind, text, json.dumps(list(blocks)) if blocks else None, run_id),
    ).fetchone()
    return row is not None


@dataclass
class OutboxReport:
    sent: int = 0
    failed: int = 0
    not_configured: int = 0
    still_pending: int = 0


def flush_outbox(
    ops: psycopg.Connection,
    conn_id: str = SLACK_CONN_ID,
    policy: SlackPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> OutboxReport:
    """Post the queued staff messages, oldest first; ``ops`` is an autocommit connection.

    A post Slack did not take stays pending for the next run (up to OUTBOX_MAX_ATTEMPTS runs);
    without the connection each goes to the log and is marked ``not_configured``. Rows are
    locked while posted, so two runs publishing together never post one twice.
    """
    policy = policy or SlackPolicy()
    report = OutboxReport()
    while True:
        with ops.transaction():
            row = ops.execute(
                """
                select post_id, text, blocks, attempts from renewals.slack_outbox
                where status = 'pending' order by post_id limit 1 for update skip locked
                """
            ).fetchone()
            if row is None:
                return report
            post_id, text, blocks, attempts = row
            result = post_message(conn_id, text, blocks, policy=policy, sleep=sleep)
            attempts += 1
            if result.status == FAILED and attempts < OUTBOX_MAX_ATTEMPTS:
                status = "pending"
                report.still_pending += 1
            else:
                status = result.status
                setattr(report, status, getattr(report, status) + 1)
            ops.execute(
                """
                update renewals.slack_outbox
                set status = %s, attempts = %s, detail = %s,
                    posted_at = case when %s = 'sent' then now() end
                where post_id = %s
                """,
                (status, attempts, result.detail or None, status, post_id),
            )
            if status == "pending":  # Slack is down: leave the rest of the queue for the next run
                report.still_pending += ops.execute(
                    "select count(*) - 1 from renewals.slack_outbox where status = 'pending'"
                ).fetchone()[0]
                return report
