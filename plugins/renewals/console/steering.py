"""Staff steer one renewal: skip, move, edit or restore one touchpoint of the member's current
cycle, hold the member until a date or until lifted, and note. Each change is written with its
audit row (renewals.staff_actions: who, when, what, before and after, why) in one transaction.

Exactly once with the ledger: a change takes the touchpoint's ledger row lock first, so it lands
either before a run's claim of the send (and the run's re-check under that lock honours it) or
after the hand-over, when it is refused (:class:`AlreadySent`) and changes nothing.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from renewals.statuses import StaffAction, TouchpointStatus
from renewals.storage.db import one_row

# Ledger states past which a touchpoint can no longer be steered: handed over, or settled.
SETTLED = (TouchpointStatus.UNKNOWN, TouchpointStatus.SENT, TouchpointStatus.FAILED, TouchpointStatus.SKIPPED)
OVERRIDE_COLUMNS = ("skip_reason", "move_to", "edit_subject", "edit_text")
OVERRIDE_LIST = "skip_reason, move_to, edit_subject, edit_text"  # OVERRIDE_COLUMNS as a select list


class AlreadySent(Exception):
    """The touchpoint was already sent, handed over or settled: the action changes nothing."""


class NoHold(LookupError):
    """Lifting a hold the member does not have."""


def _audit(
    ops: psycopg.Connection,
    subscription_id: str,
    action: StaffAction,
    actor: str,
    reason: str | None,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    renewal_date: date | None = None,
    touchpoint: str | None = None,
) -> dict[str, Any]:
    with ops.cursor(row_factory=dict_row) as cur:
        cur.execute(
            """
            insert into renewals.staff_actions
                (subscription_id, renewal_date, touchpoint, action, before, after, reason, actor)
            values (%s, %s, %s, %s, %s, %s, %s, %s)
            returning action_id, subscription_id, renewal_date, touchpoint, action, before, after, reason, actor, at
            """,
            (subscription_id, renewal_date, touchpoint, action, _json(before), _json(after), reason, actor),
        )
        return one_row(cur)


def _json(value: dict[str, Any] | None) -> Jsonb | None:
    return None if value is None else Jsonb({k: v.isoformat() if isinstance(v, date) else v for k, v in value.items()})


def steer_touchpoint(
    ops: psycopg.Connection,
    subscription_id: str,
    renewal_date: date,
    touchpoint: str,
    action: StaffAction,
    actor: str,
    reason: str | None = None,
    move_to: date | None = None,
    subject: str | None = None,
    text: str | None = None,
) -> dict[str, Any]:
    """Skip, move, edit or restore one touchpoint; returns the audit row. Raises AlreadySent when
    the ledger has handed it over or settled it."""
    key = (subscription_id, renewal_date, touchpoint)
    with ops.transaction(), ops.cursor(row_factory=dict_row) as cur:
        ledger = cur.execute(
            """select status from renewals.touchpoints
               where subscription_id = %s and renewal_date = %s and touchpoint = %s for update""",
            key,
        ).fetchone()
        if ledger is not None and ledger["status"] in SETTLED:
            raise AlreadySent(f"{touchpoint} of {subscription_id} is {ledger['status']} already: nothing was changed")
        found = cur.execute(
            f"""select {OVERRIDE_LIST} from renewals.touchpoint_overrides
                where subscription_id = %s and renewal_date = %s and touchpoint = %s for update""",
            key,
        ).fetchone()
        before = {k: v for k, v in found.items() if v is not None} if found else None
        after = dict(before or {})
        if action == StaffAction.SKIP:
            after["skip_reason"] = reason
        elif action == StaffAction.MOVE:
            after["move_to"] = move_to
        elif action == StaffAction.EDIT:
            after.update({k: v for k, v in (("edit_subject", subject), ("edit_text", text)) if v is not None})
        else:  # restore: as the playbook says again
            after = {}
        if after:
            cur.execute(
                """
                insert into renewals.touchpoint_overrides as o
                    (subscription_id, renewal_date, touchpoint, skip_reason, move_to, edit_subject, edit_text,
                     updated_by)
                values (%s, %s, %s, %s, %s, %s, %s, %s)
                on conflict (subscription_id, renewal_date, touchpoint) do update
                set skip_reason = excluded.skip_reason, move_to = excluded.move_to,
                    edit_subject = excluded.edit_subject, edit_text = excluded.edit_text,
                    updated_by = excluded.updated_by, updated_at = now()
                """,
                (*key, *(after.get(c) for c in OVERRIDE_COLUMNS), actor),
            )
        else:
            cur.execute(
                """delete from renewals.touchpoint_overrides
                   where subscription_id = %s and renewal_date = %s and touchpoint = %s""",
                key,
            )
        return _audit(ops, subscription_id, action, actor, reason, before, after or None, renewal_date, touchpoint)


def _hold_of(cur: psycopg.Cursor[dict[str, Any]], subscription_id: str) -> dict[str, Any] | None:
    return cur.execute(
        "select held_until, reason from renewals.member_holds where subscription_id = %s for update",
        (subscription_id,),
    ).fetchone()


def hold(ops: psycopg.Connection, subscription_id: str, until: date | None, reason: str, actor: str) -> dict[str, Any]:
    """Hold the member until ``until`` (None: until lifted); a second hold replaces the first."""
    with ops.transaction(), ops.cursor(row_factory=dict_row) as cur:
        before = _hold_of(cur, subscription_id)
        cur.execute(
            """
            insert into renewals.member_holds (subscription_id, held_until, reason, held_by)
            values (%s, %s, %s, %s)
            on conflict (subscription_id) do update
            set held_until = excluded.held_until, reason = excluded.reason, held_by = excluded.held_by, held_at = now()
            """,
            (subscription_id, until, reason, actor),
        )
        return _audit(
            ops, subscription_id, StaffAction.HOLD, actor, reason, before, {"held_until": until, "reason": reason}
        )


def lift(ops: psycopg.Connection, subscription_id: str, actor: str) -> dict[str, Any]:
    """End the member's hold now; what fell due meanwhile follows the catch-up rule."""
    with ops.transaction(), ops.cursor(row_factory=dict_row) as cur:
        before = _hold_of(cur, subscription_id)
        if before is None:
            raise NoHold(f"{subscription_id} is not on hold")
        cur.execute("delete from renewals.member_holds where subscription_id = %s", (subscription_id,))
        return _audit(ops, subscription_id, StaffAction.LIFT, actor, None, before, None)


def note(ops: psycopg.Connection, subscription_id: str, text: str, actor: str) -> dict[str, Any]:
    """A note on the member's timeline."""
    with ops.transaction():
        return _audit(ops, subscription_id, StaffAction.NOTE, actor, text, None, None)


def current_hold(ops: psycopg.Connection, subscription_id: str) -> dict[str, Any] | None:
    with ops.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "select held_until, reason, held_by, held_at from renewals.member_holds where subscription_id = %s",
            (subscription_id,),
        ).fetchone()
