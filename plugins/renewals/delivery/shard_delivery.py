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
from functools import cached_property
from typing import Any, assert_never

import psycopg

from renewals.config import Settings
from renewals.decisions.dates import term_end
from renewals.decisions.gates import GateFacts, gate_on
from renewals.delivery import unsubscribe
from renewals.delivery.messages import (
    bodies,
    build_email,
    message_id,
    recipients,
    sender_domain,
    sender_name,
    unique_addresses,
)
from renewals.delivery.outcome_log import log_outcome
from renewals.delivery.receipt import Receipt, receipt_filename, receipt_pdf
from renewals.delivery.render import RenderedMessage, Renderer, message_context
from renewals.delivery.smtp import Mailer, MailerUnavailable, Outcome
from renewals.playbooks import Playbook, Touchpoint
from renewals.slack.messages import Message, cta_change_message, deactivation_message, payment_received_message
from renewals.slack.outbox import queue_staff_message
from renewals.statuses import HandoffOutcome, SkipReason, SuppressionReason, TouchpointStatus
from renewals.storage import ctas, ledger, offboarding, previews, replies, suppressions
from renewals.storage.ledger import Handoff, LedgerKey
from renewals.storage.runs import RunContext
from renewals.storage.warehouse import CurrentFacts

STAFF_COPY = "staff copy"  # the audience of a customer message's copy to the staff in copy
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

    @cached_property
    def composer(self) -> Composer:
        return Composer(self.settings, self.renderer, self.run.as_of, self.unsubscribe_secret)

    def deliver(self, cohort: str, shard: int) -> ShardReport:
        report = ShardReport()
        waiting: list[tuple[LedgerKey, dict[str, Any], Touchpoint, list[EmailMessage]]] = []
        for batch in ledger.open_rows(self.reader, self.run, cohort, shard, self.settings.batch_size):
            facts = {} if self.run.dry_run else self.recheck([row["source_id"] for row in batch])
            # one query for the whole batch's customer addresses, not one per message
            suppressed = suppressions.lookup(
                self.ops, [a for row in batch if row["channel"] == "email" for a in (*row["recipients"], *row["cc"])]
            )
            replied = replies.held(
                self.ops,
                {
                    (row["subscription_id"], row["renewal_date"], row["gate"])
                    for row in batch
                    if row["channel"] == "email"
                },
            )
            for row in batch:
                touchpoint = self.playbooks[row["playbook"]].touchpoint(row["touchpoint"])
                key = LedgerKey(row["subscription_id"], row["renewal_date"], row["touchpoint"])
                if self._honours_suppressions(touchpoint):
                    row = without_suppressed(row, suppressed)
                if not row["recipients"] and row.get("suppressed"):
                    self._skip(key, touchpoint, SkipReason.SUPPRESSED, report, row["suppressed"])
                    continue
                if touchpoint.is_reminder and (key.subscription_id, key.renewal_date) in replied:
                    self._skip(key, touchpoint, SkipReason.REPLIED, report)  # staff have the conversation
                    continue
                if self.run.dry_run:
                    self._preview(key, row, touchpoint, report)
                    continue
                reason = no_longer_due(row, touchpoint, facts.get(row["subscription_id"]))
                if reason:
                    self._skip(key, touchpoint, reason, report)
                    continue
                refused_for_now = self._carry_out(key, row, touchpoint, report)
                if refused_for_now is not None:
                    waiting.append((key, row, touchpoint, refused_for_now))
        # Temporary refusals are offered again after a bounded backoff (settings.smtp_retry_delays).
        for delay in self.settings.smtp_retry_delays:
            if not waiting:
                break
            self.sleep(delay)
            waiting = [
                (key, row, touchpoint, refused_for_now)
                for key, row, touchpoint, copies in waiting
                if (refused_for_now := self._carry_out(key, row, touchpoint, report, composed=copies)) is not None
            ]
        report.still_pending = len(waiting)
        return report

    def _honours_suppressions(self, touchpoint: Touchpoint) -> bool:
        """Customer emails leave suppressed recipients out; transactional ones only if configured."""
        return touchpoint.channel == "email" and (not touchpoint.transactional or self.settings.suppress_transactional)

    def _skip(
        self,
        key: LedgerKey,
        touchpoint: Touchpoint,
        reason: SkipReason,
        report: ShardReport,
        suppressed: dict[str, str] | None = None,
    ) -> None:
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
        composed: list[EmailMessage] | None = None,
    ) -> list[EmailMessage] | None:
        """Claim, compose (or reuse ``composed``, a retry's copies), hand over, record one touchpoint.
        Returns the copies the relay refused for now (to offer again after a backoff)."""
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
                copies: list[EmailMessage] = []
                if touchpoint.channel == "record":
                    self._record(key, row, touchpoint)
                else:  # a CTA change in _compose_for commits together with the claim
                    edit = Edit.of(claim.steering)
                    copies = composed if composed is not None else self._compose_for(key, row, touchpoint, edit)
                claim.hand_over(_handoff_of(copies, row) if copies else Handoff())
        if set_aside is not None:
            status, reason = set_aside
            log_outcome(key, touchpoint, status, detail=reason)
            report.count_skip(reason)
            return None
        if not copies:  # recorded in the ops schema only: settled with the claim
            report.recorded += 1
            log_outcome(key, touchpoint, "recorded")
            return None
        outcome, refused_for_now = self._send(key, copies, report)
        log_outcome(key, touchpoint, "retry_later" if outcome == HandoffOutcome.RETRY else outcome, copies[0])
        return refused_for_now or None

    def _send(
        self, key: LedgerKey, copies: list[EmailMessage], report: ShardReport
    ) -> tuple[HandoffOutcome, list[EmailMessage]]:
        """Hand a claimed message's copies to the relay and record the outcome; returns its status
        and the copies refused for now. The row is sent when every copy was accepted (or refused
        for good), pending while a copy was refused for now (the accepted ones are not offered
        again), unknown when a copy's hand-off broke off."""
        self.checkpoint("before_handoff")
        outcomes = [(copy, self._send_copy(copy)) for copy in copies]
        self.checkpoint("after_handoff")
        accepted = [copy["Message-ID"] for copy, outcome in outcomes if outcome.status == HandoffOutcome.SENT]
        refused_for_now = [copy for copy, outcome in outcomes if outcome.status == HandoffOutcome.RETRY]
        statuses = {outcome.status for _copy, outcome in outcomes}
        status = (
            HandoffOutcome.UNKNOWN
            if HandoffOutcome.UNKNOWN in statuses
            else HandoffOutcome.RETRY
            if refused_for_now
            else HandoffOutcome.SENT
            if accepted
            else HandoffOutcome.FAILED
        )
        details = [outcome.detail for _copy, outcome in outcomes if outcome.detail]
        ledger.settle(self.ops, key, self.run.run_id, status, "; ".join(details) or None, accepted)
        self.checkpoint("after_record")
        report.count_handoff(status)
        return status, refused_for_now if status == HandoffOutcome.RETRY else []

    def _send_copy(self, message: EmailMessage) -> Outcome:
        try:
            outcome = self.mailer.send(message)
        except MailerUnavailable as exc:  # the relay went away after an earlier copy: nothing handed over
            return Outcome(HandoffOutcome.RETRY, str(exc))
        if outcome.bounced:  # refused for good at RCPT: no more customer mail to them
            suppressions.add(
                self.ops,
                outcome.bounced,
                SuppressionReason.BOUNCED,
                source="smtp",
                detail=outcome.detail,
                created_by=f"run {self.run.run_id}",
            )
        return outcome

    def _compose_for(
        self, key: LedgerKey, row: dict[str, Any], touchpoint: Touchpoint, edit: Edit | None = None
    ) -> list[EmailMessage]:
        """The copies of a touchpoint's message (in staff's words where ``edit`` gives them; those
        not accepted by an earlier attempt); for a CTA, applies its change first and tells the
        owner only when the CTA opened or moved (no copies: nothing to send)."""
        if touchpoint.cta is None:
            if touchpoint.attachment == "receipt_pdf":  # a payment received: staff hear of it on Slack
                self._queue_staff_post(key, "payment_received", payment_post(row))
            copies = self.composer.copies(row, touchpoint, edit)
            if row.get("attempts"):  # a message refused for now in an earlier run: its accepted copies stay out
                accepted = ledger.accepted_copies(self.ops, key)
                copies = [copy for copy in copies if copy["Message-ID"] not in accepted]
            return copies
        cta = ctas.apply_change(self.ops, _renewal(key, row), touchpoint.cta, self.settings.teams, self.run.run_id)
        if not cta["notify"]:
            return []
        self._queue_staff_post(key, "cta", cta_change_message(cta, row["account_name"], key.subscription_id))
        return [self.composer.message(row, touchpoint, cta)]

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
            ctas.record_health(
                self.ops, key, action.health_score, action.health_label or "", touchpoint.key, self.run.run_id
            )

    def _preview(self, key: LedgerKey, row: dict[str, Any], touchpoint: Touchpoint, report: ShardReport) -> None:
        """A dry run renders what it would send (a CTA notification as its playbook describes it),
        in staff's words where they edited it, as the send would."""
        if touchpoint.channel in ("email", "staff_email"):
            message = self.composer.message(row, touchpoint, edit=Edit.of(row))
            ledger.record_preview(self.ops, key, self.run.run_id, message["Message-ID"], message["Subject"])
            previews.record_preview(
                self.ops,
                key,
                self.run.run_id,
                message["Message-ID"],
                message["Subject"],
                recipients(message),
                *bodies(message),
            )
            log_outcome(key, touchpoint, "previewed", message)
        report.previewed += 1


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


@dataclass(frozen=True)
class Composer:
    """Composes a run's (or a preview's) emails as of one day: what every message of it shares."""

    settings: Settings
    renderer: Renderer
    as_of: date
    unsubscribe_secret: bytes | None = None  # signs each copy's own links (None: no links, a preview)

    def render(
        self,
        row: Mapping[str, Any],
        touchpoint: Touchpoint,
        cta: dict[str, Any] | None = None,
        edit: Edit | None = None,
        links: Mapping[str, Any] | None = None,
    ) -> RenderedMessage:
        """The subject and parts of a touchpoint's email (what :meth:`message` sends), in staff's
        words where ``edit`` gives them, with a recipient's public ``links`` (none: a preview's)."""
        links = links or {}
        context = {
            **template_context(row, touchpoint, cta, self.settings, self.as_of),
            "answer_links": links.get("answers"),
            "unsubscribe_link": links.get("unsubscribe"),
        }
        assert touchpoint.template is not None
        if edit is None:
            return self.renderer.render(touchpoint.template, context)
        return self.renderer.render_edited(touchpoint.template, context, edit.subject, edit.text)

    def message(
        self,
        row: Mapping[str, Any],
        touchpoint: Touchpoint,
        cta: dict[str, Any] | None = None,
        edit: Edit | None = None,
        recipient: str | None = None,
        audience: str | None = None,
    ) -> EmailMessage:
        """The email of a touchpoint for one subscription (to a CTA's owner when ``cta`` is given),
        in staff's words where ``edit`` gives them, with its PDF receipt when the touchpoint has one.
        ``recipient``: the copy of a customer reminder for that one recipient, with their own links
        (unsubscribe where settings.list_unsubscribe is on, and the one-click answers where the
        reminder asks a decision); ``audience`` tells its Message-ID from the other copies'."""
        settings = self.settings
        if recipient is not None and "recipient_names" in row:  # the copy greets its one recipient, by name if known
            name = (row["recipient_names"] or {}).get(recipient.lower())
            row = {**row, "contact_names": [name] if name else [], "contact_name": name}
        links = self._links(row, touchpoint, recipient)
        rendered = self.render(row, touchpoint, cta, edit, links)
        if cta is not None:
            to, cc = [cta["owner_email"]], list(row["cc"])
        elif recipient is not None:
            to, cc = [recipient], []
        else:
            to, cc = list(row["recipients"]), list(row["cc"])
        customers = touchpoint.channel == "email" and cta is None and audience != STAFF_COPY
        domain = sender_domain(settings.sender)
        message = build_email(
            sender=settings.sender,
            to=to,
            cc=cc,
            reply_to=settings.reply_to if touchpoint.channel == "email" else None,
            rendered=rendered,
            subscription_id=row["subscription_id"],
            renewal_date=row["renewal_date"],
            touchpoint=touchpoint.key,
            msg_id=message_id(row["subscription_id"], row["renewal_date"], touchpoint.key, domain, audience),
            to_names=customer_names(row, to) if customers else None,
        )
        if "unsubscribe" in links:
            unsubscribe.add_headers(message, links["unsubscribe"], settings.unsubscribe_mailto)
        if touchpoint.attachment == "receipt_pdf":
            receipt = receipt_of(row, sender_name(settings.sender))
            message.add_attachment(
                receipt_pdf(receipt), maintype="application", subtype="pdf", filename=receipt_filename(receipt)
            )
        return message

    def copies(self, row: Mapping[str, Any], touchpoint: Touchpoint, edit: Edit | None = None) -> list[EmailMessage]:
        """What a touchpoint sends: one message, or, when it carries per-recipient links, one copy per
        customer recipient (each acting for that recipient only: an unsubscribe or an answer never
        speaks for the other contacts) and one copy for the staff in copy, without links."""
        if not carries_links(touchpoint, self.settings, self.unsubscribe_secret) or not row["recipients"]:
            return [self.message(row, touchpoint, edit=edit)]
        # each copy its own Message-ID; the first keeps the touchpoint's own (the ledger's, a preview's)
        copies = [
            self.message(row, touchpoint, edit=edit, recipient=recipient, audience=recipient.lower() if n else None)
            for n, recipient in enumerate(unique_addresses(list(row["recipients"])))
        ]
        customers = {address.lower() for address in row["recipients"]}
        staff = [address for address in unique_addresses(list(row["cc"])) if address.lower() not in customers]
        if staff:
            copies.append(
                self.message({**row, "recipients": staff, "cc": []}, touchpoint, edit=edit, audience=STAFF_COPY)
            )
        return copies

    def _links(self, row: Mapping[str, Any], touchpoint: Touchpoint, recipient: str | None) -> dict[str, Any]:
        """The public links of ``recipient``'s copy: ``unsubscribe`` (a URL) and ``answers`` ({intent, decline})."""
        secret, settings = self.unsubscribe_secret, self.settings
        if recipient is None or secret is None:
            return {}
        links: dict[str, Any] = {}
        if touchpoint.is_reminder and settings.list_unsubscribe:
            links["unsubscribe"] = unsubscribe.unsubscribe_link(
                secret, settings.public_url, recipient, settings.unsubscribe_days
            )
        if touchpoint.asks_decision:
            answer = unsubscribe.Answer(
                row["subscription_id"], row["renewal_date"], "intent", recipient, touchpoint.key, self.as_of
            )
            links["answers"] = unsubscribe.answer_links(secret, settings.public_url, answer, settings.unsubscribe_days)
        return links


def customer_names(row: Mapping[str, Any], addresses: Sequence[str]) -> dict[str, str]:
    """The display name of each customer address a message goes to: the contact's name, else the
    account's (a bare address whose domain matches the subject's first word looks like spam)."""
    known = row.get("recipient_names") or {}
    return {address.lower(): known.get(address.lower()) or row["account_name"] for address in addresses}


def carries_links(touchpoint: Touchpoint, settings: Settings, unsubscribe_secret: bytes | None) -> bool:
    """Whether a touchpoint's customer message carries per-recipient links (so goes one copy per recipient)."""
    return bool(unsubscribe_secret) and (
        (touchpoint.is_reminder and settings.list_unsubscribe) or touchpoint.asks_decision
    )


def payment_post(row: Mapping[str, Any]) -> Message:
    """The staff post for the payment a receipt touchpoint of ``row`` confirms."""
    return payment_received_message(
        account_name=row["account_name"],
        subscription_id=row["subscription_id"],
        renewal_date=row["renewal_date"],
        paid_on=row["paid_on"],
        amount=row["amount"],
        currency=row["currency"],
        invoice_number=row["invoice_number"],
        playbook=row["playbook"],
        tier=row["tier"],
    )


def deactivation_post(row: Mapping[str, Any], contacts: Sequence[tuple[str, str]]) -> Message:
    """The staff post for the member of ``row`` leaving: ``contacts`` (role, email) to deactivate."""
    return deactivation_message(
        account_name=row["account_name"],
        subscription_id=row["subscription_id"],
        renewal_date=row["renewal_date"],
        member_type=row["member_type"],
        contacts=contacts,
        decline_reason=row["decline_reason"],
    )


def _handoff_of(copies: Sequence[EmailMessage], row: Mapping[str, Any]) -> Handoff:
    """The hand-off of a message's copies: the first copy's Message-ID and subject, and the customer
    recipients of them all (the staff copy is in the row's cc)."""
    staff = {address.lower() for address in row["cc"]}
    to = unique_addresses([a for copy in copies for a in recipients(copy, ("To",))])
    return Handoff(
        message_id=copies[0]["Message-ID"],
        subject=copies[0]["Subject"],
        recipients=[a for a in to if a.lower() not in staff] or to,
        suppressed=row.get("suppressed"),
        copies=[(copy["Message-ID"], recipients(copy)) for copy in copies],
    )


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
