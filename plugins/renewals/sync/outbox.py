"""The run's sync: queue the new events, then deliver each target's pending ones, oldest first.

Exactly once in effect: a delivery row is locked while its target is called and settled in the
same transaction (a target that writes in batches, :class:`~renewals.sync.targets.BatchTarget`,
has the rows of one call locked and settled together, each with its own outcome), and every
target writes by our keys (an upsert, a marker, a delivery id), so a crash after the call and
before the record only means the same write again next run. One sync per target at a time (an
advisory lock) keeps each target's events in order.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.rows import dict_row

from renewals.statuses import SyncDeliveryStatus
from renewals.storage.db import one_row
from renewals.sync import events
from renewals.sync.events import Event
from renewals.sync.http import ANSWER_CHARS, Rejected, Unavailable
from renewals.sync.targets import BatchTarget, Delivered, Outcome, Target

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 20  # runs that meet an unavailable target before the event is parked


@dataclass
class TargetReport:
    delivered: int = 0
    parked: int = 0
    still_pending: int = 0
    unavailable: str = ""  # why the target was left for the next run


@dataclass
class SyncReport:
    queued: int = 0
    targets: dict[str, TargetReport] = field(default_factory=dict)


def sync(
    ops: psycopg.Connection, targets: Sequence[Target], checkpoint: Callable[[str], None] = lambda point: None
) -> SyncReport:
    """Queue the events of today's changes and deliver them to ``targets`` (``ops`` autocommit).
    ``checkpoint`` is called after each target call and before its record (the crash tests)."""
    for target in targets:  # first: a target just turned on takes the events queued from now
        ops.execute("insert into renewals.sync_targets (target) values (%s) on conflict do nothing", (target.name,))
    report = SyncReport(queued=events.derive(ops))
    for target in targets:
        report.targets[target.name] = deliver_target(ops, target, checkpoint)
    return report


def deliver_target(ops: psycopg.Connection, target: Target, checkpoint: Callable[[str], None]) -> TargetReport:
    report = TargetReport()
    lock = zlib.crc32(f"renewals.sync/{target.name}".encode())
    (locked,) = one_row(ops.execute("select pg_try_advisory_lock(%s)", (lock,)))
    if not locked:
        report.unavailable = "another sync is delivering to this target"
        return report
    try:
        _plan(ops, target)
        while _deliver_next(ops, target, report, checkpoint):
            pass
        (report.still_pending,) = one_row(
            ops.execute(
                "select count(*) from renewals.sync_deliveries where target = %s and status = %s",
                (target.name, SyncDeliveryStatus.PENDING),
            )
        )
    finally:
        ops.execute("select pg_advisory_unlock(%s)", (lock,))
    return report


def _plan(ops: psycopg.Connection, target: Target) -> None:
    """A delivery row for each event of the target's kinds queued since its last plan."""
    with ops.transaction():
        ops.execute(
            """
            insert into renewals.sync_deliveries (event_id, target)
            select e.event_id, t.target
            from renewals.sync_targets t
            join renewals.sync_events e
              on e.created_at >= greatest(t.enabled_since, t.planned_until - %(overlap)s)
            where t.target = %(target)s and e.kind = any(%(kinds)s)
            order by e.event_id
            on conflict do nothing
            """,
            {"target": target.name, "kinds": sorted(target.kinds), "overlap": events.DERIVE_OVERLAP},
        )
        ops.execute("update renewals.sync_targets set planned_until = now() where target = %s", (target.name,))


def _deliver_next(
    ops: psycopg.Connection, target: Target, report: TargetReport, checkpoint: Callable[[str], None]
) -> bool:
    """Deliver the target's oldest pending events (one, or a batch); False when there is none or the
    target is down."""
    with ops.transaction(), ops.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            """
            select d.delivery_id, d.attempts, e.event_id, e.event_key, e.kind, e.subscription_id, e.renewal_date,
                   e.occurred_at, e.payload
            from renewals.sync_deliveries d join renewals.sync_events e using (event_id)
            where d.target = %s and d.status = %s
            order by d.event_id
            limit %s
            for update of d
            """,
            (target.name, SyncDeliveryStatus.PENDING, target.batch_size if isinstance(target, BatchTarget) else 1),
        ).fetchall()
        if not rows:
            return False
        batch = [
            (
                Event(
                    row["event_id"],
                    row["event_key"],
                    row["kind"],
                    row["subscription_id"],
                    row["renewal_date"],
                    row["occurred_at"],
                    row["payload"],
                ),
                str(row["delivery_id"]),
            )
            for row in rows
        ]
        try:
            outcomes: list[Outcome] = (
                target.deliver_batch(batch) if isinstance(target, BatchTarget) else [target.deliver(*batch[0])]
            )
        except Unavailable as exc:
            parked = rows[0]["attempts"] + 1 >= MAX_ATTEMPTS
            status = SyncDeliveryStatus.PARKED if parked else SyncDeliveryStatus.PENDING
            _settle(cur, batch[0][0].event_id, target.name, status, http_status=exc.status, answer=str(exc))
            report.parked += parked
            report.unavailable = str(exc)
            log.warning("%s unavailable, left for the next run: %s", target.name, exc)
            return False
        except Exception as exc:  # a bad mapping value or an answer we cannot read: the first parked, with why
            outcomes = [exc]
        if not outcomes or outcomes[0] is None:  # the first was not sent: parked, so the loop moves on
            outcomes = [RuntimeError(f"{target.name} did not send {batch[0][0].event_key}")]
        checkpoint("after_call")
        for (event, _), outcome in zip(batch, outcomes, strict=False):
            if outcome is not None:  # None, or past the outcomes: not in this call, still pending
                _record(cur, target, event, outcome, report)
        return True


def _record(
    cur: psycopg.Cursor[dict[str, Any]],
    target: Target,
    event: Event,
    outcome: Delivered | Exception,
    report: TargetReport,
) -> None:
    """Settle one event's delivery: delivered (and its record remembered), or parked with why."""
    if isinstance(outcome, Rejected):
        _settle(cur, event.event_id, target.name, SyncDeliveryStatus.PARKED, outcome.status, outcome.answer)
        report.parked += 1
        log.warning("%s refused %s (%s); parked: %s", target.name, event.event_key, event.kind, outcome)
        return
    if isinstance(outcome, Exception):
        log.error("%s could not deliver %s", target.name, event.event_key, exc_info=outcome)
        _settle(
            cur, event.event_id, target.name, SyncDeliveryStatus.PARKED, None, f"{type(outcome).__name__}: {outcome}"
        )
        report.parked += 1
        return
    _settle(
        cur,
        event.event_id,
        target.name,
        SyncDeliveryStatus.DELIVERED,
        None,
        None,
        outcome.remote_id,
        outcome.remote_url,
    )
    if outcome.record_key and outcome.remote_id:
        cur.execute(
            """
            insert into renewals.sync_records (target, record_key, remote_id, remote_url)
            values (%s, %s, %s, %s)
            on conflict (target, record_key) do update
            set remote_id = excluded.remote_id, remote_url = excluded.remote_url, updated_at = now()
            """,
            (target.name, outcome.record_key, outcome.remote_id, outcome.remote_url),
        )
    report.delivered += 1


def _settle(
    cur: psycopg.Cursor[dict[str, Any]],
    event_id: int,
    target: str,
    status: SyncDeliveryStatus,
    http_status: int | None,
    answer: str | None,
    remote_id: str | None = None,
    remote_url: str | None = None,
) -> None:
    cur.execute(
        """
        update renewals.sync_deliveries
        set status = %(status)s, attempts = attempts + 1, last_status = %(http_status)s,
            last_answer = %(answer)s, remote_id = coalesce(%(remote_id)s, remote_id),
            remote_url = coalesce(%(remote_url)s, remote_url), updated_at = now(),
            delivered_at = case when %(status)s = 'delivered' then now() end
        where event_id = %(event_id)s and target = %(target)s
        """,
        {
            "status": status,
            "http_status": http_status,
            "answer": answer[:ANSWER_CHARS] if answer else None,
            "remote_id": remote_id,
            "remote_url": remote_url,
            "event_id": event_id,
            "target": target,
        },
    )


def record_url(ops: psycopg.Connection, record_key: str) -> dict[str, str]:
    """The records a CTA (or other key) has in each target, as target -> URL (the console's links)."""
    return dict(
        ops.execute(
            "select target, remote_url from renewals.sync_records where record_key = %s and remote_url is not null",
            (record_key,),
        ).fetchall()
    )
