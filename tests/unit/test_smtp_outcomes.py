"""What becomes of a hand-off to SMTP (docs/how-a-day-is-decided.md): 'sent' only when accepted, 'retry' on a temporary
refusal, 'failed' on a permanent one, and an unreachable server before anything is handed over."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from email.message import EmailMessage

import pytest

from devenv.mailbox import FileMailbox
from renewals.delivery.smtp import FAILED, RETRY, SENT, Mailer, MailerUnavailable


def email(to: list[str] | None = None, touchpoint: str = "renewal_reminder_15") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Membership Services <renewals@example.org>"
    message["To"] = ", ".join(to or ["jane@acme.example"])
    message["Subject"] = "Your membership renews on 21 December 2026"
    message["Message-ID"] = f"<{touchpoint}.S-000042@example.org>"
    message["X-Renewal-Subscription"] = "S-000042"
    message["X-Renewal-Date"] = "2026-12-21"
    message["X-Renewal-Touchpoint"] = touchpoint
    message.set_content("Please confirm your renewal.\n")
    return message


def mailer_for(box: FileMailbox) -> Mailer:
    port = box.port
    return Mailer(lambda: smtplib.SMTP("127.0.0.1", port, timeout=5))


@pytest.fixture
def mailer(mailbox: FileMailbox) -> Iterator[Mailer]:
    mailer = mailer_for(mailbox)
    yield mailer
    mailer.close()


def touchpoints(box: FileMailbox) -> list[str]:
    return [message["X-Renewal-Touchpoint"] for message in box.messages]


def test_accepted_message_is_sent(mailbox, mailer):
    outcome = mailer.send(email())
    assert outcome.status == SENT
    assert outcome.detail is None
    assert len(mailbox.messages) == 1
    assert mailbox.messages[0]["X-Renewal-Subscription"] == "S-000042"


def test_one_connection_carries_several_messages(mailbox, mailer):
    for key in ("renewal_reminder_15", "renewal_reminder_1", "renewal_reminder_0"):
        assert mailer.send(email(touchpoint=key)).status == SENT
    assert touchpoints(mailbox) == ["renewal_reminder_15", "renewal_reminder_1", "renewal_reminder_0"]


def test_temporary_refusal_at_data_is_retry_and_the_next_send_succeeds(mailbox, mailer):
    mailbox.fail_next(451, "4.3.0 Try again later", stage="DATA")
    outcome = mailer.send(email(touchpoint="renewal_reminder_15"))
    assert outcome.status == RETRY
    assert "451" in outcome.detail
    assert mailbox.messages == []
    again = mailer.send(email(touchpoint="renewal_reminder_15"))
    assert again.status == SENT
    assert touchpoints(mailbox) == ["renewal_reminder_15"]


def test_permanent_refusal_of_the_only_recipient_is_failed_with_the_server_text(mailbox, mailer):
    mailbox.reject_recipient("gone@acme.example", 550, "5.1.1 Mailbox unavailable")
    outcome = mailer.send(email(to=["gone@acme.example"]))
    assert outcome.status == FAILED
    assert "gone@acme.example" in outcome.detail
    assert "550" in outcome.detail
    assert "5.1.1 Mailbox unavailable" in outcome.detail
    assert mailbox.messages == []


def test_session_stays_usable_after_a_permanent_refusal(mailbox, mailer):
    mailbox.reject_recipient("gone@acme.example")
    assert mailer.send(email(to=["gone@acme.example"], touchpoint="renewal_reminder_1")).status == FAILED
    assert mailer.send(email(to=["jane@acme.example"], touchpoint="renewal_reminder_0")).status == SENT
    assert touchpoints(mailbox) == ["renewal_reminder_0"]


def test_one_of_two_recipients_refused_is_sent_with_the_refused_address_in_detail(mailbox, mailer):
    mailbox.reject_recipient("gone@acme.example", 550, "5.1.1 Mailbox unavailable")
    outcome = mailer.send(email(to=["jane@acme.example", "gone@acme.example"]))
    assert outcome.status == SENT
    assert "gone@acme.example" in outcome.detail
    assert "550" in outcome.detail
    assert "jane@acme.example" not in outcome.detail
    assert mailbox.messages[0]["X-Envelope-To"] == "jane@acme.example"


def test_temporary_refusal_of_every_recipient_is_retry(mailbox, mailer):
    mailbox.fail_next(450, "4.2.1 Mailbox busy", stage="RCPT")
    outcome = mailer.send(email())
    assert outcome.status == RETRY
    assert "450" in outcome.detail
    assert mailbox.messages == []


def test_service_not_available_at_mail_is_retry_and_the_mailer_recovers(mailbox, mailer):
    mailbox.fail_next(421, "4.3.2 Service shutting down", stage="MAIL")
    outcome = mailer.send(email())
    assert outcome.status == RETRY
    assert "421" in outcome.detail
    assert mailbox.messages == []
    assert mailer.send(email()).status == SENT
    assert len(mailbox.messages) == 1


def test_permanent_refusal_at_data_is_failed(mailbox, mailer):
    mailbox.fail_next(554, "5.7.1 Message rejected as spam", stage="DATA")
    outcome = mailer.send(email())
    assert outcome.status == FAILED
    assert "5.7.1 Message rejected as spam" in outcome.detail
    assert mailbox.messages == []


def test_server_down_before_connecting_raises_mailer_unavailable(mailbox):
    mailer = mailer_for(mailbox)
    mailbox.stop()
    with pytest.raises(MailerUnavailable):
        mailer.ensure_connected()
    with pytest.raises(MailerUnavailable):
        mailer.send(email())


def test_a_server_gone_between_messages_means_retry_then_unavailable(mailbox):
    mailer = mailer_for(mailbox)
    assert mailer.send(email(touchpoint="renewal_reminder_15")).status == SENT
    mailbox.stop()
    outcome = mailer.send(email(touchpoint="renewal_reminder_1"))
    assert outcome.status == RETRY, "nothing was handed over, so the message may be offered again"
    assert "before the message was handed over" in outcome.detail
    with pytest.raises(MailerUnavailable):
        mailer.ensure_connected()


def test_a_dropped_session_is_reopened_instead_of_reporting_unknown(tmp_path):
    with FileMailbox(tmp_path / "first") as first:
        port = first.port
        mailer = Mailer(lambda: smtplib.SMTP("127.0.0.1", port, timeout=5))
        assert mailer.send(email(touchpoint="renewal_reminder_15")).status == SENT
    with FileMailbox(tmp_path / "second", port=port) as second:
        outcome = mailer.send(email(touchpoint="renewal_reminder_1"))
        mailer.close()
        assert outcome.status == SENT
        assert touchpoints(second) == ["renewal_reminder_1"]
