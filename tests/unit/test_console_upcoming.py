"""What the console shows as coming next for a member: due dates by each anchor, the gate as
of today, who a message would go to, and previews composed as the run composes them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from renewals.config import Settings
from renewals.console.upcoming import due_date, upcoming
from renewals.dates import notice_day
from renewals.delivery.render import Renderer
from renewals.playbooks import load_playbooks

SETTINGS = Settings()
PLAYBOOKS = load_playbooks(SETTINGS.playbook_dir, SETTINGS.template_dir)
RENDERER = Renderer(SETTINGS.template_dir)
R = date(2027, 3, 15)


def staged(**fields: Any) -> dict[str, Any]:
    """A member's row as the staging table holds it."""
    return {
        "subscription_id": "S-1", "account_id": "A-1", "account_name": "Acme", "playbook": "membership",
        "tier": "standard", "member_type": "TC", "renewal_date": R, "term_months": 12, "amount": 1200,
        "currency": "USD", "owner_email": "owner@example.org", "invoice_number": "INV-1", "decline_reason": None,
        "intent_confirmed_at": None, "paid_at": None, "declined_at": None, "intent_on": None, "paid_on": None,
        "declined_on": None, "assigned_on": None, "hosted_site": False, "paused": False, "timezone": "UTC",
        **fields,
    }  # fmt: skip


CONTACTS = [
    {"contact_id": "C-1", "role": "primary", "name": "Pat", "email": "pat@example.com", "opted_out": False},
    {"contact_id": "C-2", "role": "billing", "name": "Bo", "email": "bo@example.com", "opted_out": True},
    {"contact_id": "C-3", "role": "committee", "name": "Cy", "email": "cy@example.com", "opted_out": False},
]


def test_due_dates_follow_each_anchor() -> None:
    membership, sales = PLAYBOOKS["membership"], PLAYBOOKS["sales"]
    assert due_date(membership.touchpoint("renewal_notice"), staged(), frozenset()) == notice_day(R, 2)
    assert due_date(membership.touchpoint("renewal_reminder_15"), staged(), frozenset()) == R - timedelta(days=15)
    assert due_date(membership.touchpoint("invoice_task"), staged(), frozenset()) is None, "no intent yet"
    paid = staged(paid_on=date(2027, 3, 1))
    assert due_date(membership.touchpoint("receipt"), paid, frozenset()) == date(2027, 3, 1)
    assigned = staged(assigned_on=date(2027, 1, 10))
    assert due_date(sales.touchpoint("sales_call_day_1"), assigned, frozenset()) == date(2027, 1, 10)
    assert due_date(sales.touchpoint("sales_call_day_4"), assigned, frozenset()) == date(2027, 1, 13)


def test_ahead_under_todays_gate_without_what_the_ledger_holds_and_without_opted_out_contacts() -> None:
    today = R - timedelta(days=20)
    ledger = {(R, "renewal_reminder_15")}
    ahead = upcoming(staged(), CONTACTS, ledger, PLAYBOOKS["membership"], SETTINGS, RENDERER, today)
    keys = [item["touchpoint"] for item in ahead]
    assert "renewal_reminder_15" not in keys and "renewal_notice" not in keys, "held by the ledger, or past"
    assert [item["due_date"] for item in ahead] == sorted(item["due_date"] for item in ahead)
    assert all(item["gate"] == "no_response" and item["due_date"] >= today for item in ahead)
    overdue = next(item for item in ahead if item["touchpoint"] == "overdue_notice_1")
    assert overdue["preview"]["recipients"] == ["pat@example.com"], "billing opted out, committee not addressed"
    assert "Acme" in overdue["preview"]["subject"] and "Dear Pat" in overdue["preview"]["text"]


def test_a_payment_today_changes_the_gate_and_previews_the_receipt_with_its_pdf() -> None:
    paid_on = date(2027, 3, 1)
    member = staged(paid_at=datetime(2027, 3, 1, 12, tzinfo=UTC), paid_on=paid_on)
    ahead = upcoming(member, CONTACTS, set(), PLAYBOOKS["membership"], SETTINGS, RENDERER, paid_on)
    assert {item["gate"] for item in ahead} == {"paid"}
    receipt = next(item for item in ahead if item["touchpoint"] == "receipt")
    assert receipt["due_date"] == paid_on
    assert receipt["preview"]["attachments"] and receipt["preview"]["attachments"][0].endswith(".pdf")
    assert all(not item["touchpoint"].startswith("renewal_reminder") for item in ahead)
