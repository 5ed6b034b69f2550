"""The steps of a daily run as plain functions, one per DAG task.

The DAG (dags/renewals_daily.py) only wires these together; tests can call them directly with
real connections. ``Resources`` says where the warehouse, the ops schema and SMTP are.
"""

from __future__ import annotations

import smtplib
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from datetime import date

from renewals.config import Settings
from renewals.delivery.deliver import ShardDelivery, ShardReport
from renewals.delivery.render import Renderer
from renewals.delivery.smtp import Mailer
from renewals.gates import COHORTS
from renewals.playbooks import Playbook, load_playbooks
from renewals.storage.classify import classify
from renewals.storage.db import connect
from renewals.storage.ledger import resolve_unknown
from renewals.storage.migrations import migrate
from renewals.storage.runs import RunContext, register_run
from renewals.storage.staging import StageCounts, stage_and_validate
from renewals.storage.warehouse import current_facts


class DeliveryIncomplete(RuntimeError):
    """Some messages met only temporary refusals; they stay pending for the task's retry."""


@dataclass(frozen=True)
class Resources:
    warehouse_dsn: str
    ops_dsn: str
    smtp_connect: Callable[[], smtplib.SMTP]
    settings: Settings

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
    resources: Resources, run: RunContext, release_unknown: list[str] = (), confirm_unknown: list[str] = ()
) -> list[str]:
    """Migrate the ops schema, register the run (idempotent) and apply the operator's verdicts on
    'unknown' sends; returns the verdict references that matched no unknown send."""
    resources.playbooks()  # a broken playbook stops the run here, before anything is written
    if run.dry_run and (release_unknown or confirm_unknown):
        raise ValueError("release_unknown and confirm_unknown change the ledger: not in a dry run")
    with closing(connect(resources.ops_dsn)) as ops:
        migrate(ops)
        register_run(ops, run)
        return [
            *resolve_unknown(ops, run.run_id, list(release_unknown), delivered=False),
            *resolve_unknown(ops, run.run_id, list(confirm_unknown), delivered=True),
        ]


def extract(resources: Resources, run: RunContext) -> StageCounts:
    with closing(connect(resources.warehouse_dsn)) as warehouse, closing(connect(resources.ops_dsn)) as ops:
        return stage_and_validate(
            warehouse, ops, run, resources.playbooks(), resources.settings.business_timezone,
            resources.settings.shards,
        )  # fmt: skip


def classify_run(resources: Resources, run: RunContext) -> dict[str, dict[int, int]]:
    """Decide everything due; returns how many messages each cohort has to deliver, by shard."""
    settings = resources.settings
    with closing(connect(resources.ops_dsn)) as ops:
        open_work = classify(ops, run, resources.playbooks(), settings.teams, settings.catch_up_days,
                             settings.holidays)  # fmt: skip
    return {cohort: open_work.get(cohort, {}) for cohort in COHORTS}


def open_work(resources: Resources, run: RunContext) -> dict[str, int]:
    """Messages each cohort has to deliver in this run, read from the ledger."""
    with closing(connect(resources.ops_dsn)) as ops:
        rows = ops.execute(
            run.work.statement("classify/open_work_by_cohort.sql"), {"dry_run": run.dry_run, "run_id": run.run_id}
        ).fetchall()
    work = dict.fromkeys(COHORTS, 0)
    for cohort, _shard, count in rows:
        work[cohort] += count
    return work


def deliver(resources: Resources, run: RunContext, cohort: str, shard: int) -> ShardReport:
    settings = resources.settings
    mailer = Mailer(resources.smtp_connect)
    with (
        closing(connect(resources.ops_dsn)) as reader,
        closing(connect(resources.ops_dsn, autocommit=True)) as ops,
        closing(connect(resources.warehouse_dsn)) as warehouse,
    ):
        delivery = ShardDelivery(
            reader=reader,
            ops=ops,
            run=run,
            playbooks=resources.playbooks(),
            settings=settings,
            renderer=Renderer(settings.template_dir),
            mailer=mailer,
            recheck=lambda source_ids: current_facts(warehouse, ops, source_ids),
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


# --- finishing and publishing a run (summary, audit cycles, Slack, spreadsheet) -----------------


class SpreadsheetNotWritten(RuntimeError):
    """The renewal spreadsheet could not be written; the Slack summary says so and the task retries."""


def finish_run(resources: Resources, run: RunContext) -> str:
    """Record the renewal cycles the run saw (not in a dry run), mark the run finished and
    return its summary as text."""
    from renewals.reporting import format_summary, run_summary

    with closing(connect(resources.ops_dsn, autocommit=True)) as ops:
        if not run.dry_run:
            ops.execute(run.work.statement("report/record_cycles.sql"), {"as_of": run.as_of, "run_id": run.run_id})
        ops.execute("update renewals.runs set finished_at = now() where run_id = %s", (run.run_id,))
        return format_summary(run_summary(ops, run.run_id))


def publish_run(
    resources: Resources, run: RunContext, run_url: str | None = None, slack_conn_id: str | None = None
) -> dict:
    """After the deliveries: write the renewal spreadsheet, post the staff messages the delivery
    queued, and post the run summary to Slack; each outcome is recorded in renewals.publications.

    Slack never fails this step (an outage is logged and recorded; a summary already posted by an
    earlier try is not posted again). A spreadsheet that cannot be written is reported in the
    summary, then raises SpreadsheetNotWritten so the task retries it. A dry run writes and posts
    nothing; a single-subscription run leaves the spreadsheet to the next full run.
    """
    import logging

    from renewals.config import SLACK_CONN_ID
    from renewals.delivery.slack import SENT, SlackPolicy, SlackResult, flush_outbox, post_message
    from renewals.reporting import format_summary, run_summary
    from renewals.reports.slack_summary import summary_message
    from renewals.reports.spreadsheet import build_spreadsheet

    log = logging.getLogger(__name__)
    settings = resources.settings
    conn_id = slack_conn_id or SLACK_CONN_ID
    policy = SlackPolicy.from_settings(settings)
    sheet_error: Exception | None = None
    notes: list[str] = []
    outcome: dict = {"run_id": run.run_id}
    with closing(connect(resources.ops_dsn, autocommit=True)) as ops:
        summary = run_summary(ops, run.run_id)
        if run.dry_run or run.subscription_id:
            why = "a dry run" if run.dry_run else f"a run for {run.subscription_id} only"
            sheet_status, sheet_detail = "skipped", f"{why}: the spreadsheet is left for the next full run"
        else:
            try:
                written = build_spreadsheet(
                    ops, run, resources.playbooks(), settings.spreadsheet_path, settings.business_timezone,
                    settings.holidays,
                )  # fmt: skip
            except Exception as exc:
                sheet_error = exc
                sheet_status, sheet_detail = "failed", f"{type(exc).__name__}: {exc}"[:2000]
                notes.append(f":warning: Spreadsheet NOT updated ({sheet_detail[:300]}); the task retries it.")
                log.exception("The renewal spreadsheet could not be written to %s", settings.spreadsheet_path)
            else:
                counts = ", ".join(f"{name} {rows}" for name, rows in written.rows.items() if name != "About")
                sheet_status, sheet_detail = "written", counts
                notes.append(f"Spreadsheet updated: {written.location} ({counts})")
                if written.truncated:
                    notes.append(f":warning: rows beyond Excel's limit were left out: {written.truncated}")
        _record_publication(ops, run.run_id, "spreadsheet", sheet_status, settings.spreadsheet_path, sheet_detail)
        outcome["spreadsheet"] = {"status": sheet_status, "detail": sheet_detail}

        if run.dry_run:
            log.info("Dry run: nothing is posted to Slack; the summary is in the summarize task's log.")
            slack = SlackResult("skipped", "dry run")
        else:
            outcome["staff_posts"] = flush_outbox(ops, conn_id, policy).__dict__
            previous = ops.execute(
                "select status from renewals.publications where run_id = %s and output = 'slack_summary'",
                (run.run_id,),
            ).fetchone()
            if previous and previous[0] == SENT:
                slack = SlackResult(SENT, "posted by an earlier try of this task")
            else:
                text, blocks = summary_message(summary, run_url, notes)
                fallback = "\n".join([format_summary(summary), *notes, *([run_url] if run_url else [])])
                slack = post_message(conn_id, text, blocks, policy=policy, fallback_text=fallback)
        _record_publication(ops, run.run_id, "slack_summary", slack.status, conn_id, slack.detail)
        outcome["slack_summary"] = {"status": slack.status, "detail": slack.detail}
    if sheet_error is not None:
        raise SpreadsheetNotWritten(f"{settings.spreadsheet_path}: {sheet_error}") from sheet_error
    return outcome


def _record_publication(ops, run_id: str, output: str, status: str, target: str | None, detail: str | None) -> None:
    ops.execute(
        """
        insert into renewals.publications as p (run_id, output, status, target, detail)
        values (%s, %s, %s, %s, %s)
        on conflict (run_id, output) do update
        set status = excluded.status, target = excluded.target, detail = excluded.detail,
            attempts = p.attempts + 1, updated_at = now()
        """,
        (run_id, output, status, target, detail or None),
    )
