"""Deliver one cohort's shard: re-check, render, claim, hand off, record, one touchpoint at a time.

Exactly once: a row is claimed under a row lock and committed as 'unknown' right before the
hand-off, then settled; a retry, a rerun or a concurrent run can never take the same row twice,
and a crash between claim and settle leaves 'unknown' for an operator. Staff actions go through
the same ledger: a CTA change is committed together with its claim and its owner is notified;
a record (closing CTAs, deactivating contacts, ...) settles at once.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from email.message import EmailMessage
from typing import Any, assert_never

import psycopg

from renewals.config import Settings
from renewals.dates import term_end
from renewals.delivery import unsubscribe
from renewals.delivery.messages import bodies, build_email, message_id, recipients, sender_domain, sender_name
from renewals.delivery.outcome_log import log_outcome
from renewals.delivery.receipt import Receipt, receipt_filename, receipt_pdf
from renewals.delivery.render import Renderer, message_context
from renewals.delivery.smtp import Mailer
from renewals.gates import GateFacts, gate_on
from renewals.playbooks import Playbook, Touchpoint
from renewals.slack.messages import Message, cta_change_message, deactivation_message, payment_received_message
from renewals.slack.outbox import queue_staff_message
from renewals.statuses import HandoffOutcome, SkipReason, SuppressionReason, TouchpointStatus
from renewals.storage import ctas, ledger, offboarding, previews, suppressions
from renewals.storage.ledger import Handoff, LedgerKey
from renewals.storage.runs import RunContext
from renewals.storage.warehouse import CurrentFacts

# Called with a batch's ids as the warehouse spells them (source_id); keyed by subscription_id.
Recheck = Callable[[Sequence[str]], Mapping[str, CurrentFacts]]


@dataclass
class ShardReport:
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    unknown: int = 0
    recorded: int = 0
    previewed: int = 0
    taken_elsewhere: int = 0
    still_pending: int = 0
    skip_reasons: Counter[SkipReason] = field(default_factory=Counter)

    def count_skip(self, reason: SkipReason) -> None:
        self.skipped += 1
        self.skip_reasons[reason] += 1

    def count_handoff(self, outcome: HandoffOutcome) -> None:
        """A hand-off settled for this run: sent, failed or unknown (a retry is counted when it
        settles, or as still pending)."""
        match outcome:
            case HandoffOutcome.SENT:
                self.sent += 1
            case HandoffOutcome.FAILED:
                self.failed += 1
            case HandoffOutcome.UNKNOWN:
                self.unknown += 1
            case HandoffOutcome.RETRY:
                pass
            case _:
                assert_never(outcome)


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
    unsubscribe_secret: bytes | None = None  # signs List-Unsubscribe links (None: no such headers)
    sleep: Callable[[float], None] = time.sleep
    # Called at each point of a send (before_claim, after_claim, before_handoff, after_handoff,
    # after_record): the crash tests kill the worker there; in production it does nothing.
    checkpoint: Callable[[str], None] = lambda point: None

    def deliver(self, cohort: str, shard: int) -> ShardReport:
        report = ShardReport()
        waiting: list[tuple[LedgerKey, dict[str, Any], Touchpoint, EmailMessage]] = []
        for batch in ledger.open_rows(self.reader, self.run, cohort, shard, self.settings.batch_size):
            facts = {} if self.run.dry_run else self.recheck([row["source_id"] for row in batch])
            # one query for the whole batch's customer addresses, not one per message
            suppressed = suppressions.lookup(
                self.ops, [a for row in batch if row["channel"] == "email" for a in (*row["recipients"], *row["cc"])]
            )
            for row in batch:
                touchpoint = self.playbooks[row["playbook"]].touchpoint(row["touchpoint"])
                key = LedgerKey(row["subscription_id"], row["renewal_date"], row["touchpoint"])
                if self._honours_suppressions(touchpoint):
                    row = without_suppressed(row, suppressed)
                if not row["recipients"] and row.get("suppressed"):
                    self._skip(key, touchpoint, SkipReason.SUPPRESSED, report, row["suppressed"])
                    continue
                if self.run.dry_run:
                    self._preview(key, row, touchpoint, report)
                    continue
                reason = no_longer_due(row, touchpoint, facts.get(row["subscription_id"]))
                if reason:
                    self._skip(key, touchpoint, reason, report)
                    continue
                message = self._carry_out(key, row, touchpoint, report)
                if message is not None:
                    waiting.append((key, row, touchpoint, message))
        # Temporary refusals are offered again after a bounded backoff (settings.smtp_retry_delays).
        for delay in self.settings.smtp_retry_delays:
            if not waiting:
                break
            self.sleep(delay)
            waiting = [
                (key, row, touchpoint, message)
                for key, row, touchpoint, message in waiting
                if self._carry_out(key, row, touchpoint, report, composed=message) is not None
            ]
        report.still_pending = len(waiting)
        return report

    def _honours_suppressions(self, touchpoint: Touchpoint) -> bool:
        """Customer emails leave suppressed recipients out; transactional ones only if configured."""
        return touchpoint.channel == "email" and (not touchpoint.transactional or self.settings.suppress_transactional)

    def _skip(
        self, key: LedgerKey, touchpoint: Touchpoint, reason: SkipReason, report: ShardReport,
        suppressed: dict[str, str] | None = None,
    ) -> None:  # fmt: skip
        """Settle a row unsent (a dry run only reports it: its ledger rows are previews)."""
        if not self.run.dry_run:
            ledger.skip(self.ops, key, self.run, reason, suppressed)
        log_outcome(key, touchpoint, TouchpointStatus.SKIPPED, detail=reason)
        report.count_skip(reason)

    def _carry_out(
        self,
        key: LedgerKey,
        row: dict[str, Any],
        touchpoint: Touchpoint,
        report: ShardReport,
        composed: EmailMessage | None = None,
    ) -> EmailMessage | None:
        """Claim, compose (or reuse ``composed``, a retry's), hand over, record one touchpoint.
        Returns its message when the relay refused it for now (to offer again after a backoff)."""
        if touchpoint.channel != "record":
            self.mailer.ensure_connected()  # an outage raises here, before anything is claimed
        self.checkpoint("before_claim")
        with ledger.claim(self.ops, key, self.run) as claim:
            if claim is None:
                report.taken_elsewhere += 1
                return None
            self.checkpoint("after_claim")
            set_aside = set_aside_by_staff(claim.steering, self.run.as_of)
            if set_aside is not None:
                claim.set_aside(*set_aside)
            else:
                if touchpoint.channel == "record":
                    self._record(key, row, touchpoint)
                    message = None
                else:  # a CTA change in _compose_for commits together with the claim
                    edit = Edit.of(claim.steering)
                    message = composed if composed is not None else self._compose_for(key, row, touchpoint, edit)
                claim.hand_over(Handoff() if message is None else _handoff_of(message, row.get("suppressed")))
        if set_aside is not None:
            status, reason = set_aside
            log_outcome(key, touchpoint, status, detail=reason)
            report.count_skip(reason)
            return None
        if message is None:  # recorded in the ops schema only: settled with the claim
            report.recorded += 1
            log_outcome(key, touchpoint, "recorded")
            return None
        outcome = self._send(key, message, report)
        log_outcome(key, touchpoint, "retry_later" if outcome == HandoffOutcome.RETRY else outcome, message)
        return message if outcome == HandoffOutcome.RETRY else None

    def _send(self, key: LedgerKey, message: EmailMessage, report: ShardReport) -> HandoffOutcome:
        """Hand a claimed message to the relay and record the outcome; returns it."""
        self.checkpoint("before_handoff")
        outcome = self.mailer.send(message)
        self.checkpoint("after_handoff")
        if outcome.bounced:  # refused for good at RCPT: no more customer mail to them
            suppressions.add(self.ops, outcome.bounced, SuppressionReason.BOUNCED, source="smtp", detail=outcome.detail,
                             created_by=f"run {self.run.run_id}")  # fmt: skip
        ledger.settle(self.ops, key, self.run.run_id, outcome.status, outcome.detail)
        self.checkpoint("after_record")
        report.count_handoff(outcome.status)
        return outcome.status

    def _compose_for(
        self, key: LedgerKey, row: dict[str, Any], touchpoint: Touchpoint, edit: Edit | None = None
    ) -> EmailMessage | None:
        """The message of a touchpoint (in staff's words where ``edit`` gives them); for a CTA,
        applies its change first and tells the owner only when the CTA opened or moved (None:
        nothing to send)."""
        if touchpoint.cta is None:
            if touchpoint.attachment == "receipt_pdf":  # a payment received: staff hear of it on Slack
                self._queue_staff_post(key, "payment_received", payment_post(row))
            return self._compose(row, touchpoint, None, edit)
        cta = ctas.apply_change(self.ops, _renewal(key, row), touchpoint.cta, self.settings.teams, self.run.run_id)
        if not cta["notify"]:
            return None
        self._queue_staff_post(key, "cta", cta_change_message(cta, row["account_name"], key.subscription_id))
        return self._compose(row, touchpoint, cta)

    def _queue_staff_post(self, key: LedgerKey, kind: str, message: tuple[str, list[dict[str, Any]]]) -> None:
        """Queued in the claim's transaction; the run's publish step posts it, so Slack never
        holds up an email, and one touchpoint posts at most once."""
        text, blocks = message
        dedupe_key = f"{kind}/{key.subscription_id}/{key.renewal_date.isoformat()}/{key.touchpoint}"
        queue_staff_message(self.ops, dedupe_key, kind, text, blocks, self.run.run_id)

    def _record(self, key: LedgerKey, row: dict[str, Any], touchpoint: Touchpoint) -> None:
        action = touchpoint.record
        assert action is not None
        if action.action == "close_ctas":
            ctas.close_open(self.ops, key, dict(action.outcomes), action.keep, self.run.run_id)
        elif action.action == "deactivate_contacts":
            contacts = offboarding.deactivate_contacts(self.ops, self.run, key)
            self._queue_staff_post(key, "deactivation", deactivation_post(row, contacts))
        elif action.action == "start_offboarding":
            offboarding.start(self.ops, key, row["member_type"], row["decline_reason"])
        if action.health_score is not None:
            ctas.record_health(self.ops, key, action.health_score, action.health_label or "", touchpoint.key,
                               self.run.run_id)  # fmt: skip

    def _preview(self, key: LedgerKey, row: dict[str, Any], touchpoint: Touchpoint, report: ShardReport) -> None:
        """A dry run renders what it would send (a CTA notification as its playbook describes it)."""
        if touchpoint.channel in ("email", "staff_email"):
            message = self._compose(row, touchpoint, None)
            ledger.record_preview(self.ops, key, self.run.run_id, message["Message-ID"], message["Subject"])
            previews.record_preview(self.ops, key, self.run.run_id, message["Message-ID"], message["Subject"],
                                    recipients(message), *bodies(message))  # fmt: skip
            log_outcome(key, touchpoint, "previewed", message)
        report.previewed += 1

    def _compose(
        self, row: dict[str, Any], touchpoint: Touchpoint, cta: dict[str, Any] | None, edit: Edit | None = None
    ) -> EmailMessage:
        return compose_message(row, touchpoint, cta, self.settings, self.renderer, self.run.as_of,
                               self.unsubscribe_secret, edit)  # fmt: skip


@dataclass(frozen=True)
class Edit:
    """Staff's wording of one touchpoint for one member (None: as the template has it)."""

    subject: str | None
    text: str | None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> Edit | None:
        """The edit a row carries (columns edit_subject, edit_text), if any."""
        if row.get("edit_subject") is None and row.get("edit_text") is None:
            return None
        return cls(row.get("edit_subject"), row.get("edit_text"))


def template_context(
    row: Mapping[str, Any], touchpoint: Touchpoint, cta: dict[str, Any] | None, settings: Settings, as_of: date
) -> dict[str, Any]:
    """The template variables of a touchpoint's message for one subscription."""
    return {
        **message_context(
            dict(row), as_of, touchpoint.key, sender_name(settings.sender), settings.support_line, settings.public_url
        ),
        "cta": cta,
    }


def compose_message(
    row: Mapping[str, Any],
    touchpoint: Touchpoint,
    cta: dict[str, Any] | None,
    settings: Settings,
    renderer: Renderer,
    as_of: date,
    unsubscribe_secret: bytes | None = None,
    edit: Edit | None = None,
) -> EmailMessage:
    """The email of a touchpoint for one subscription (to a CTA's owner when ``cta`` is given),
    in staff's words where ``edit`` gives them, with its PDF receipt when the touchpoint has one,
    and one-click unsubscribe headers on a customer reminder when ``unsubscribe_secret`` is given
    and settings.list_unsubscribe is on."""
    context = template_context(row, touchpoint, cta, settings, as_of)
    assert touchpoint.template is not None
    rendered = (
        renderer.render(touchpoint.template, context)
        if edit is None
        else renderer.render_edited(touchpoint.template, context, edit.subject, edit.text)
    )
    recipients = [cta["owner_email"]] if cta is not None else list(row["recipients"])
    message = build_email(
        sender=settings.sender,
        to=recipients,
        cc=list(row["cc"]),
        reply_to=settings.reply_to if touchpoint.channel == "email" else None,
        rendered=rendered,
        subscription_id=row["subscription_id"],
        renewal_date=row["renewal_date"],
        touchpoint=touchpoint.key,
        msg_id=message_id(row["subscription_id"], row["renewal_date"], touchpoint.key, sender_domain(settings.sender)),
    )
    reminder = touchpoint.channel == "email" and not touchpoint.transactional
    if unsubscribe_secret and settings.list_unsubscribe and reminder:
        unsubscribe.add_headers(message, unsubscribe_secret, settings.public_url, settings.unsubscribe_mailto,
                                settings.unsubscribe_days)  # fmt: skip
    if touchpoint.attachment == "receipt_pdf":
        receipt = receipt_of(row, sender_name(settings.sender))
        message.add_attachment(receipt_pdf(receipt), maintype="application", subtype="pdf",
                               filename=receipt_filename(receipt))  # fmt: skip
    return message


def payment_post(row: Mapping[str, Any]) -> Message:
    """The staff post for the payment a receipt touchpoint of ``row`` confirms."""
    return payment_received_message(
        account_name=row["account_name"], subscription_id=row["subscription_id"], renewal_date=row["renewal_date"],
        paid_on=row["paid_on"], amount=row["amount"], currency=row["currency"], invoice_number=row["invoice_number"],
        playbook=row["playbook"], tier=row["tier"],
    )  # fmt: skip


def deactivation_post(row: Mapping[str, Any], contacts: Sequence[tuple[str, str]]) -> Message:
    """The staff post for the member of ``row`` leaving: ``contacts`` (role, email) to deactivate."""
    return deactivation_message(
        account_name=row["account_name"], subscription_id=row["subscription_id"], renewal_date=row["renewal_date"],
        member_type=row["member_type"], contacts=contacts, decline_reason=row["decline_reason"],
    )  # fmt: skip


def _handoff_of(message: EmailMessage, suppressed: dict[str, str] | None) -> Handoff:
    return Handoff(
        message_id=message["Message-ID"], subject=message["Subject"], recipients=recipients(message, ("To",)),
        suppressed=suppressed,
    )  # fmt: skip


def without_suppressed(row: Mapping[str, Any], suppressed: suppressions.Suppressed) -> dict[str, Any]:
    """``row`` with its suppressed recipients (To and Cc) left out, and who they were, with their
    reasons, under ``suppressed`` (absent when nobody was)."""
    left_out = suppressed.left_out([*row["recipients"], *row["cc"]], row["playbook"])
    if not left_out:
        return dict(row)
    return {
        **row,
        "recipients": [a for a in row["recipients"] if a not in left_out],
        "cc": [a for a in row["cc"] if a not in left_out],
        "suppressed": left_out,
    }


def _renewal(key: LedgerKey, row: Mapping[str, Any]) -> ctas.Renewal:
    return ctas.Renewal(key, row["playbook"], row["account_name"], row["owner_email"], row["due_date"])


def receipt_of(row: Mapping[str, Any], organisation: str) -> Receipt:
    """The receipt of a paid renewal: the new term starts on the renewal date."""
    term_start: date = row["renewal_date"]
    return Receipt(
        organisation=organisation,
        account_name=row["account_name"],
        subscription_id=row["subscription_id"],
        invoice_number=row["invoice_number"],
        amount=row["amount"],
        currency=row["currency"],
        paid_on=row["paid_on"],
        term_start=term_start,
        term_end=term_end(term_start, row["term_months"]),
        contact_name=row["contact_name"],
    )


def set_aside_by_staff(steering: Mapping[str, Any], as_of: date) -> tuple[TouchpointStatus, SkipReason] | None:
    """What staff said of a claimed touchpoint since it was decided, read under its claim: skipped,
    held (the member is on hold) or moved to a later day; None: send it."""
    if steering["skip_reason"] is not None:
        return TouchpointStatus.SKIPPED, SkipReason.SKIPPED_BY_STAFF
    if steering["has_hold"] and (steering["held_until"] is None or steering["held_until"] > as_of):
        return TouchpointStatus.HELD, SkipReason.HELD_BY_STAFF
    if steering["move_to"] is not None and steering["move_to"] > as_of:
        return TouchpointStatus.HELD, SkipReason.MOVED_BY_STAFF
    return None


def no_longer_due(row: Mapping[str, Any], touchpoint: Touchpoint, facts: CurrentFacts | None) -> SkipReason | None:
    """Why the warehouse, read right now, says this touchpoint must not go out (None: send it).

    Every fact recorded so far counts, even one dated after the run's as-of date: a backfill
    must not remind someone who has paid since.
    """
    if facts is None:
        return SkipReason.NOT_IN_WAREHOUSE
    if facts.paused:
        return SkipReason.PAUSED
    if facts.renewal_date != row["renewal_date"]:
        return SkipReason.CYCLE_CHANGED
    gate = gate_on(GateFacts(facts.intent_confirmed_at, facts.paid_at, facts.declined_at, row["timezone"]), date.max)
    if gate not in touchpoint.gates:
        return SkipReason.GATE_CHANGED
    return None
