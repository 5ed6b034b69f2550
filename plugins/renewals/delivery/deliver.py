"""Deliver one cohort's shard: re-check, render, claim, hand off, record, one message at a time.

Exactly once: a row is claimed ('pending' -> 'unknown') in its own committed statement before
the SMTP hand-off and settled right after it, so a retry, a rerun or a concurrent run can never
take the same row twice; a crash between claim and settle leaves 'unknown' for an operator.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from email.message import EmailMessage
from typing import Any

import psycopg

from renewals.config import Settings
from renewals.delivery.messages import build_email, message_id, sender_domain, sender_name
from renewals.delivery.render import Renderer, message_context
from renewals.delivery.smtp import RETRY, Mailer
from renewals.gates import GateFacts, gate_on
from renewals.playbooks import Playbook, Touchpoint
from renewals.storage import ledger
from renewals.storage.ledger import LedgerKey
from renewals.storage.runs import RunContext
from renewals.storage.warehouse import CurrentFacts

Recheck = Callable[[Sequence[str]], Mapping[str, CurrentFacts]]


@dataclass
class ShardReport:
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    unknown: int = 0
    previewed: int = 0
    taken_elsewhere: int = 0
    still_pending: int = 0
    skip_reasons: dict[str, int] = field(default_factory=dict)

    def count(self, status: str) -> None:
        setattr(self, status, getattr(self, status) + 1)


@dataclass
class ShardDelivery:
    """Everything one shard's delivery needs; the Airflow task builds it from connections."""

    reader: psycopg.Connection  # holds the server-side cursor over the shard's rows
    ops: psycopg.Connection  # autocommit: every claim and outcome is durable at once
    run: RunContext
    playbooks: Mapping[str, Playbook]
    settings: Settings
    renderer: Renderer
    mailer: Mailer
    recheck: Recheck
    sleep: Callable[[float], None] = time.sleep
    # Called at each point of a send (before_claim, after_claim, before_handoff, after_handoff,
    # after_record):
    # the crash tests kill the worker there; in production it does nothing.
    checkpoint: Callable[[str], None] = lambda point: None

    def deliver(self, cohort: str, shard: int) -> ShardReport:
        report = ShardReport()
        waiting: list[tuple[LedgerKey, EmailMessage]] = []
        for batch in ledger.open_rows(self.reader, self.run, cohort, shard, self.settings.batch_size):
            facts = {} if self.run.dry_run else self.recheck([row["subscription_id"] for row in batch])
            for row in batch:
                touchpoint = self.playbooks[row["playbook"]].touchpoint(row["touchpoint"])
                key = LedgerKey(row["subscription_id"], row["renewal_date"], row["touchpoint"])
                message = self._compose(row, touchpoint)
                if self.run.dry_run:
                    ledger.record_preview(self.ops, key, self.run.run_id, message["Message-ID"], message["Subject"])
                    report.previewed += 1
                    continue
                reason = no_longer_due(row, touchpoint, facts.get(row["subscription_id"]))
                if reason:
                    ledger.skip(self.ops, key, self.run.run_id, reason)
                    report.skipped += 1
                    report.skip_reasons[reason] = report.skip_reasons.get(reason, 0) + 1
                    continue
                if self._hand_off(key, message, report) == RETRY:
                    waiting.append((key, message))
        # Temporary refusals are offered again after a bounded backoff (settings.smtp_retry_delays).
        for delay in self.settings.smtp_retry_delays:
            if not waiting:
                break
            self.sleep(delay)
            waiting = [(key, msg) for key, msg in waiting if self._hand_off(key, msg, report) == RETRY]
        report.still_pending = len(waiting)
        return report

    def _hand_off(self, key: LedgerKey, message: EmailMessage, report: ShardReport) -> str:
        self.mailer.ensure_connected()  # an outage raises here, before anything is claimed
        self.checkpoint("before_claim")
        if not ledger.claim(self.ops, key, self.run.run_id, message["Message-ID"], message["Subject"], self.checkpoint):
            report.taken_elsewhere += 1
            return "taken"
        self.checkpoint("before_handoff")
        outcome = self.mailer.send(message)
        self.checkpoint("after_handoff")
        ledger.settle(self.ops, key, self.run.run_id, "pending" if outcome.status == RETRY else outcome.status,
                      outcome.detail)  # fmt: skip
        self.checkpoint("after_record")
        if outcome.status != RETRY:
            report.count(outcome.status)
        return outcome.status

    def _compose(self, row: dict[str, Any], touchpoint: Touchpoint) -> EmailMessage:
        settings = self.settings
        context = message_context(
            row, self.run.as_of, touchpoint.key, sender_name(settings.sender), settings.support_line
        )
        assert touchpoint.template is not None
        return build_email(
            sender=settings.sender,
            to=list(row["recipients"]),
            cc=list(row["cc"]),
            reply_to=settings.reply_to,
            rendered=self.renderer.render(touchpoint.template, context),
            subscription_id=row["subscription_id"],
            renewal_date=row["renewal_date"],
            touchpoint=touchpoint.key,
            msg_id=message_id(
                row["subscription_id"], row["renewal_date"], touchpoint.key, sender_domain(settings.sender)
            ),  # fmt: skip
        )


def no_longer_due(row: Mapping[str, Any], touchpoint: Touchpoint, facts: CurrentFacts | None) -> str | None:
    """Why the warehouse, read right now, says this touchpoint must not go out (None: send it).

    Every fact recorded so far counts, even one dated after the run's as-of date: a backfill
    must not remind someone who has paid since.
    """
    if facts is None:
        return "not_in_warehouse"
    if facts.paused:
        return "paused"
    if facts.renewal_date != row["renewal_date"]:
        return "cycle_changed"
    gate = gate_on(GateFacts(facts.intent_confirmed_at, facts.paid_at, facts.declined_at, row["timezone"]), date.max)
    if gate not in touchpoint.gates:
        return "gate_changed"
    return None
