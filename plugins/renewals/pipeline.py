"""The steps of a daily run as plain functions, one per DAG task.

The DAG (dags/renewals_daily.py) only wires these together; tests can call them directly with
real connections. ``Resources`` says where the warehouse, the ops schema and SMTP are.
"""

from __future__ import annotations

import imaplib
import smtplib
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, closing
from dataclasses import dataclass
from datetime import date

from renewals.config import Settings
from renewals.decisions.approvals import Answer, ApprovalItem, answer_from_response, check_approval_playbooks
from renewals.decisions.classify import classify
from renewals.decisions.gates import COHORTS
from renewals.delivery.render import Renderer
from renewals.delivery.shard_delivery import ShardDelivery, ShardReport
from renewals.delivery.smtp import Mailer
from renewals.inbox import InboxReport, read_inbox
from renewals.playbooks import Playbook, load_playbooks
from renewals.reports.summary import format_summary, run_summary
from renewals.storage import approvals, suppressions
from renewals.storage.db import connect
from renewals.storage.ledger import resolve_unknown
from renewals.storage.migrations import migrate
from renewals.storage.runs import RunContext, register_run
from renewals.storage.staging import StageCounts, stage_and_validate
from renewals.storage.warehouse import Warehouse, current_facts
from renewals.sync.mapping import load_mapping
from renewals.sync.outbox import SyncReport, sync
from renewals.sync.targets import Target


class DeliveryIncomplete(RuntimeError):
    """Some messages met only temporary refusals; they stay pending for the task's retry."""


@dataclass(frozen=True)
class Resources:
    warehouse: Warehouse
    ops_dsn: str
    smtp_connect: Callable[[], smtplib.SMTP]
    settings: Settings
    unsubscribe_secret: bytes | None = None  # signs List-Unsubscribe links; None: reminders carry none
    # opens a logged-in IMAP session on the inbox replies come to (None: no inbox is read)
    inbox: Callable[[], AbstractContextManager[imaplib.IMAP4]] | None = None

    def playbooks(self) -> dict[str, Playbook]:
        return load_playbooks(self.settings.playbook_dir, self.settings.template_dir)


def resolve_run(
    run_id: str, run_date: date, as_of_param: str | None, dry_run: bool, subscription_id: str | None
) -> RunContext:
    """The run's as-of date is its own date unless the ``as_of`` param overrides it."""
    as_of = date.fromisoformat(as_of_param) if as_of_param else run_date
    scope = subscription_id.strip() if subscription_id and subscription_id.strip() else None
    return RunContext(run_id=run_id, as_of=as_of, dry_run=bool(dry_run), subscription_id=scope)


def prepare(
    resources: Resources, run: RunContext, release_unknown: Sequence[str] = (), confirm_unknown: Sequence[str] = ()
) -> list[str]:
    """Migrate the ops schema, register the run (idempotent) and apply the operator's verdicts on
    'unknown' sends; returns the verdict references that matched no unknown send."""
    # A broken playbook or approvals setting stops the run here, before anything is written.
    check_approval_playbooks(resources.settings.approvals, resources.playbooks())
    load_mapping(resources.settings.sync_mapping_path)  # the staff systems' field mapping
    if run.dry_run and (release_unknown or confirm_unknown):  # the DAG refuses it earlier (manual_runs)
        raise ValueError("release_unknown and confirm_unknown change the ledger: not in a dry run")
    with closing(connect(resources.ops_dsn)) as ops:
        migrate(ops)
        register_run(ops, run)
        return [
            *resolve_unknown(ops, run.run_id, list(release_unknown), delivered=False),
            *resolve_unknown(ops, run.run_id, list(confirm_unknown), delivered=True),
        ]


def extract(resources: Resources, run: RunContext) -> StageCounts:
    """Stage and validate the warehouse's rows; with RENEWALS_BOUNCES_QUERY, first suppress the
    bounces and complaints the mail provider reported (not in a dry run: it changes the list)."""
    with closing(connect(resources.ops_dsn)) as ops:
        if resources.settings.bounces_query and not run.dry_run:
            with ops.transaction():
                suppressions.import_reported(resources.warehouse, ops, f"run {run.run_id}")
        return stage_and_validate(
            resources.warehouse,
            ops,
            run,
            resources.playbooks(),
            resources.settings.business_timezone,
            resources.settings.shards,
        )


def read_replies(resources: Resources, dry_run: bool = False) -> InboxReport | None:
    """Read the inbox's new mail before classification (see renewals.inbox); a dry run reads none
    (it would change what the next real run does)."""
    if resources.inbox is None or dry_run:
        return None
    with resources.inbox() as client, closing(connect(resources.ops_dsn, autocommit=True)) as ops:
        return read_inbox(client, ops, resources.settings.teams)


def read_replies_between_runs(resources: Resources) -> InboxReport | None:
    """The inbox read on its own schedule (the DAG renewals_inbox), which may come before any daily
    run has set up the ops schema."""
    if resources.inbox is None:
        return None
    with closing(connect(resources.ops_dsn, autocommit=True)) as ops:
        migrate(ops)
    return read_replies(resources)


def classify_run(resources: Resources, run: RunContext) -> dict[str, dict[int, int]]:
    """Decide everything due; returns how many messages each cohort has to deliver, by shard."""
    settings = resources.settings
    with closing(connect(resources.ops_dsn)) as ops:
        open_work = classify(
            ops,
            run,
            resources.playbooks(),
            settings.teams,
            settings.catch_up_days,
            settings.holidays,
            settings.approvals,
        )
    return {cohort: open_work.get(cohort, {}) for cohort in COHORTS}


def deliver(resources: Resources, run: RunContext, cohort: str, shard: int) -> ShardReport:
    settings = resources.settings
    mailer = Mailer(resources.smtp_connect)
    with (
        closing(connect(resources.ops_dsn)) as reader,
        closing(connect(resources.ops_dsn, autocommit=True)) as ops,
        closing(resources.warehouse.open()) as warehouse,
    ):
        delivery = ShardDelivery(
            reader=reader,
            ops=ops,
            run=run,
            playbooks=resources.playbooks(),
            settings=settings,
            renderer=Renderer(settings.template_dir),
            mailer=mailer,
            recheck=lambda source_ids: current_facts(resources.warehouse, warehouse, ops, source_ids),
            unsubscribe_secret=resources.unsubscribe_secret,
        )
        try:
            report = delivery.deliver(cohort, shard)
        finally:
            mailer.close()
    if report.still_pending:
        raise DeliveryIncomplete(
            f"{report.still_pending} message(s) of cohort {cohort} shard {shard} met only temporary SMTP "
            "refusals; they stay pending and are sent by the task's retry"
        )
    return report


def awaiting_approval(resources: Resources, run: RunContext) -> list[ApprovalItem]:
    """The irreversible steps this run claimed for staff to approve (none in a dry run)."""
    with closing(connect(resources.ops_dsn)) as ops:
        return approvals.awaiting(ops, run)


@dataclass(frozen=True)
class ApprovalOutcome:
    answer: Answer | None  # None: a retry after the answer was recorded
    carried_out: list[ShardReport]


def carry_out_approvals(resources: Resources, run: RunContext, response: dict) -> ApprovalOutcome:
    """Record staff's answer (approved steps become claims, held ones wait for the next run) and
    carry out the approved steps through the same delivery as every claim: exactly once."""
    with closing(connect(resources.ops_dsn, autocommit=True)) as ops:
        items = approvals.awaiting(ops, run)
        answer = answer_from_response(items, response) if items else None
        if answer:
            approvals.record_answer(ops, run, answer)
        shards = approvals.approved_shards(ops, run)
    return ApprovalOutcome(answer, [deliver(resources, run, cohort, shard) for cohort, shard in shards])


def finish_run(resources: Resources, run: RunContext) -> str:
    """Record the renewal cycles the run saw (not in a dry run), mark the run finished and
    return its summary as text."""
    with closing(connect(resources.ops_dsn, autocommit=True)) as ops:
        if not run.dry_run:
            ops.execute(run.work.statement("report/record_cycles.sql"), {"as_of": run.as_of, "run_id": run.run_id})
        ops.execute("update renewals.runs set finished_at = now() where run_id = %s", (run.run_id,))
        return format_summary(run_summary(ops, run.run_id))


def sync_run(resources: Resources, targets: Sequence[Target], dry_run: bool = False) -> SyncReport | None:
    """Queue the events of the changes the deliveries made and deliver them to the staff systems
    that are on (None in a dry run: it changes nothing staff systems should hear of)."""
    if dry_run:
        return None
    with closing(connect(resources.ops_dsn, autocommit=True)) as ops:
        return sync(ops, targets)
