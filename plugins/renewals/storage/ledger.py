"""The touchpoint ledger: one row per (subscription, renewal date, touchpoint), moved through
pending -> unknown (handed to the channel) -> sent | failed, or back to pending on a refusal
that is known to be temporary. The claim before the hand-off is what makes a send happen at
most once: only one worker can move a row out of 'pending', and only the moment between the
claim's commit and the record of the outcome cannot be decided after a crash ('unknown').
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from renewals.statuses import HandoffOutcome, SkipReason, TouchpointStatus
from renewals.storage.runs import RunContext


@dataclass(frozen=True)
class LedgerKey:
    subscription_id: str
    renewal_date: date
    touchpoint: str

    def params(self) -> dict[str, Any]:
        return {
            "subscription_id": self.subscription_id,
            "renewal_date": self.renewal_date,
            "touchpoint": self.touchpoint,
        }


KEY_MATCH = "subscription_id = %(subscription_id)s and renewal_date = %(renewal_date)s and touchpoint = %(touchpoint)s"
# Runs may come in any order: a run claims or settles a pending row only if it may decide it (its
# as-of date has reached the row's due date and no later-dated run has decided the row since).
RUN_MAY_DECIDE = "renewals.run_may_decide(%(as_of)s, due_date, decided_as_of)"


def status_is(status: str) -> str:
    """A row's status test for statements that find the row by its key. Written so that only the
    primary key can serve it: a plain ``status = 'pending'`` also matches the partial index of open
    rows, which the planner picks whenever the ledger's statistics predate the day's claims, and
    every claim then scans all the pending rows of the day (milliseconds each, at scale)."""
    assert status in (TouchpointStatus.PENDING, TouchpointStatus.UNKNOWN, TouchpointStatus.DRY_RUN)
    return f"coalesce(status, '') = '{status}'"


def open_rows(
    ops: psycopg.Connection, run: RunContext, cohort: str, shard: int, batch_size: int
) -> Iterator[list[dict[str, Any]]]:
    """The rows to deliver, in batches, from a server-side cursor (memory stays bounded)."""
    params = {"cohort": cohort, "shard": shard, "dry_run": run.dry_run, "run_id": run.run_id, "as_of": run.as_of}
    with ops.transaction(), ops.cursor(name=f"open_{run.run_key}_{cohort}_{shard}", row_factory=dict_row) as cur:
        cur.itersize = batch_size
        cur.execute(run.work.statement("deliver/open_touchpoints.sql"), params)
        while batch := cur.fetchmany(batch_size):
            yield batch


@dataclass(frozen=True)
class Handoff:
    """What a claim commits: the message about to be handed over (``message_id`` set), or a
    change recorded in the ops schema only, which settles the row at once."""

    message_id: str | None = None
    subject: str | None = None
    recipients: list[str] | None = None  # None keeps the recipients decided at classification
    suppressed: dict[str, str] | None = None  # recipients left out: {address: suppression reason}
    # the message's copies (one per customer recipient where each carries its own links):
    # (Message-ID, envelope recipients); a reply or a bounce names one of them
    copies: list[tuple[str, list[str]]] | None = None

    @property
    def external(self) -> bool:
        return self.message_id is not None


class Claim:
    """A pending row held under its row lock, inside the claim's open transaction, with what staff
    made of it as read under that lock (``steering``: the touchpoint's skip, move and edit and the
    member's hold; None values where there are none): an action that came first wins."""

    def __init__(self, ops: psycopg.Connection, key: LedgerKey, run_id: str, steering: dict[str, Any]) -> None:
        self.ops, self.key, self.run_id, self.steering = ops, key, run_id, steering

    def set_aside(self, status: TouchpointStatus, reason: SkipReason) -> None:
        """Settle the claim unsent because staff said so: 'skipped', or 'held' (decided again by
        the runs after the hold or on the day it was moved to)."""
        assert status in (TouchpointStatus.SKIPPED, TouchpointStatus.HELD)
        self.ops.execute(
            f"""
            update renewals.touchpoints
            set status = %(status)s, reason = %(reason)s, last_run_id = %(run_id)s, updated_at = now()
            where {KEY_MATCH}
            """,
            {**self.key.params(), "status": status, "reason": reason, "run_id": self.run_id},
        )

    def hand_over(self, handoff: Handoff) -> None:
        """Write what the holder is about to hand over: the row becomes 'unknown' (a message) or
        'sent' (a change recorded in the ops schema only) when the claim's transaction commits."""
        self.ops.execute(
            f"""
            update renewals.touchpoints
            set status = %(status)s, attempts = attempts + 1, message_id = %(message_id)s,
                subject = %(subject)s, recipients = coalesce(%(recipients)s, recipients),
                suppressed = %(suppressed)s,
                sent_at = case when %(status)s = 'sent' then now() end,
                last_run_id = %(run_id)s, updated_at = now()
            where {KEY_MATCH}
            """,
            {
                **self.key.params(),
                "status": TouchpointStatus.UNKNOWN if handoff.external else TouchpointStatus.SENT,
                "message_id": handoff.message_id,
                "subject": handoff.subject,
                "recipients": handoff.recipients,
                "suppressed": Jsonb(handoff.suppressed) if handoff.suppressed else None,
                "run_id": self.run_id,
            },
        )
        if handoff.copies:
            self.ops.execute(
                """
                insert into renewals.message_copies (message_id, subscription_id, renewal_date, touchpoint, recipients)
                select c.message_id, %(subscription_id)s, %(renewal_date)s, %(touchpoint)s, c.recipients
                from jsonb_to_recordset(%(copies)s) as c(message_id text, recipients text[])
                on conflict (message_id) do nothing
                """,
                {**self.key.params(), "copies": Jsonb([{"message_id": m, "recipients": r} for m, r in handoff.copies])},
            )
        if not handoff.external:
            _attempt(self.ops, self.key, self.run_id, HandoffOutcome.SENT, "recorded")


@contextmanager
def claim(ops: psycopg.Connection, key: LedgerKey, run: RunContext) -> Iterator[Claim | None]:
    """Take a pending row for hand-off: a :class:`Claim`, or None when another worker holds or took
    it, it is settled, or a later-dated run has decided it since this run read it.

    The claim is a row lock (SKIP LOCKED: concurrent workers pass over it) in a transaction that
    the ``with`` block runs in, so what the block writes (a CTA change, the hand-over) commits
    together. The row becomes 'unknown' only when the block ends, right before the hand-off, so a
    worker dying while it holds the claim (or a block that raises) leaves the row 'pending' and a
    rerun sends it.
    """
    with ops.transaction(), ops.cursor(row_factory=dict_row) as cur:
        held = cur.execute(
            f"""
            select o.skip_reason, o.move_to, o.edit_subject, o.edit_text, h.held_until,
                   h.subscription_id is not null as has_hold
            from renewals.touchpoints t
            left join renewals.touchpoint_overrides o using (subscription_id, renewal_date, touchpoint)
            left join renewals.member_holds h using (subscription_id)
            where {KEY_MATCH} and {status_is("pending")} and {RUN_MAY_DECIDE}
            for update of t skip locked
            """,
            {**key.params(), "as_of": run.as_of},
        ).fetchone()
        yield None if held is None else Claim(ops, key, run.run_id, held)


def settle(
    ops: psycopg.Connection,
    key: LedgerKey,
    run_id: str,
    outcome: HandoffOutcome,
    detail: str | None,
    accepted: list[str] | None = None,
) -> None:
    """Record the outcome of a hand-off (sent, failed, unknown, or pending again after a retry)
    and its audit row, and which of its copies the relay accepted (``accepted``: their
    Message-IDs, never offered again).

    One statement, sent in one round trip, and committed without waiting for the WAL flush: the
    claim before the hand-off is the durable step. Only a crash of the database server itself
    can lose a just-recorded outcome, and then the row stays 'unknown' (the state an operator
    settles), never 'pending': nothing is sent twice. The next claim's commit, which does wait,
    flushes the outcomes recorded before it."""
    with ops.pipeline(), ops.transaction():
        ops.execute("set local synchronous_commit = off")
        ops.execute(
            f"""
            with settled as (
                update renewals.touchpoints
                set status = %(status)s,
                    reason = %(reason)s,
                    sent_at = case when %(status)s = 'sent' then now() end,
                    last_run_id = %(run_id)s,
                    updated_at = now()
                where {KEY_MATCH} and {status_is("unknown")}
            ),
            accepted as (
                update renewals.message_copies set accepted_at = now()
                where message_id = any(%(accepted)s::text[]) and accepted_at is null
            )
            insert into renewals.delivery_attempts
                (subscription_id, renewal_date, touchpoint, run_id, outcome, detail)
            values (%(subscription_id)s, %(renewal_date)s, %(touchpoint)s, %(run_id)s, %(outcome)s, %(detail)s)
            """,
            {
                **key.params(),
                "status": TouchpointStatus.PENDING if outcome == HandoffOutcome.RETRY else TouchpointStatus(outcome),
                "reason": detail if outcome != HandoffOutcome.SENT else None,
                "run_id": run_id,
                "outcome": outcome,
                "detail": detail,
                "accepted": accepted or [],
            },
        )


def accepted_copies(ops: psycopg.Connection, key: LedgerKey) -> set[str]:
    """The Message-IDs of the copies of a touchpoint's message the relay has accepted."""
    rows = ops.execute(
        f"select message_id from renewals.message_copies where {KEY_MATCH} and accepted_at is not null", key.params()
    ).fetchall()
    return {message_id for (message_id,) in rows}


def _attempt(
    ops: psycopg.Connection,
    key: LedgerKey,
    run_id: str,
    outcome: str,
    detail: str | None,
    decided_by: str | None = None,
) -> None:
    ops.execute(
        """
        insert into renewals.delivery_attempts
            (subscription_id, renewal_date, touchpoint, run_id, outcome, detail, decided_by)
        values (%(subscription_id)s, %(renewal_date)s, %(touchpoint)s, %(run_id)s, %(outcome)s, %(detail)s,
                %(decided_by)s)
        """,
        {**key.params(), "run_id": run_id, "outcome": outcome, "detail": detail, "decided_by": decided_by},
    )


def skip(
    ops: psycopg.Connection,
    key: LedgerKey,
    run: RunContext,
    reason: SkipReason,
    suppressed: dict[str, str] | None = None,
) -> None:
    """Settle a pending row without sending it (the gate changed since classification, every
    recipient is suppressed (``suppressed``: who, and why), ...), unless a later-dated run has
    decided it since this run read it."""
    ops.execute(
        f"""
        update renewals.touchpoints
        set status = 'skipped', reason = %(reason)s, suppressed = %(suppressed)s, decided_as_of = %(as_of)s,
            last_run_id = %(run_id)s, updated_at = now()
        where {KEY_MATCH} and {status_is("pending")} and {RUN_MAY_DECIDE}
        """,
        {
            **key.params(),
            "reason": reason,
            "suppressed": Jsonb(suppressed) if suppressed else None,
            "run_id": run.run_id,
            "as_of": run.as_of,
        },
    )


def record_preview(ops: psycopg.Connection, key: LedgerKey, run_id: str, message_id: str, subject: str) -> None:
    """A dry run keeps what it would have sent on its 'dry_run' row."""
    ops.execute(
        f"""
        update renewals.touchpoints
        set message_id = %(message_id)s, subject = %(subject)s, updated_at = now()
        where {KEY_MATCH} and {status_is("dry_run")} and last_run_id = %(run_id)s
        """,
        {**key.params(), "message_id": message_id, "subject": subject, "run_id": run_id},
    )


def resolve_unknown(
    ops: psycopg.Connection, run_id: str, touchpoint_refs: list[str], delivered: bool, decided_by: str | None = None
) -> list[str]:
    """An operator's verdict on sends left 'unknown', given as ``SUBSCRIPTION_ID/TOUCHPOINT``.

    After checking the relay's log: not delivered -> back to 'pending', so the run sends it if it
    is still due; delivered -> 'sent'. Returns the references that matched no 'unknown' row.
    A verdict is a fact about the relay, not a decision of a day: the row keeps its due date and
    the as-of date of its decision, so only a run that may decide it takes the released row (not
    an older-dated one, see RUN_MAY_DECIDE).
    ``decided_by`` names the operator when the verdict comes from the console (the audit row
    keeps it); the DAG's release/confirm params leave it empty (the run's trigger is the record).
    """
    unmatched = []
    for ref in touchpoint_refs:
        subscription_id, slash, touchpoint = ref.strip().rpartition("/")
        if not slash or not subscription_id or not touchpoint:
            raise ValueError(f"{ref!r}: expected SUBSCRIPTION_ID/TOUCHPOINT")
        if not settle_unknown_send(ops, run_id, subscription_id, touchpoint, delivered, decided_by):
            unmatched.append(ref)
    return unmatched


def settle_unknown_send(
    ops: psycopg.Connection,
    run_id: str,
    subscription_id: str,
    touchpoint: str,
    delivered: bool,
    decided_by: str | None = None,
    renewal_date: date | None = None,
) -> bool:
    """One verdict of :func:`resolve_unknown`: of the renewal cycle ``renewal_date`` only when
    given (the console names the send its page showed), else of every cycle's unknown send of
    that touchpoint. False: no such send is unknown."""
    with ops.transaction():
        rows = ops.execute(
            """
            update renewals.touchpoints
            set status = %(status)s, reason = null, last_run_id = %(run_id)s, updated_at = now(),
                sent_at = case when %(status)s = 'sent' then updated_at end
            where subscription_id = %(subscription_id)s and touchpoint = %(touchpoint)s and status = 'unknown'
              and (%(renewal_date)s::date is null or renewal_date = %(renewal_date)s::date)
            returning renewal_date
            """,
            {
                "status": TouchpointStatus.SENT if delivered else TouchpointStatus.PENDING,
                "run_id": run_id,
                "subscription_id": subscription_id,
                "touchpoint": touchpoint,
                "renewal_date": renewal_date,
            },
        ).fetchall()
        for (settled_date,) in rows:
            key = LedgerKey(subscription_id, settled_date, touchpoint)
            _attempt(
                ops,
                key,
                run_id,
                "confirmed" if delivered else "released",
                "operator verdict on an unknown send",
                decided_by,
            )
            if not delivered:  # the operator's word: every copy of it goes again
                ops.execute(f"update renewals.message_copies set accepted_at = null where {KEY_MATCH}", key.params())
    return bool(rows)
