"""The summary of a run: what was sent, skipped and why, what failed, what is unknown, what
was quarantined, what staff were given (CTAs, offboardings). Printed by the DAG's summarize task
and by ``make run``; the publish step posts it to Slack (renewals.slack.messages.summary_message)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import psycopg

from renewals.statuses import TouchpointStatus
from renewals.storage.db import one_row
from renewals.storage.sql_files import sql_text

# What a run settled, counted apart: emails to customers, emails to staff (notices, and the CTA
# changes that told their owner) and staff steps recorded (CTA changes and records). The same
# three figures in the terminal, on Slack and in the console.
CUSTOMER_EMAILS, STAFF_EMAILS, STEPS_RECORDED = "customer_emails", "staff_emails", "steps_recorded"
KINDS = (CUSTOMER_EMAILS, STAFF_EMAILS, STEPS_RECORDED)
KIND_LABELS = {CUSTOMER_EMAILS: "Customer emails", STAFF_EMAILS: "Staff emails", STEPS_RECORDED: "Staff steps recorded"}
KIND_NOTES = {
    CUSTOMER_EMAILS: "",
    STAFF_EMAILS: "notices to teams, and CTA changes that told their owner",
    STEPS_RECORDED: "CTAs opened or moved, records such as closing CTAs; an email only where counted above",
}
HISTORY_NOTE = "fell due before the pipeline's first run: settled as superseded or stale, never sent"


def _by_kind() -> dict[str, Counter]:
    return {kind: Counter() for kind in KINDS}


@dataclass
class RunSummary:
    run_id: str
    as_of: str
    dry_run: bool
    counts: dict[str, Any]
    sent: dict[str, Counter] = field(default_factory=_by_kind)  # by kind (KINDS), then by touchpoint
    status_totals: Counter = field(default_factory=Counter)
    skipped_by_reason: Counter = field(default_factory=Counter)
    history_by_reason: Counter = field(default_factory=Counter)
    failed: list[tuple[str, str]] = field(default_factory=list)
    quarantined_by_reason: Counter = field(default_factory=Counter)
    cohorts: Counter = field(default_factory=Counter)
    left_alone: Counter = field(default_factory=Counter)
    unknown_open: int = 0
    ctas_opened: int = 0
    ctas_escalated: int = 0
    offboardings_started: int = 0
    deactivations: int = 0

    @property
    def quarantined(self) -> int:
        return (self.counts.get("subscriptions_quarantined") or 0) + (self.counts.get("contacts_quarantined") or 0)

    def total(self, kind: str) -> int:
        return self.sent[kind].total()

    @property
    def emails(self) -> int:
        """Messages handed to the relay (or previewed): one per .eml file of the demo's outbox."""
        return self.total(CUSTOMER_EMAILS) + self.total(STAFF_EMAILS)


def count_settled(summary: RunSummary, touchpoint: str, channel: str, rows: int, emailed: int) -> None:
    """One ledger group sent (or previewed) by the run, counted under its kind."""
    if channel == "email":
        summary.sent[CUSTOMER_EMAILS][touchpoint] += rows
    elif channel == "staff_email":
        summary.sent[STAFF_EMAILS][touchpoint] += rows
    else:
        summary.sent[STEPS_RECORDED][touchpoint] += rows
        if emailed:
            summary.sent[STAFF_EMAILS][touchpoint] += emailed


def run_summary(ops: psycopg.Connection, run_id: str) -> RunSummary:
    run = ops.execute(
        """
        select as_of, dry_run, subscriptions_in, subscriptions_processed, subscriptions_quarantined,
               contacts_in, contacts_processed, contacts_quarantined
        from renewals.runs where run_id = %s
        """,
        (run_id,),
    ).fetchone()
    if run is None:
        raise LookupError(f"no run {run_id!r} in renewals.runs")
    as_of, dry_run, *numbers = run
    names = (
        "subscriptions_in",
        "subscriptions_processed",
        "subscriptions_quarantined",
        "contacts_in",
        "contacts_processed",
        "contacts_quarantined",
    )
    summary = RunSummary(run_id, as_of.isoformat(), dry_run, dict(zip(names, numbers, strict=True)))
    params = {"run_id": run_id}
    for touchpoint, channel, status, reason, rows, emailed, history in ops.execute(
        sql_text("report/run_touchpoints.sql"), params
    ):
        summary.status_totals[status] += rows
        if status in (TouchpointStatus.SENT, TouchpointStatus.DRY_RUN):
            count_settled(summary, touchpoint, channel, rows, emailed)
        elif status == TouchpointStatus.SKIPPED:
            if rows > history:
                summary.skipped_by_reason[reason] += rows - history
            if history:
                summary.history_by_reason[reason] += history
        elif status == TouchpointStatus.FAILED:
            summary.failed.append((touchpoint, reason))
    for table, reason, rows in ops.execute(sql_text("report/run_quarantine.sql"), params):
        summary.quarantined_by_reason[f"{table}: {reason}"] += rows
    for playbook, gate, cohort, rows in ops.execute(sql_text("report/run_cohorts.sql"), params):
        summary.cohorts[f"{playbook} / {gate} / {cohort}"] += rows
    for reason, rows in ops.execute(sql_text("report/run_no_action.sql"), params):
        summary.left_alone[reason] += rows
    staff = one_row(ops.execute(sql_text("report/run_staff_actions.sql"), params))
    summary.ctas_opened, summary.ctas_escalated, summary.offboardings_started, summary.deactivations = staff
    summary.unknown_open = one_row(
        ops.execute("select count(*) from renewals.touchpoints where status = %s", (TouchpointStatus.UNKNOWN,))
    )[0]
    return summary


def format_summary(summary: RunSummary) -> str:
    c = summary.counts
    verb = "would send (dry run)" if summary.dry_run else "sent"
    lines = [
        f"Renewals run {summary.run_id} as of {summary.as_of}{' [DRY RUN]' if summary.dry_run else ''}",
        f"  subscriptions: {c['subscriptions_in']} in = {c['subscriptions_processed']} processed"
        f" + {c['subscriptions_quarantined']} quarantined",
        f"  contacts:      {c['contacts_in']} in = {c['contacts_processed']} processed"
        f" + {c['contacts_quarantined']} quarantined",
    ]
    for kind in KINDS:
        label = KIND_LABELS[kind].lower() + ("" if kind == STEPS_RECORDED else f" {verb}")
        note = f" ({KIND_NOTES[kind]})" if KIND_NOTES[kind] else ""
        lines += [f"  {label}: {summary.total(kind)}{note}", *_rows(summary.sent[kind])]
    lines += [
        "  skipped by reason:",
        *_rows(summary.skipped_by_reason),
    ]
    if summary.history_by_reason:
        lines += [
            f"  settled from history ({HISTORY_NOTE}): {summary.history_by_reason.total()}",
            *_rows(summary.history_by_reason),
        ]
    lines += [
        "  due but left alone (settled by an earlier run, or held):",
        *_rows(summary.left_alone),
    ]
    if summary.failed:
        lines += ["  failed:", *(f"    {touchpoint}: {reason}" for touchpoint, reason in summary.failed)]
    lines += ["  quarantined by reason:", *_rows(summary.quarantined_by_reason)]
    lines.append(
        f"  staff: CTAs opened {summary.ctas_opened}, escalated {summary.ctas_escalated};"
        f" offboardings started {summary.offboardings_started}; contacts to deactivate {summary.deactivations}"
    )
    awaiting = summary.status_totals[TouchpointStatus.AWAITING_APPROVAL]
    held = summary.status_totals[TouchpointStatus.HELD]
    if awaiting or held:
        lines.append(
            f"  irreversible steps: {awaiting} awaiting staff approval, {held} held (asked again on the next run;"
            " docs/operators-guide.md: Approvals)"
        )
    if summary.unknown_open:
        lines.append(
            f"  ATTENTION: {summary.unknown_open} touchpoint(s) in status 'unknown' (handed to SMTP, outcome"
            " not recorded); check the mail log and release them (docs/operators-guide.md: Settling unknown sends)"
        )
    return "\n".join(lines)


def _rows(counter: Counter) -> list[str]:
    if not counter:
        return ["    (none)"]
    width = max(len(key) for key in counter)
    return [f"    {key:<{width}}  {n:>6}" for key, n in sorted(counter.items())]
