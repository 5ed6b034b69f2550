"""CTAs (calls to action for staff): one per (subscription, renewal date, type), opened by the
first touchpoint of its type and moved by the later ones, with a timeline event for every change.

Applying a touchpoint's change twice (a retry) changes nothing the second time: events, tasks
and health entries are keyed by the touchpoint that caused them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from renewals.labels import label
from renewals.playbooks.model import OWNER, CtaChange
from renewals.statuses import CtaPriority, CtaStatus
from renewals.storage.db import one_row
from renewals.storage.ledger import LedgerKey

DEFAULT_OWNER_TEAM = "membership_staff"
NOTIFIED_CHANGES = ("opened", "stage", "priority", "owner_team", "owner_email", "status")


@dataclass(frozen=True)
class Renewal:
    """The renewal a staff action is about, as the delivery row has it."""

    key: LedgerKey
    playbook: str
    account_name: str
    owner_email: str | None
    due_date: date


def cta_id_for(subscription_id: str, renewal_date: date, cta_type: str) -> str:
    digest = hashlib.sha256(f"{subscription_id}\x1f{renewal_date.isoformat()}\x1f{cta_type}".encode()).hexdigest()
    return f"CTA-{digest[:16]}"


def resolve_owner(owner: str, renewal: Renewal, teams: Mapping[str, str]) -> tuple[str, str]:
    """(owner team, owner address): a staff team, or the subscription's own owner."""
    if owner == OWNER:
        return OWNER, renewal.owner_email or teams[DEFAULT_OWNER_TEAM]
    return owner, teams[owner]


def apply_change(
    ops: psycopg.Connection, renewal: Renewal, change: CtaChange, teams: Mapping[str, str], run_id: str
) -> dict[str, Any]:
    """Open or move the CTA; returns it (with its open tasks and this touchpoint's changes) for
    the owner's notification. Must run inside the caller's transaction."""
    key = renewal.key
    cta_id = cta_id_for(key.subscription_id, key.renewal_date, change.type)
    with ops.cursor(row_factory=dict_row) as cur:
        before = cur.execute("select * from renewals.ctas where cta_id = %s for update", (cta_id,)).fetchone()
    owner_team, owner_email = (
        resolve_owner(change.owner, renewal, teams)
        if change.owner
        else (before["owner_team"], before["owner_email"])
        if before
        else resolve_owner(DEFAULT_OWNER_TEAM, renewal, teams)
    )
    wanted = {
        "stage": change.stage,
        "priority": change.priority or (before["priority"] if before else CtaPriority.MEDIUM),
        "owner_team": owner_team,
        "owner_email": owner_email,
        "status": change.status,
        "outcome": change.outcome if change.status == CtaStatus.CLOSED else None,
        "due_date": (
            renewal.due_date + timedelta(days=change.due_days)
            if change.due_days is not None
            else (before["due_date"] if before else None)
        ),
    }
    if before is None:
        ops.execute(
            """
            insert into renewals.ctas (cta_id, subscription_id, renewal_date, account_name, playbook, type,
                                       stage, priority, owner_team, owner_email, status, outcome, due_date,
                                       closed_at)
            values (%(cta_id)s, %(subscription_id)s, %(renewal_date)s, %(account_name)s, %(playbook)s, %(type)s,
                    %(stage)s, %(priority)s, %(owner_team)s, %(owner_email)s, %(status)s, %(outcome)s,
                    %(due_date)s, case when %(status)s = 'closed' then now() end)
            """,
            {
                **wanted,
                **key.params(),
                "cta_id": cta_id,
                "account_name": renewal.account_name,
                "playbook": renewal.playbook,
                "type": change.type,
            },
        )
        _event(ops, cta_id, key.touchpoint, run_id, "opened", None, change.stage, change.note)
    else:
        changed = {name: value for name, value in wanted.items() if before[name] != value}
        if changed:
            ops.execute(
                """
                update renewals.ctas
                set stage = %(stage)s, priority = %(priority)s, owner_team = %(owner_team)s,
                    owner_email = %(owner_email)s, status = %(status)s, outcome = %(outcome)s,
                    due_date = %(due_date)s, updated_at = now(),
                    closed_at = case when %(status)s = 'closed' then coalesce(closed_at, now()) end
                where cta_id = %(cta_id)s
                """,
                {**wanted, "cta_id": cta_id},
            )
            for name, value in changed.items():
                _event(ops, cta_id, key.touchpoint, run_id, name, before[name], value)
            if change.note:
                _event(ops, cta_id, key.touchpoint, run_id, "note", None, None, change.note)
    for task in change.tasks:
        _, assignee = resolve_owner(task.assignee, renewal, teams)
        added = ops.execute(
            """
            insert into renewals.cta_tasks (cta_id, touchpoint, title, assignee_email, due_date)
            values (%s, %s, %s, %s, %s)
            on conflict (cta_id, touchpoint, title) do nothing
            returning task_id
            """,
            (cta_id, key.touchpoint, task.title, assignee, renewal.due_date + timedelta(days=task.due_days)),
        ).fetchone()
        if added:
            _event(ops, cta_id, key.touchpoint, run_id, "task", None, task.title, assignee)
    if change.health_score is not None:
        record_health(ops, key, change.health_score, change.health_label or "", change.note or change.stage, run_id)
    return cta_context(ops, cta_id, key.touchpoint, previous_owner=before["owner_email"] if before else None)


def close_open(
    ops: psycopg.Connection, key: LedgerKey, outcomes: Mapping[str, str], keep: Sequence[str], run_id: str
) -> list[dict[str, Any]]:
    """Close every open CTA of the renewal but the ``keep`` types, with its type's outcome
    ("*" for any other type)."""
    rows = ops.execute(
        """
        select cta_id, type, stage from renewals.ctas
        where subscription_id = %(subscription_id)s and renewal_date = %(renewal_date)s and status = 'open'
          and not type = any(%(keep)s)
        for update
        """,
        {**key.params(), "keep": list(keep)},
    ).fetchall()
    closed = []
    for cta_id, cta_type, _stage in rows:
        outcome = outcomes.get(cta_type, outcomes["*"])
        ops.execute(
            """
            update renewals.ctas set status = 'closed', outcome = %s, closed_at = now(), updated_at = now()
            where cta_id = %s
            """,
            (outcome, cta_id),
        )
        ops.execute(
            """
            update renewals.cta_tasks set status = 'cancelled', closed_at = now()
            where cta_id = %s and status = 'open'
            """,
            (cta_id,),
        )
        _event(ops, cta_id, key.touchpoint, run_id, "status", CtaStatus.OPEN, CtaStatus.CLOSED, outcome)
        closed.append(cta_context(ops, cta_id, key.touchpoint, previous_owner=None))
    return closed


def record_health(ops: psycopg.Connection, key: LedgerKey, score: int, label: str, reason: str, run_id: str) -> None:
    ops.execute(
        """
        insert into renewals.health_scores (subscription_id, renewal_date, score, label, reason, touchpoint, run_id)
        values (%(subscription_id)s, %(renewal_date)s, %(score)s, %(label)s, %(reason)s, %(touchpoint)s, %(run_id)s)
        on conflict (subscription_id, renewal_date, touchpoint) do nothing
        """,
        {**key.params(), "score": score, "label": label, "reason": reason, "run_id": run_id},
    )


def change_text(events: Iterable[tuple[str, str | None, str | None]]) -> str:
    """What a touchpoint changed on a CTA (its timeline events: kind, from, to) in words, for the
    owner's email and the Slack post: "opened at stage At risk; new task: Call the member"."""
    parts = []
    for kind, before, after in events:
        if kind == "opened":
            parts.append("opened" if after in (None, "opened") else f"opened at stage {label(after)}")
        elif kind == "task":
            parts.append(f"new task: {after}")
        elif kind == "note":
            parts.append(f"note: {after}")
        elif kind == "stage":
            parts.append(f"stage {label(before) if before else '—'} → {label(after)}")
        else:
            parts.append(f"{kind.replace('_', ' ')} {before or '—'} → {after}")
    return "; ".join(parts) or "no change"


def cta_context(ops: psycopg.Connection, cta_id: str, touchpoint: str, previous_owner: str | None) -> dict[str, Any]:
    """The CTA as templates see it; ``change`` lists what ``touchpoint`` changed, from the timeline."""
    with ops.cursor(row_factory=dict_row) as cur:
        cta = one_row(cur.execute("select * from renewals.ctas where cta_id = %s", (cta_id,)))
        events = cur.execute(
            "select kind, from_value, to_value from renewals.cta_events where cta_id = %s and touchpoint = %s"
            " order by event_id",
            (cta_id, touchpoint),
        ).fetchall()
        tasks = cur.execute(
            "select title, assignee_email, due_date from renewals.cta_tasks where cta_id = %s and status = 'open'"
            " order by due_date nulls last, task_id",
            (cta_id,),
        ).fetchall()
    change = change_text((event["kind"], event["from_value"], event["to_value"]) for event in events)
    return {
        **cta,
        # the owner hears of a CTA when it opens or moves; a task added on its own cadence is quiet
        "notify": any(event["kind"] in NOTIFIED_CHANGES for event in events),
        "type_label": label(cta["type"]),
        "stage_label": label(cta["stage"]),
        "previous_owner_email": previous_owner if previous_owner != cta["owner_email"] else None,
        "tasks": tasks,
        "change": change,
    }


def _event(
    ops: psycopg.Connection,
    cta_id: str,
    touchpoint: str,
    run_id: str,
    kind: str,
    from_value: object,
    to_value: object,
    detail: str | None = None,
) -> None:
    ops.execute(
        """
        insert into renewals.cta_events (cta_id, touchpoint, run_id, kind, from_value, to_value, detail)
        values (%s, %s, %s, %s, %s, %s, %s)
        """,
        (cta_id, touchpoint, run_id, kind, _text(from_value), _text(to_value), detail),
    )


def _text(value: object) -> str | None:
    return None if value is None else str(value)
