"""Staff hear of each member's one-click answer by email where its playbook says
(``answers_to_staff``: teams and/or the subscription's owner), beside the Slack staff post.

The public pages record an answer with the least rights (no SMTP, no playbooks); the run's publish
step emails it. Exactly once per answer: its row of ``renewals.answer_emails`` is committed
'unknown' right before the hand-off and settled after it, so a retry of the step, or two runs
publishing together, never send it twice; a crash between the two leaves 'unknown' for an
operator, as the ledger does. A refusal for now is offered again by the next publish.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from email.message import EmailMessage
from typing import Any

import psycopg
from psycopg.rows import dict_row

from renewals.config import Settings
from renewals.delivery.messages import build_email, message_id, sender_domain, sender_name
from renewals.delivery.render import Renderer, message_context
from renewals.delivery.smtp import Mailer, MailerUnavailable, Outcome
from renewals.playbooks import Playbook
from renewals.playbooks.model import OWNER
from renewals.statuses import AnswerEmailStatus, HandoffOutcome
from renewals.storage.sql_files import sql_text

log = logging.getLogger(__name__)

TEMPLATE = "staff/member_answer"
MAX_ATTEMPTS = 5  # publishes that offer an answer's email refused for now before it is marked failed


@dataclass
class AnswerEmailReport:
    sent: int = 0
    failed: int = 0
    unknown: int = 0  # the hand-off broke off: an operator looks it up in the relay's log
    retry: int = 0  # refused for now, or the relay was down: the next publish offers them again
    not_configured: int = 0
    taken_elsewhere: int = 0


def staff_addresses(playbook: Playbook | None, row: Mapping[str, Any], settings: Settings) -> list[str]:
    """Who the playbook says hears of an answer: its teams' addresses and the subscription's owner."""
    if playbook is None:
        return []
    return [
        row["owner_email"] if name == OWNER else settings.team_address(name)
        for name in playbook.answers_to_staff
        if name != OWNER or row["owner_email"]
    ]


def compose(row: Mapping[str, Any], to: list[str], settings: Settings, renderer: Renderer, today: date) -> EmailMessage:
    """The staff email of one answer; warehouse text and the member's reason are data (escaped in
    the HTML part, one line in the subject)."""
    context = {
        **message_context(
            dict(row), today, "member_answer", sender_name(settings.sender), settings.support_line, settings.public_url
        ),
        "answer": row["answer"],
        "reason": row["reason"],
        "recipient": row["recipient"],
        "answered_at": row["answered_at"],
    }
    key = f"answer/{row['answer_id']}"
    return build_email(
        sender=settings.sender,
        to=to,
        cc=[],
        reply_to=None,
        rendered=renderer.render(TEMPLATE, context),
        subscription_id=row["subscription_id"],
        renewal_date=row["renewal_date"],
        touchpoint="member_answer",
        msg_id=message_id(row["subscription_id"], row["renewal_date"], key, sender_domain(settings.sender)),
    )


def email_answers(
    ops: psycopg.Connection,
    mailer: Mailer,
    playbooks: Mapping[str, Playbook],
    settings: Settings,
    renderer: Renderer,
    today: date,
) -> AnswerEmailReport:
    """Email staff every answer not yet emailed (``ops``: autocommit). The relay being down leaves
    them for the next publish; it never fails the step."""
    report = AnswerEmailReport()
    with ops.cursor(row_factory=dict_row) as cur:
        due = cur.execute(sql_text("deliver/answers_to_email.sql")).fetchall()
    addressed = []
    for row in due:
        to = staff_addresses(playbooks.get(row["playbook"]), row, settings)
        if to:
            addressed.append((row, to))
        else:
            _record_not_configured(ops, row["answer_id"])
            report.not_configured += 1
    if not addressed:
        return report
    try:
        mailer.ensure_connected()  # before any claim: an outage claims nothing
    except MailerUnavailable as exc:
        log.warning("%d answer email(s) wait for the next publish: %s", len(addressed), exc)
        report.retry += len(addressed)
        return report
    for row, to in addressed:
        message = compose(row, to, settings, renderer, today)
        if not _claim(ops, row["answer_id"], to, message["Message-ID"]):
            report.taken_elsewhere += 1
            continue
        status = _settle(ops, row["answer_id"], _hand_over(mailer, message), row["attempts"] or 0)
        setattr(report, status.value, getattr(report, status.value) + 1)
    return report


def _hand_over(mailer: Mailer, message: EmailMessage) -> Outcome:
    try:
        return mailer.send(message)
    except MailerUnavailable as exc:  # the relay went away: nothing was handed over
        return Outcome(HandoffOutcome.RETRY, str(exc))


def _record_not_configured(ops: psycopg.Connection, answer_id: int) -> None:
    ops.execute(
        """
        insert into renewals.answer_emails (answer_id, status, detail)
        values (%s, 'not_configured', 'the playbook emails nobody of answers, or no address is known')
        on conflict (answer_id) do nothing
        """,
        (answer_id,),
    )


def _claim(ops: psycopg.Connection, answer_id: int, to: list[str], msg_id: str) -> bool:
    """Commit the answer's email as 'unknown' before the hand-off; False: another publish has it."""
    return (
        ops.execute(
            """
            insert into renewals.answer_emails as e (answer_id, status, recipients, message_id, attempts)
            values (%s, 'unknown', %s, %s, 1)
            on conflict (answer_id) do update
            set status = 'unknown', recipients = excluded.recipients, attempts = e.attempts + 1, updated_at = now()
            where e.status = 'retry'
            returning answer_id
            """,
            (answer_id, to, msg_id),
        ).fetchone()
        is not None
    )


def _settle(ops: psycopg.Connection, answer_id: int, outcome: Outcome, attempts_before: int) -> AnswerEmailStatus:
    status = {
        HandoffOutcome.SENT: AnswerEmailStatus.SENT,
        HandoffOutcome.FAILED: AnswerEmailStatus.FAILED,
        HandoffOutcome.UNKNOWN: AnswerEmailStatus.UNKNOWN,
        HandoffOutcome.RETRY: AnswerEmailStatus.RETRY
        if attempts_before + 1 < MAX_ATTEMPTS
        else AnswerEmailStatus.FAILED,
    }[outcome.status]
    ops.execute(
        "update renewals.answer_emails set status = %s, detail = %s, updated_at = now() where answer_id = %s",
        (status, outcome.detail, answer_id),
    )
    return status
