"""The ledger's side of approvals: the steps awaiting this run's answer, and the answer recorded
(ledger status, the approvals audit table) in one transaction."""

from __future__ import annotations

import psycopg
from psycopg.rows import dict_row

from renewals.decisions.approvals import Answer, ApprovalItem
from renewals.storage.runs import RunContext


def awaiting(ops: psycopg.Connection, run: RunContext) -> list[ApprovalItem]:
    with ops.cursor(row_factory=dict_row) as cur:
        cur.execute(run.work.statement("approvals/awaiting.sql"), {"run_id": run.run_id})
        return [ApprovalItem(**row) for row in cur.fetchall()]


def record_answer(ops: psycopg.Connection, run: RunContext, answer: Answer) -> None:
    decided = [(item, True) for item in answer.approved] + [(item, False) for item in answer.held]
    with ops.transaction():
        ops.execute(
            run.work.statement("approvals/record_answer.sql"),
            {
                "run_id": run.run_id,
                "as_of": run.as_of,
                "subscription_ids": [item.subscription_id for item, _ in decided],
                "renewal_dates": [item.renewal_date for item, _ in decided],
                "touchpoints": [item.touchpoint for item, _ in decided],
                "approved": [approved for _, approved in decided],
                "decided_by": answer.decided_by,
                "decided_at": answer.decided_at,
                "held_reason": answer.held_reason,
                "note": answer.note,
            },
        )


def approved_shards(ops: psycopg.Connection, run: RunContext) -> list[tuple[str, int]]:
    """The (cohort, shard) pairs holding approved steps still to carry out."""
    return ops.execute(run.work.statement("approvals/approved_shards.sql"), {"run_id": run.run_id}).fetchall()
