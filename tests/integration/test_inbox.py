"""Replies read from the inbox (a real dovecot IMAP server, messages put in with APPEND): a
person's reply stops the member's reminders for the cycle (ledger: skipped, 'replied') and opens a
task for staff until they resume; an automatic reply does not; a late bounce suppresses the
address; mail about nothing of ours is left alone; each message is handled once, also when the
reading crashes between fetch and record."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import replace
from datetime import date, timedelta
from email.message import EmailMessage

import pytest

from devenv import inprocess
from renewals.inbox import HANDLED_FLAG, read_inbox
from renewals.storage import replies
from renewals.storage.db import connect
from tests.daily import resources_for
from tests.imap_server import ImapServer
from tests.world import contact_email

AS_OF = date(2026, 12, 1)
RENEWAL = AS_OF + timedelta(days=15)  # the run of AS_OF sends renewal_reminder_15


@pytest.fixture
def imap() -> Iterator[ImapServer]:
    server = ImapServer.start()
    try:
        yield server
    finally:
        server.stop()


def inbox_resources(databases, mailbox, imap: ImapServer):
    @contextmanager
    def session():
        client = imap.client()
        try:
            yield client
        finally:
            client.logout()

    return replace(resources_for(databases, mailbox, unsubscribe_secret=b"s" * 32), inbox=session)


def run_day(resources, as_of: date, run_id: str) -> None:
    inprocess.run_day(resources, as_of, run_id, finish=True)  # the summary records the renewal cycles


def answer_to(original: EmailMessage, body: str, **headers: str) -> bytes:
    """What a member's mail client sends back: In-Reply-To and References name our message."""
    reply = EmailMessage()
    reply["From"] = original["X-Envelope-To"]
    reply["To"] = "membership@example.org"
    reply["Subject"] = "Re: " + str(original["Subject"])
    reply["Message-ID"] = f"<reply-{abs(hash((original['Message-ID'], body)))}@members.example.com>"
    reply["In-Reply-To"] = original["Message-ID"]
    reply["References"] = original["Message-ID"]
    for name, value in headers.items():
        reply[name.replace("_", "-")] = value
    reply.set_content(body + "\n\nOn Tue, someone wrote:\n> the reminder\n")
    return bytes(reply)


def bounce_of(original: EmailMessage, address: str) -> bytes:
    """A delivery-status notification (RFC 3464) of ``original`` for ``address``, arriving later."""
    return f"""\
From: Mail Delivery System <MAILER-DAEMON@relay.example.net>
To: renewals@example.org
Subject: Undelivered Mail Returned to Sender
Message-ID: <dsn-1@relay.example.net>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

This is the mail system: your message could not be delivered.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; relay.example.net

Final-Recipient: rfc822; {address}
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 user unknown

--B
Content-Type: text/rfc822-headers

Message-ID: {original["Message-ID"]}
Subject: {original["Subject"]}

--B--
""".replace("\n", "\r\n").encode()


def ledger(ops, subscription_id: str) -> dict[str, tuple]:
    rows = ops.execute(
        "select touchpoint, status, reason from renewals.touchpoints where subscription_id = %s", (subscription_id,)
    ).fetchall()
    return {touchpoint: (status, reason) for touchpoint, status, reason in rows}


def reminder(mailbox, subscription_id: str) -> EmailMessage:
    return next(m for m in mailbox.messages if m["X-Renewal-Subscription"] == subscription_id)


def test_a_reply_hands_the_member_to_staff_and_an_auto_reply_does_not(world, databases, mailbox, ops, imap):
    for subscription_id in ("S-REPLY", "S-AWAY", "S-BOUNCE"):
        world.subscription(subscription_id, RENEWAL)
    resources = inbox_resources(databases, mailbox, imap)
    run_day(resources, AS_OF, "day-1")

    imap.append(answer_to(reminder(mailbox, "S-REPLY"), "Can we move to the premier tier?\nThanks, Ann"))
    imap.append(
        answer_to(
            reminder(mailbox, "S-AWAY"), "I am out of the office until 14 December.", Auto_Submitted="auto-replied"
        )
    )
    imap.append(bounce_of(reminder(mailbox, "S-BOUNCE"), contact_email("S-BOUNCE", "primary")))
    imap.append(b"From: someone@else.example\r\nSubject: hello\r\nMessage-ID: <x@else.example>\r\n\r\nhi\r\n")

    run_day(resources, RENEWAL - timedelta(days=1), "day-2")

    assert ledger(ops, "S-REPLY")["renewal_reminder_1"] == ("skipped", "replied")
    assert ledger(ops, "S-AWAY")["renewal_reminder_1"] == ("sent", None)
    assert ledger(ops, "S-BOUNCE")["renewal_reminder_1"] == ("skipped", "suppressed")
    assert ops.execute("select reason, source from renewals.suppressions").fetchall() == [("bounced", "inbox")]
    kinds = ops.execute("select uid, kind, subscription_id from renewals.inbox_messages order by uid").fetchall()
    assert kinds == [
        (1, "reply", "S-REPLY"),
        (2, "auto_reply", "S-AWAY"),
        (3, "bounce", "S-BOUNCE"),
        (4, "unmatched", None),
    ]
    flags = imap.flags()
    assert all(HANDLED_FLAG in flags[uid] for uid in (1, 2, 3)) and HANDLED_FLAG not in flags[4]
    cta = ops.execute(
        "select c.owner_email, e.detail from renewals.ctas c join renewals.cta_events e using (cta_id)"
        " where c.type = 'member_reply' and c.subscription_id = 'S-REPLY' and e.kind = 'opened'"
    ).fetchone()
    assert cta == ("owner@example.org", "Can we move to the premier tier?\nThanks, Ann")
    posts = ops.execute("select text from renewals.slack_outbox where kind = 'member_reply'").fetchall()
    assert len(posts) == 1 and "S-REPLY" in posts[0][0]

    # Staff resume the sequence from the console: the next reminder goes out.
    assert replies.resume(ops, "S-REPLY", "staff@example.org") == 1
    run_day(resources, RENEWAL, "day-3")
    assert ledger(ops, "S-REPLY")["renewal_reminder_0"] == ("sent", None)


class Crash(Exception):
    pass


@pytest.mark.parametrize("point", ["after_fetch", "after_record"])
def test_a_crash_while_reading_handles_nothing_twice_and_loses_nothing(world, databases, mailbox, ops, imap, point):
    for subscription_id in ("S-1", "S-2", "S-3"):
        world.subscription(subscription_id, RENEWAL)
    resources = inbox_resources(databases, mailbox, imap)
    run_day(resources, AS_OF, "day-1")
    for subscription_id in ("S-1", "S-2", "S-3"):
        imap.append(answer_to(reminder(mailbox, subscription_id), f"A question from {subscription_id}"))

    calls = []

    def crash_on_second(at: str) -> None:
        calls.append(at)
        if at == point and calls.count(point) == 2:
            raise Crash(at)

    inbox = inbox_resources(databases, mailbox, imap).inbox
    with inbox() as client, closing(connect(databases["ops"], autocommit=True)) as conn, pytest.raises(Crash):
        read_inbox(client, conn, resources.settings.teams, checkpoint=crash_on_second)
    with inbox() as client, closing(connect(databases["ops"], autocommit=True)) as conn:  # the retry
        read_inbox(client, conn, resources.settings.teams)
        read_inbox(client, conn, resources.settings.teams)  # and one more: nothing new

    handled = ops.execute("select uid, subscription_id from renewals.inbox_messages order by uid").fetchall()
    assert handled == [(1, "S-1"), (2, "S-2"), (3, "S-3")]
    assert ops.execute("select count(*) from renewals.reply_holds").fetchone() == (3,)
    assert ops.execute("select count(*) from renewals.slack_outbox where kind = 'member_reply'").fetchone() == (3,)
    assert all(HANDLED_FLAG in flags for flags in imap.flags().values())
