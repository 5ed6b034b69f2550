"""Email messages: the deterministic Message-ID, the contract's headers, and
rendering of the shipped templates in an autoescaping sandbox."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from email import policy
from email.parser import BytesParser
from pathlib import Path

import jinja2
import pytest

from renewals.config import Settings
from renewals.delivery.messages import build_email, message_id, sender_domain, sender_name
from renewals.delivery.render import RenderedMessage, Renderer, message_context
from renewals.playbooks import load_playbooks

RENEWAL = date(2026, 12, 21)
AS_OF = date(2026, 11, 21)
SENDER = "Membership Services <renewals@example.org>"


def row(**overrides) -> dict:
    values = {
        "subscription_id": "S-000042",
        "account_name": "Acme Widgets",
        "contact_name": "Jane Doe",
        "renewal_date": RENEWAL,
        "tier": "premier",
        "member_type": "TC",
        "amount": Decimal("12500.00"),
        "currency": "USD",
        "invoice_number": "INV-2026-0042",
        "term_months": 12,
    }
    return values | overrides


def context(as_of: date = AS_OF, touchpoint: str = "renewal_notice", **overrides) -> dict:
    return message_context(row(**overrides), as_of, touchpoint, "Membership Services", "member-support@example.org")


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(Settings().template_dir)


# --- Message-ID -------------------------------------------------------------------------------


def test_message_id_is_the_same_for_the_same_touchpoint_of_the_same_renewal():
    first = message_id("S-000042", RENEWAL, "renewal_reminder_15", "example.org")
    again = message_id("S-000042", date(2026, 12, 21), "renewal_reminder_15", "example.org")
    assert first == again


@pytest.mark.parametrize(
    "other",
    [
        ("S-000043", RENEWAL, "renewal_reminder_15", None),
        ("S-000042", date(2027, 12, 21), "renewal_reminder_15", None),
        ("S-000042", RENEWAL, "renewal_reminder_1", None),
        ("S-000042", RENEWAL, "renewal_reminder_15", "staff"),
    ],
)
def test_message_id_differs_when_any_part_differs(other):
    subscription, renewal, touchpoint, audience = other
    base = message_id("S-000042", RENEWAL, "renewal_reminder_15", "example.org")
    assert message_id(subscription, renewal, touchpoint, "example.org", audience) != base


def test_message_id_differs_between_audiences_of_one_touchpoint():
    customer = message_id("S-1", RENEWAL, "offboarding", "example.org", "customer")
    group = message_id("S-1", RENEWAL, "offboarding", "example.org", "offboarding_group")
    assert customer != group


def test_message_id_does_not_run_parts_together():
    # "S-1" + "2" must not be mistaken for "S-12": parts are kept apart.
    assert message_id("S-1", RENEWAL, "2tp", "example.org") != message_id("S-12", RENEWAL, "tp", "example.org")


def test_message_id_looks_like_a_message_id():
    value = message_id("S-000042", RENEWAL, "renewal_reminder_15", "example.org")
    assert re.fullmatch(r"<[A-Za-z0-9._-]+@example\.org>", value)


def test_sender_domain_and_name():
    assert sender_domain(SENDER) == "example.org"
    assert sender_name(SENDER) == "Membership Services"
    assert sender_name("renewals@example.org") == "renewals@example.org"


# --- build_email ------------------------------------------------------------------------------


def built(**overrides):
    arguments = {
        "sender": SENDER,
        "to": ["jane@acme.example", "billing@acme.example"],
        "cc": ["tc-op@example.org"],
        "reply_to": "membership@example.org",
        "rendered": RenderedMessage(subject="Your renewal", text="Hello Jane\n", html="<p>Hello Jane</p>\n"),
        "subscription_id": "S-000042",
        "renewal_date": RENEWAL,
        "touchpoint": "overdue_notice_1",
        "msg_id": message_id("S-000042", RENEWAL, "overdue_notice_1", "example.org"),
    }
    return build_email(**(arguments | overrides))


def test_build_email_sets_the_contract_headers():
    message = built()
    assert message["From"] == SENDER
    assert [a.addr_spec for a in message["To"].addresses] == ["jane@acme.example", "billing@acme.example"]
    assert [a.addr_spec for a in message["Cc"].addresses] == ["tc-op@example.org"]
    assert message["Reply-To"] == "membership@example.org"
    assert message["Subject"] == "Your renewal"
    assert message["Message-ID"] == message_id("S-000042", RENEWAL, "overdue_notice_1", "example.org")
    assert message["X-Renewal-Subscription"] == "S-000042"
    assert message["X-Renewal-Date"] == "2026-12-21"
    assert message["X-Renewal-Touchpoint"] == "overdue_notice_1"
    assert message["Date"]


def test_build_email_without_cc_has_no_cc_header():
    assert built(cc=[])["Cc"] is None


def test_build_email_has_text_and_html_parts():
    message = built()
    assert message.get_content_type() == "multipart/alternative"
    assert message.get_body(("plain",)).get_content() == "Hello Jane\n"
    assert message.get_body(("html",)).get_content() == "<p>Hello Jane</p>\n"


def test_build_email_survives_the_wire():
    # What the SMTP server receives parses back to the same headers.
    parsed = BytesParser(policy=policy.default).parsebytes(built().as_bytes())
    assert parsed["X-Renewal-Subscription"] == "S-000042"
    assert parsed["X-Renewal-Date"] == "2026-12-21"
    assert parsed["Message-ID"] == message_id("S-000042", RENEWAL, "overdue_notice_1", "example.org")


# --- rendering the shipped templates ----------------------------------------------------------


def customer_touchpoints():
    """The customer emails of every playbook (staff notices are checked below)."""
    settings = Settings()
    return [
        touchpoint
        for playbook in load_playbooks(settings.playbook_dir, settings.template_dir).values()
        for touchpoint in playbook.touchpoints
        if touchpoint.channel == "email"
    ]


def staff_templates():
    settings = Settings()
    return sorted(
        {
            touchpoint.template
            for playbook in load_playbooks(settings.playbook_dir, settings.template_dir).values()
            for touchpoint in playbook.touchpoints
            if touchpoint.channel in ("staff_email", "cta")
        }
    )


CTA = {
    "cta_id": "CTA-0123456789abcdef",
    "type": "renewal_risk",
    "type_label": "Renewal risk",
    "stage": "overdue",
    "stage_label": "Overdue",
    "priority": "high",
    "owner_team": "membership_staff",
    "owner_email": "membership@example.org",
    "previous_owner_email": None,
    "status": "open",
    "outcome": None,
    "due_date": date(2027, 1, 20),
    "tasks": [{"title": "Call the member", "assignee_email": "membership@example.org", "due_date": None}],
    "change": "priority medium → high",
    "notify": True,
}


@pytest.mark.parametrize("template", staff_templates())
def test_every_staff_notice_renders_with_the_cta_and_the_renewal(renderer, template):
    rendered = renderer.render(template, {**context(touchpoint="risk_cta_overdue"), "cta": CTA})
    for text in (rendered.text, rendered.html):
        assert "S-000042" in text and "Acme Widgets" in text
        assert "Dear" not in text, "staff notices do not greet the customer"
    if template == "staff/cta_update":
        assert "priority medium → high" in rendered.text and "Call the member" in rendered.html


def _as_of_for(touchpoint) -> date:
    if touchpoint.due.anchor == "notice_month":
        return date(2026, 10, 1)
    return date.fromordinal(RENEWAL.toordinal() + touchpoint.due.days)


@pytest.mark.parametrize("touchpoint", customer_touchpoints(), ids=lambda touchpoint: touchpoint.key)
def test_every_customer_template_renders(renderer, touchpoint):
    rendered = renderer.render(touchpoint.template, context(as_of=_as_of_for(touchpoint), touchpoint=touchpoint.key))
    assert "Acme Widgets" in rendered.subject
    assert "\n" not in rendered.subject
    assert "Jane Doe" in rendered.text
    assert "Jane Doe" in rendered.html
    assert "Acme Widgets" in rendered.text
    assert rendered.html.lstrip().lower().startswith("<!doctype html>")


@pytest.mark.parametrize("touchpoint", customer_touchpoints(), ids=lambda touchpoint: touchpoint.key)
def test_every_customer_template_renders_with_sparse_data(renderer, touchpoint):
    sparse = context(
        as_of=_as_of_for(touchpoint),
        touchpoint=touchpoint.key,
        contact_name=None,
        tier=None,
        member_type="OP",
        amount=None,
        currency=None,
        invoice_number=None,
        term_months=None,
    )
    rendered = renderer.render(touchpoint.template, sparse)
    assert "Acme Widgets team" in rendered.text  # greeting falls back to the account
    assert "None" not in rendered.text
    assert "None" not in rendered.html


def test_payment_reminder_shows_amount_invoice_and_due_date(renderer):
    rendered = renderer.render("membership/payment_reminder", context(as_of=date(2026, 11, 21)))
    assert "12,500.00 USD" in rendered.text
    assert "INV-2026-0042" in rendered.text
    assert "INV-2026-0042" in rendered.subject
    assert "21 December 2026" in rendered.text
    assert "in 30 days" in rendered.text


def test_renewal_notice_mentions_the_support_line_to_tc_members_only(renderer):
    tc = renderer.render("membership/renewal_notice", context(member_type="TC"))
    op = renderer.render("membership/renewal_notice", context(member_type="OP"))
    assert "member-support@example.org" in tc.text
    assert "member-support@example.org" in tc.html
    assert "member-support@example.org" not in op.text
    assert "member-support@example.org" not in op.html
    assert "Premier" in tc.text


def test_overdue_notice_counts_days_overdue(renderer):
    rendered = renderer.render("membership/overdue_notice", context(as_of=date(2027, 1, 5)))
    assert "15 days ago" in rendered.text
    yesterday = renderer.render("membership/overdue_notice", context(as_of=date(2026, 12, 22)))
    assert "yesterday" in yesterday.text


def test_message_context_counts_days():
    values = context(as_of=date(2027, 1, 5))
    assert values["days_to_renewal"] == -15
    assert values["days_overdue"] == 15
    assert values["renewal_year"] == 2026
    assert context()["days_to_renewal"] == 30
    assert context()["days_overdue"] == 0
    assert context(term_months=None)["term_months"] == 12


# --- escaping and the sandbox -----------------------------------------------------------------

HOSTILE = "<script>alert(1)</script> & Co"


def test_html_escapes_warehouse_values_while_text_keeps_them(renderer):
    rendered = renderer.render("membership/renewal_reminder", context(account_name=HOSTILE, contact_name=HOSTILE))
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in rendered.html
    assert HOSTILE in rendered.text
    assert HOSTILE in rendered.subject


def write_template(directory: Path, name: str, body: str, subject: str = "Subject", text: str = "text") -> None:
    (directory / f"{name}.subject.txt").write_text(subject)
    (directory / f"{name}.txt").write_text(text)
    (directory / f"{name}.html").write_text(body)


@pytest.mark.parametrize(
    "attack",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ account_name.__class__.__base__.__subclasses__() }}",
        "{{ cycler.__init__.__globals__ }}",
    ],
)
def test_the_sandbox_refuses_templates_reaching_python_internals(tmp_path, attack):
    write_template(tmp_path, "evil", attack)
    with pytest.raises(jinja2.exceptions.SecurityError):
        Renderer(tmp_path).render("evil", {"account_name": "Acme"})


def test_a_missing_variable_fails_instead_of_sending_a_half_empty_email(tmp_path):
    write_template(tmp_path, "typo", "<p>Dear {{ contact_nmae }}</p>")
    with pytest.raises(jinja2.exceptions.UndefinedError):
        Renderer(tmp_path).render("typo", {"contact_name": "Jane"})


def test_subject_is_collapsed_to_one_line(tmp_path):
    write_template(tmp_path, "multi", "<p>x</p>", subject="Renewal\n  for {{ account_name }}\n")
    assert Renderer(tmp_path).render("multi", {"account_name": "Acme\nInjected: header"}).subject == (
        "Renewal for Acme Injected: header"
    )
