"""Staff hear of each member's one-click answer by email where the playbook says (the owner, or a
team), through the real SMTP server: once per answer whatever retries the publish step gets, a
refusal for now sent by the next publish, and the warehouse's and the member's words kept data."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from email.message import EmailMessage

from devenv.inprocess import run_day
from renewals.delivery.unsubscribe import Answer
from renewals.pipeline import finish_run
from renewals.reports.publish import publish_run
from renewals.storage import answers

AS_OF = date(2026, 12, 1)
RENEWAL = AS_OF + timedelta(days=30)  # the run of AS_OF sends renewal_confirmation (-30), which asks
HOSTILE = 'Acme <b>bold</b>\r\nBcc: thief@evil.example "&'


def answer(ops, subscription_id: str, kind: str, reason: str | None = None) -> None:
    """What the public answer page records from a member's link (renewals.console.public)."""
    given = Answer(subscription_id, RENEWAL, kind, f"primary.{subscription_id.lower()}@members.example.com", "x", AS_OF)
    answers.record(ops, given, reason, f"digest-{subscription_id}-{kind}")


def staff_emails(mailbox) -> list[EmailMessage]:
    return [m for m in mailbox.messages if m["X-Renewal-Touchpoint"] == "member_answer"]


def test_staff_hear_of_each_answer_by_email_once_where_the_playbook_says(world, resources, ops, mailbox):
    world.subscription("S-MEMBER", RENEWAL)  # membership: membership staff hear of it
    world.subscription("S-CONTRACT", RENEWAL, playbook="contract", owner_email="rep@example.org", account_name=HOSTILE)
    world.subscription("S-SALES", RENEWAL, playbook="sales", assigned_at=AS_OF)  # no answer emails
    run = run_day(resources, AS_OF, "day-1", finish=True)  # records the renewal cycles
    answer(ops, "S-MEMBER", "intent")
    answer(ops, "S-CONTRACT", "decline", reason="<script>alert(1)</script> too expensive\nBcc: x@evil.example")
    answer(ops, "S-SALES", "intent")

    outcome = publish_run(resources, run)
    publish_run(resources, run)  # the task's retry
    publish_run(resources, run_day(resources, AS_OF + timedelta(days=1), "day-2", finish=True))  # the next run

    assert outcome["answer_emails"]["sent"] == 2 and outcome["answer_emails"]["not_configured"] == 1
    emails = {m["X-Renewal-Subscription"]: m for m in staff_emails(mailbox)}
    assert len(staff_emails(mailbox)) == 2  # once each
    member, contract = emails["S-MEMBER"], emails["S-CONTRACT"]
    assert member["X-Envelope-To"] == "membership@example.org"
    assert str(member["Subject"]) == "Intends to renew: Account S-MEMBER"
    assert "they intend to renew for the term starting 31 December 2026" in member.get_body(("plain",)).get_content()

    # the warehouse's account name and the member's reason are data: no header, no markup
    assert contract["X-Envelope-To"] == "rep@example.org" and contract["Bcc"] is None
    assert str(contract["Subject"]) == "Will not renew: " + " ".join(HOSTILE.split())
    html = contract.get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; too expensive" in html
    assert "Acme &lt;b&gt;bold&lt;/b&gt;" in html
    statuses = dict(ops.execute("select answer_id, status from renewals.answer_emails").fetchall())
    assert sorted(statuses.values()) == ["not_configured", "sent", "sent"]


def test_an_answer_email_refused_for_now_goes_with_the_next_publish(world, resources, ops, mailbox):
    world.subscription("S-MEMBER", RENEWAL)
    run = run_day(resources, AS_OF, "day-1")
    finish_run(resources, run)
    answer(ops, "S-MEMBER", "decline")
    mailbox.fail_next(451, "4.3.0 try again later")

    assert publish_run(resources, run)["answer_emails"]["retry"] == 1
    assert staff_emails(mailbox) == []
    down = replace(resources, smtp_connect=lambda: (_ for _ in ()).throw(OSError("relay down")))
    assert publish_run(down, run)["answer_emails"]["retry"] == 1  # an outage claims nothing
    assert publish_run(resources, run)["answer_emails"]["sent"] == 1
    assert len(staff_emails(mailbox)) == 1
    assert ops.execute("select status, attempts from renewals.answer_emails").fetchall() == [("sent", 2)]
