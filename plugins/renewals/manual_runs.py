"""Checks on a run's params, made before the run does any work.

A wrong manual input must stop the run at once with a message naming the param and the value,
not run green on nothing or fail deep inside a later task. ``ManualRunRefused`` is a
configuration error, an ``AirflowFailException``: the task fails without a retry, since a retry
with the same params can only be refused again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import psycopg
from airflow.sdk.exceptions import AirflowFailException

from renewals.playbooks import Playbook
from renewals.storage.db import connect
from renewals.storage.migrations import migrate
from renewals.storage.runs import RunContext, record_refusal, register_run
from renewals.storage.warehouse import Warehouse, has_subscription

if TYPE_CHECKING:
    from renewals.pipeline import Resources

VERDICT_PARAMS = ("release_unknown", "confirm_unknown")
log = logging.getLogger(__name__)


class ManualRunRefused(AirflowFailException):
    """A param (or combination of params) the run cannot honour; the message says which and why."""


@dataclass(frozen=True)
class TouchpointRef:
    subscription_id: str
    touchpoint: str


def parse_ref(param: str, ref: str) -> TouchpointRef:
    """``SUBSCRIPTION_ID/TOUCHPOINT``, split on the last slash (an id may contain one), both
    parts trimmed of spaces as the extract trims ids."""
    subscription_id, slash, touchpoint = ref.strip().rpartition("/")
    if not slash or not subscription_id.strip() or not touchpoint.strip():
        raise ManualRunRefused(f"{param}: {ref!r} is not of the form SUBSCRIPTION_ID/TOUCHPOINT")
    return TouchpointRef(subscription_id.strip(), touchpoint.strip())


def check_params(params: Mapping[str, Any], run_date: date, playbooks: Mapping[str, Playbook]) -> None:
    """Refuse contradictory or malformed params; these need no database."""
    dry_run = bool(params.get("dry_run"))
    touchpoints = {tp.key for playbook in playbooks.values() for tp in playbook.touchpoints}
    for param in VERDICT_PARAMS:
        refs = params.get(param) or []
        if refs and dry_run:
            # A verdict changes the ledger for good; a dry run promises to change nothing that sends.
            raise ManualRunRefused(f"{param}={refs!r} settles sends in the ledger: not allowed with dry_run=true")
        for ref in refs:
            parsed = parse_ref(param, ref)
            if parsed.touchpoint not in touchpoints:
                raise ManualRunRefused(
                    f"{param}: {ref!r} names touchpoint {parsed.touchpoint!r}, which no playbook defines"
                )
    both = set(_refs("release_unknown", params)) & set(_refs("confirm_unknown", params))
    if both:
        ref = sorted(both, key=lambda r: (r.subscription_id, r.touchpoint))[0]
        raise ManualRunRefused(
            f"{ref.subscription_id}/{ref.touchpoint} is in both release_unknown and confirm_unknown: "
            "the relay either delivered it or did not"
        )
    as_of = params.get("as_of")
    if as_of:
        try:
            as_of_date = date.fromisoformat(as_of)
        except ValueError:
            raise ManualRunRefused(f"as_of={as_of!r} is not a date (YYYY-MM-DD)") from None
        # Sending as of a later day would send tomorrow's messages today; a preview may look ahead.
        if as_of_date > run_date and not dry_run and not params.get("allow_future_as_of"):
            raise ManualRunRefused(
                f"as_of={as_of} is after the run's date {run_date}: that would send messages before "
                "they are due; use dry_run=true to preview, or allow_future_as_of=true to send anyway"
            )
    subscription_id = params.get("subscription_id")
    if subscription_id is not None and not subscription_id.strip():
        raise ManualRunRefused(f"subscription_id={subscription_id!r} is blank: leave it empty to run for everyone")


def _refs(param: str, params: Mapping[str, Any]) -> Iterable[TouchpointRef]:
    return (parse_ref(param, ref) for ref in params.get(param) or [])


def check_subscription_exists(warehouse: Warehouse, subscription_id: str) -> None:
    """The id must name a warehouse row as the extract matches it (its own query, trimmed of spaces)."""
    if not has_subscription(warehouse, subscription_id):
        raise ManualRunRefused(f"subscription_id={subscription_id!r}: no such subscription in the warehouse")


def check_subscription_staged(ops: psycopg.Connection, run_id: str, subscription_id: str, processed: int) -> None:
    """After the extract of a one-member run: the member was quarantined, so the run would do
    nothing; say why instead of running green on nothing. (Only the extract's validation knows
    why a row is quarantined, hence this check sits after it, still before any classification
    or sending.)"""
    if processed:  # a duplicate copy may be quarantined while the other one goes on
        return
    rows = ops.execute(
        """
        select reasons from renewals.quarantine
        where run_id = %s and source_table = 'subscriptions' and subscription_id = %s
        """,
        (run_id, subscription_id),
    ).fetchall()
    if rows:
        reasons = sorted({reason for (row_reasons,) in rows for reason in row_reasons})
        raise ManualRunRefused(
            f"subscription_id={subscription_id!r} is quarantined by validation: {', '.join(reasons)}"
        )


def refuse_bad_params(resources: Resources, params: Mapping[str, Any], run_date: date) -> None:
    """Every check that can be made before the run starts: the params, then the member."""
    check_params(params, run_date, resources.playbooks())
    subscription_id = params.get("subscription_id")
    if subscription_id:
        check_subscription_exists(resources.warehouse, subscription_id)


def refuse_quarantined_member(resources: Resources, run: RunContext, processed: int) -> None:
    if run.subscription_id:
        with closing(connect(resources.ops_dsn)) as ops:
            check_subscription_staged(ops, run.run_id, run.subscription_id, processed)


@contextmanager
def refusal_recorded(resources: Resources, run: RunContext) -> Iterator[None]:
    """A refusal raised inside is also kept on the run's row (``renewals.runs.refusal``), so that
    the run's note and its Renewals tab say why in one sentence, not only the task log."""
    try:
        yield
    except ManualRunRefused as refused:
        try:
            with closing(connect(resources.ops_dsn)) as ops:
                migrate(ops)
                register_run(ops, run)
                record_refusal(ops, run.run_id, str(refused))
        except Exception:  # the refusal itself must still fail the task, with its own message
            log.exception("Could not record the refusal of run %s", run.run_id)
        raise
