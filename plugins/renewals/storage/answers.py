"""Members' one-click answers (``renewals.member_answers``): recorded from a public link, kept
one row each; the latest answer of a renewal cycle is the one that counts as a gate
(stage/validate_subscriptions.sql and deliver/normalise_recheck.sql read it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg

from renewals.delivery.unsubscribe import Answer
from renewals.slack.messages import member_answer_message
from renewals.slack.outbox import queue_staff_message
from renewals.storage.db import one_row

MAX_REASON = 2000  # characters of a decline's reason kept


@dataclass(frozen=True)
class Recorded:
    answered_at: datetime
    replayed: bool  # the same link was used before: nothing new was recorded


def record(ops: psycopg.Connection, answer: Answer, reason: str | None, token_digest: str) -> Recorded:
    """Record ``answer`` (a replay of the same link records nothing) and queue the staff post, in
    one transaction. ``reason`` is kept for a decline only."""
    reason = ((reason or "").strip()[:MAX_REASON] or None) if answer.answer == "decline" else None
    with ops.transaction():
        row = ops.execute(
            """
            insert into renewals.member_answers
                (subscription_id, renewal_date, answer, reason, recipient, touchpoint, sent_on, token_digest)
            values (%s, %s, %s, %s, %s, %s, %s, %s)
            on conflict (token_digest) do nothing
            returning answer_id, answered_at
            """,
            (
                answer.subscription_id,
                answer.renewal_date,
                answer.answer,
                reason,
                answer.recipient,
                answer.touchpoint,
                answer.sent_on,
                token_digest,
            ),
        ).fetchone()
        if row is None:
            (answered_at,) = one_row(
                ops.execute("select answered_at from renewals.member_answers where token_digest = %s", (token_digest,))
            )
            return Recorded(answered_at, replayed=True)
        answer_id, answered_at = row
        text, blocks = member_answer_message(
            subscription_id=answer.subscription_id,
            renewal_date=answer.renewal_date,
            answer=answer.answer,
            reason=reason,
            recipient=answer.recipient,
        )
        queue_staff_message(ops, f"answer/{answer_id}", "member_answer", text, blocks)
    return Recorded(answered_at, replayed=False)
