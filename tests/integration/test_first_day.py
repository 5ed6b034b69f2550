"""A first day without surprises (issue 27): the messages as a member or a colleague receives them
(read back from the real SMTP server, text and HTML), the run summary's three kinds of work and the
history a first run settles, a refused run that says why, paused members in the audit tables and
the per-renewal history view."""

from __future__ import annotations

import re
from datetime import date, timedelta
from email.message import EmailMessage
from types import SimpleNamespace

import pytest

from devenv.inprocess import run_day
from renewals.manual_runs import ManualRunRefused, check_subscription_exists, refusal_recorded
from renewals.reports.summary import CUSTOMER_EMAILS, STAFF_EMAILS, STEPS_RECORDED, format_summary, run_summary
from renewals.run_labels import refused_note
from renewals.storage.runs import RunContext
from tests.daily import resources_for
from tests.world import first_copies

AS_OF = date(2026, 12, 1)  # a Tuesday: the first business day of December


@pytest.fixture
def resources(databases, mailbox):
    return resources_for(databases, mailbox, public_url="https://airflow.example.org")


def parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    return text, html


def by_touchpoint(mailbox, touchpoint: str, subscription_id: str) -> EmailMessage:
    """The touchpoint's message (of one sent as a copy per recipient, the first copy)."""
    key = (touchpoint, subscription_id)
    [message] = [
        m for m in first_copies(mailbox.messages) if (m["X-Renewal-Touchpoint"], m["X-Renewal-Subscription"]) == key
    ]
    return message


def test_messages_name_the_new_term_greet_each_recipient_and_link_staff_to_the_member(world, resources, mailbox):
    world.subscription("S-DEC", AS_OF + timedelta(days=15))  # renewal_reminder_15, renewal on 16 December 2026
    world.subscription("S-FEB", date(2027, 2, 15))  # renewal_notice: first business day two months before
    world.subscription("S-LATE", AS_OF - timedelta(days=1), roles=())  # overdue_notice_1 to two named contacts
    world.contact("S-LATE", "primary", name="Kemi Kowalski")
    world.contact("S-LATE", "billing", name="Jane Doe")
    world.subscription("S-RISK", AS_OF + timedelta(days=14))  # risk_cta: its owner is told by email

    run_day(resources, AS_OF, finish=True)

    reminder_text, reminder_html = parts(by_touchpoint(mailbox, "renewal_reminder_15", "S-DEC"))
    for body in (reminder_text, reminder_html):
        assert "for the term 16 December 2026 to 15 December 2027" in body
        assert "renew for 2026" not in body
    notice = by_touchpoint(mailbox, "renewal_notice", "S-FEB")
    assert notice["Subject"] == "Your membership renewal on 15 February 2027: Account S-FEB"
    for body in parts(notice):
        assert "for the term 15 February 2027 to 14 February 2028" in body

    # the overdue notice goes as one copy per contact (each with its own links), each greeting its reader
    overdue = {
        m["To"].addresses[0].addr_spec: m
        for m in mailbox.messages
        if (m["X-Renewal-Touchpoint"], m["X-Renewal-Subscription"]) == ("overdue_notice_1", "S-LATE")
    }
    customers = sorted(address for address in overdue if address.endswith("@members.example.com"))
    assert customers == sorted(["primary.s-late@members.example.com", "billing.s-late@members.example.com"])
    for address, name in (
        ("primary.s-late@members.example.com", "Kemi Kowalski"),
        ("billing.s-late@members.example.com", "Jane Doe"),
    ):
        overdue_text, overdue_html = parts(overdue[address])
        assert overdue_text.startswith(f"Dear {name},")
        assert f"Dear {name}," in overdue_html

    staff = [
        m
        for m in mailbox.messages
        if m["X-Renewal-Subscription"] == "S-RISK" and m["X-Renewal-Touchpoint"] == "risk_cta"
    ]
    assert staff, "the risk CTA's owner is told"
    for body in parts(staff[0]):
        assert "https://airflow.example.org/renewals/members/S-RISK" in body

    for message in mailbox.messages:  # nothing a reader would frown at, in either part
        for body in parts(message):
            assert not re.search(r"\*\*|\|---|\{\{|\{%|no_response|None\b", body), (message["Subject"], body)


def test_the_approval_email_is_html_a_mail_client_shows_and_says_its_timeout_in_words(mailbox, monkeypatch):
    from renewals.decisions.approvals import ApprovalItem, request_body
    from renewals.notifications.approval import EmailApprovalNotifier

    monkeypatch.setenv(
        "AIRFLOW_CONN_RENEWALS_SMTP", f"smtp://127.0.0.1:{mailbox.port}?disable_ssl=true&disable_tls=true"
    )
    item = ApprovalItem(
        "S-000042",
        date(2026, 11, 30),
        "deactivate_contacts",
        "membership",
        "declined",
        date(2026, 12, 1),
        "Acme <Widgets> & Co",
        0,
    )
    link = lambda context, base_url: f"{base_url}/required"  # noqa: E731
    task = SimpleNamespace(
        subject="Approve 1 irreversible renewal step(s)",
        body=request_body([item], 20),
        generate_link_to_ui_from_context=link,
    )
    EmailApprovalNotifier().notify({"task": task})

    [message] = mailbox.messages
    html = message.get_body(("html",)).get_content()
    assert "No answer within 20 seconds holds every step." in html
    assert "<strong>Approve</strong>" in html and "<table>" in html and "<td>S-000042</td>" in html
    assert "Acme &lt;Widgets&gt; &amp; Co" in html
    assert "**" not in html and "|---|" not in html and "hour(s)" not in html


def test_the_summary_counts_emails_staff_emails_and_steps_apart_and_history_apart(world, resources, mailbox, ops):
    world.subscription("S-NOW", AS_OF + timedelta(days=15))  # a customer email today
    world.subscription("S-RISK", AS_OF + timedelta(days=14))  # a CTA step, whose owner is emailed
    world.subscription("S-OLD", AS_OF - timedelta(days=200))  # a year of history: superseded and stale

    run = run_day(resources, AS_OF, finish=True)
    summary = run_summary(ops, run.run_id)

    assert summary.sent[CUSTOMER_EMAILS] == {"renewal_reminder_15": 2}  # S-RISK's too: a day late, caught up
    assert summary.sent[STEPS_RECORDED]["risk_cta"] == 1
    assert summary.sent[STAFF_EMAILS]["risk_cta"] == 1
    assert summary.emails == len(mailbox.messages), "one email counted per message received"
    assert summary.history_by_reason and not set(summary.history_by_reason) - {"superseded", "stale"}
    old = ops.execute(
        "select count(*) from renewals.touchpoints where subscription_id = 'S-OLD' and status = 'skipped'"
    ).fetchone()[0]
    assert summary.history_by_reason.total() + summary.skipped_by_reason.total() >= old > 0
    text = format_summary(summary)
    assert "customer emails sent: 2" in text and "settled from history" in text

    # The next day is not the first run: what it skips is today's business again.
    world.subscription("S-TOMORROW", AS_OF + timedelta(days=16))
    second = run_summary(ops, run_day(resources, AS_OF + timedelta(days=1), finish=True).run_id)
    assert not second.history_by_reason


def test_a_refused_run_keeps_its_refusal_in_one_sentence(world, resources, ops):
    world.subscription("S-1", AS_OF + timedelta(days=15))
    run = RunContext(run_id="manual__refused", as_of=AS_OF, subscription_id="S-999999")

    with pytest.raises(ManualRunRefused), refusal_recorded(resources, run):
        check_subscription_exists(resources.warehouse, "S-999999")

    (refusal,) = ops.execute("select refusal from renewals.runs where run_id = 'manual__refused'").fetchone()
    assert refusal == "subscription_id='S-999999': no such subscription in the warehouse"
    note = refused_note(refusal, "One member: S-999999")
    assert note == "Refused: subscription_id='S-999999': no such subscription in the warehouse · One member: S-999999"
    from renewals.console.queries import run as console_run

    assert console_run(ops, "manual__refused")["run"]["refusal"] == refusal


def test_paused_members_are_in_the_decisions_only_and_the_history_view_shows_changes_once(world, resources, ops):
    world.subscription("S-PAUSED", AS_OF + timedelta(days=15), paused=True)
    world.subscription("S-1", AS_OF + timedelta(days=15))
    for day in range(3):
        run_day(resources, AS_OF + timedelta(days=day), finish=True)

    held = ops.execute(
        "select distinct action, reason from renewals.decisions"
        " where subscription_id = 'S-PAUSED' and touchpoint is not null"
    ).fetchall()
    assert held == [("hold", "paused")]
    assert (
        ops.execute("select count(*) from renewals.touchpoints where subscription_id = 'S-PAUSED'").fetchone()[0] == 0
    )

    history = ops.execute(
        "select as_of, touchpoint, action, reason, ledger_status from renewals.v_renewal_history"
        " where subscription_id = 'S-1' order by as_of, touchpoint"
    ).fetchall()
    decisions = ops.execute("select count(*) from renewals.decisions where subscription_id = 'S-1'").fetchone()[0]
    # the first run's send and what it settled from history (older touchpoints), each once
    assert (AS_OF, "renewal_reminder_15", "send", None, "sent") in history
    assert len({row[1] for row in history}) == len(history)
    assert decisions > len(history), "the decision log repeats every settled touchpoint each day; the view does not"
    paused = ops.execute(
        "select touchpoint, action, reason from renewals.v_renewal_history where subscription_id = 'S-PAUSED'"
    ).fetchall()
    assert {(action, reason) for _tp, action, reason in paused} == {("hold", "paused")}
    assert len({tp for tp, _action, _reason in paused}) == len(paused), "a hold shows once, not once per run"
