"""The publish step of a run, after the deliveries: the renewal spreadsheet, the staff posts the
delivery queued, and the run summary on Slack; each outcome is recorded in renewals.publications."""

from __future__ import annotations

import logging
from contextlib import closing
from typing import Any

from renewals.config import SLACK_CONN_ID
from renewals.pipeline import Resources
from renewals.reports.spreadsheet import build_spreadsheet
from renewals.reports.summary import format_summary, run_summary
from renewals.slack.messages import summary_message
from renewals.slack.outbox import flush_outbox
from renewals.slack.transport import SENT, SlackPolicy, SlackResult, post_message
from renewals.storage.db import connect
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
    nothing; a single-subscription run leaves the spreadsheet to the next full run.
    """
    settings = resources.settings
    conn_id = slack_conn_id or SLACK_CONN_ID
    policy = SlackPolicy.from_settings(settings)
    sheet_error: Exception | None = None
    notes: list[str] = []
    outcome: dict[str, Any] = {"run_id": run.run_id}
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
        record_publication(ops, run.run_id, "spreadsheet", sheet_status, settings.spreadsheet_path, sheet_detail)
        outcome["spreadsheet"] = {"status": sheet_status, "detail": sheet_detail}

        if run.dry_run:
            log.info("Dry run: nothing is posted to Slack; the summary is in the summarize task's log.")
            slack = SlackResult("skipped", "dry run")
        else:
            outcome["staff_posts"] = flush_outbox(ops, conn_id, policy).__dict__
            if publication_status(ops, run.run_id, "slack_summary") == SENT:
                slack = SlackResult(SENT, "posted by an earlier try of this task")
            else:
                text, blocks = summary_message(summary, run_url, notes)
                fallback = "\n".join([format_summary(summary), *notes, *([run_url] if run_url else [])])
                slack = post_message(conn_id, text, blocks, policy=policy, fallback_text=fallback)
        record_publication(ops, run.run_id, "slack_summary", slack.status, conn_id, slack.detail)
        outcome["slack_summary"] = {"status": slack.status, "detail": slack.detail}
    if sheet_error is not None:
        raise SpreadsheetNotWritten(f"{settings.spreadsheet_path}: {sheet_error}") from sheet_error
    return outcome
