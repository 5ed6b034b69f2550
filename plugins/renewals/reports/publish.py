"""The publish step of a run, after the deliveries: the renewal spreadsheet, the staff posts the
delivery queued, the staff emails of members' answers, and the run summary on Slack; each outcome
is recorded in renewals.publications (the answer emails in renewals.answer_emails)."""

from __future__ import annotations

import logging
from contextlib import closing
from typing import Any

import psycopg

from renewals.config import SLACK_CONN_ID
from renewals.console.outbox import write_outbox_ahead
from renewals.delivery.answer_emails import AnswerEmailReport, email_answers
from renewals.delivery.render import Renderer
from renewals.delivery.smtp import Mailer
from renewals.pipeline import Resources
from renewals.reports.spreadsheet import build_spreadsheet
from renewals.reports.summary import format_summary, run_summary
from renewals.slack.messages import summary_message
from renewals.slack.outbox import flush_outbox
from renewals.slack.transport import SlackPolicy, post_message
from renewals.statuses import PublicationStatus
from renewals.storage.db import connect, one_row
from renewals.storage.publications import publication_status, record_publication
from renewals.storage.runs import RunContext

log = logging.getLogger(__name__)


class SpreadsheetNotWritten(RuntimeError):
    """The renewal spreadsheet could not be written; the Slack summary says so and the task retries."""


def publish_run(
    resources: Resources, run: RunContext, run_url: str | None = None, slack_conn_id: str | None = None
) -> dict[str, Any]:
    """Write the renewal spreadsheet, post the queued staff messages and the run summary.

    Slack never fails this step (an outage is logged and recorded; a summary already posted by an
    earlier try is not posted again). A spreadsheet that cannot be written is reported in the
    summary, then raises SpreadsheetNotWritten so the task retries it. A dry run writes and posts
    nothing; a single-subscription run leaves the spreadsheet to the next full run; a run for an
    older as-of date than the newest full run writes its book beside the newest one (spreadsheet_target)."""
    settings = resources.settings
    conn_id = slack_conn_id or SLACK_CONN_ID
    policy = SlackPolicy.from_settings(settings)
    sheet_error: Exception | None = None
    notes: list[str] = []
    outcome: dict[str, Any] = {"run_id": run.run_id}
    target = settings.spreadsheet_path
    with closing(connect(resources.ops_dsn, autocommit=True)) as ops:
        summary = run_summary(ops, run.run_id)
        if run.dry_run or run.subscription_id:
            why = "a dry run" if run.dry_run else f"a run for {run.subscription_id} only"
            sheet_status, sheet_detail = (
                PublicationStatus.SKIPPED,
                f"{why}: the spreadsheet is left for the next full run",
            )
        else:
            write_outbox(ops, resources, run)  # first: the book's Upcoming sheet reads its rows
            # One book written at a time, so that the newest as-of date's is never overwritten by an older one.
            ops.execute("select pg_advisory_lock(hashtext('renewals.spreadsheet'))")
            try:
                target = spreadsheet_target(ops, run, settings.spreadsheet_path)
                written = build_spreadsheet(
                    ops,
                    run,
                    resources.playbooks(),
                    target,
                    settings.business_timezone,
                    settings.holidays,
                    settings.spreadsheet_rows,
                )
            except Exception as exc:
                sheet_error = exc
                sheet_status, sheet_detail = PublicationStatus.FAILED, f"{type(exc).__name__}: {exc}"[:2000]
                notes.append(f":warning: Spreadsheet NOT updated ({sheet_detail[:300]}); the task retries it.")
                log.exception("The renewal spreadsheet could not be written to %s", target)
            else:
                counts = ", ".join(
                    f"{name} {rows}" + (f" of {rows + written.truncated[name]}" if name in written.truncated else "")
                    for name, rows in written.rows.items()
                    if name != "About"
                )
                sheet_status, sheet_detail = PublicationStatus.WRITTEN, counts
                older = "" if target == settings.spreadsheet_path else " (an older as-of date: the newest book is kept)"
                notes.append(f"Spreadsheet updated: {written.location}{older} ({counts})")
            finally:
                ops.execute("select pg_advisory_unlock(hashtext('renewals.spreadsheet'))")
        record_publication(ops, run.run_id, "spreadsheet", sheet_status, target, sheet_detail)
        outcome["spreadsheet"] = {"status": sheet_status, "detail": sheet_detail}

        if run.dry_run:
            log.info("Dry run: nothing is posted to Slack; the summary is in the summarize task's log.")
            slack_status, slack_detail = PublicationStatus.SKIPPED, "dry run"
        else:
            outcome["staff_posts"] = flush_outbox(ops, conn_id, policy).__dict__
            outcome["answer_emails"] = email_staff_of_answers(ops, resources, run).__dict__
            if publication_status(ops, run.run_id, "slack_summary") == PublicationStatus.SENT:
                slack_status, slack_detail = PublicationStatus.SENT, "posted by an earlier try of this task"
            else:
                text, blocks = summary_message(summary, run_url, notes)
                fallback = "\n".join([format_summary(summary), *notes, *([run_url] if run_url else [])])
                slack = post_message(conn_id, text, blocks, policy=policy, fallback_text=fallback)
                slack_status, slack_detail = PublicationStatus(slack.status), slack.detail
        record_publication(ops, run.run_id, "slack_summary", slack_status, conn_id, slack_detail)
        outcome["slack_summary"] = {"status": slack_status, "detail": slack_detail}
    if sheet_error is not None:
        raise SpreadsheetNotWritten(f"{target}: {sheet_error}") from sheet_error
    return outcome


def email_staff_of_answers(ops: psycopg.Connection, resources: Resources, run: RunContext) -> AnswerEmailReport:
    """The members' answers to the staff their playbooks name, each once (renewals.delivery.answer_emails)."""
    mailer = Mailer(resources.smtp_connect)
    try:
        return email_answers(
            ops, mailer, resources.playbooks(), resources.settings, Renderer(resources.settings.template_dir), run.as_of
        )
    finally:
        mailer.close()


def write_outbox(ops: psycopg.Connection, resources: Resources, run: RunContext) -> None:
    """The console outbox's rows of the run, which the spreadsheet's Upcoming sheet reads too; if
    they cannot be written, the outbox and the sheet compute the rule live (slower, same answer),
    and the run goes on."""
    try:
        written = write_outbox_ahead(
            ops,
            run.run_id,
            run.as_of,
            run.work.identifiers()["subscriptions"],
            resources.playbooks(),
            resources.settings,
        )
    except psycopg.Error:
        log.exception("The console outbox's rows of %s were not written: the outbox computes them live", run.run_id)
    else:
        log.info("The console outbox's rows of %s: %d touchpoints ahead", run.run_id, written)


def spreadsheet_target(ops: psycopg.Connection, run: RunContext, path: str) -> str:
    """Where the run's book goes: ``path``, unless a full run for a later as-of date exists (a
    backfill, a rerun of an older day): then beside it, named after the run's as-of date
    (``renewals.as-of-2026-11-02.xlsx``), so that the book at ``path`` stays the newest day's."""
    (newest,) = one_row(
        ops.execute(
            "select max(as_of) from renewals.runs where not dry_run and subscription_id is null and refusal is null"
        )
    )
    if newest is None or run.as_of >= newest:
        return path
    folder, slash, name = path.rpartition("/")
    stem, dot, suffix = name.rpartition(".")
    dated = f"{stem}.as-of-{run.as_of.isoformat()}{dot}{suffix}" if dot else f"{name}.as-of-{run.as_of.isoformat()}"
    return f"{folder}{slash}{dated}"
