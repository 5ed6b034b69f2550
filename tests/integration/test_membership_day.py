"""Every membership email touchpoint, through Airflow's dag.test() on real PostgreSQL and SMTP."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tests.conftest import moment
from tests.warehouses import KINDS
from tests.world import contact_email, customer_emails

AS_OF = date(2026, 12, 1)  # a Tuesday: the first business day of December, the notice batch day
STAFF_TC_OP = "tc-op@example.org"


def days(n: int) -> date:
    return AS_OF + timedelta(days=n)


ALL_ROLES = ("primary", "billing", "committee", "pgb")
# subscription -> (renewal date, extra fields, roles, expected touchpoint, expected To roles)
CASES = {
    "S-NOTICE-TC": (date(2027, 2, 15), {}, ALL_ROLES, "renewal_notice", ("primary", "billing")),
    "S-NOTICE-OP": (date(2027, 2, 20), {"member_type": "OP"}, ALL_ROLES, "renewal_notice", ("primary", "billing")),
    "S-CONFIRM": (days(30), {}, ALL_ROLES, "renewal_confirmation", ALL_ROLES),
    "S-R15": (days(15), {}, ALL_ROLES, "renewal_reminder_15", ("primary",)),
    "S-R1": (days(1), {}, ALL_ROLES, "renewal_reminder_1", ("primary",)),
    "S-R0": (days(0), {}, ALL_ROLES, "renewal_reminder_0", ("primary",)),
    "S-P30": (
        days(30),
        {"intent_confirmed_at": moment(days(-40))},
        ALL_ROLES,
        "payment_reminder_30",
        ("primary", "billing"),
    ),
    "S-P15": (
        days(15),
        {"intent_confirmed_at": moment(days(-40))},
        ALL_ROLES,
        "payment_reminder_15",
        ("primary", "billing"),
    ),
    "S-P1": (
        days(1),
        {"intent_confirmed_at": moment(days(-40))},
        ALL_ROLES,
        "payment_reminder_1",
        ("primary", "billing"),
    ),
    "S-P0": (
        days(0),
        {"intent_confirmed_at": moment(days(-40))},
        ALL_ROLES,
        "payment_reminder_0",
        ("primary", "billing"),
    ),
    "S-O1": (days(-1), {}, ALL_ROLES, "overdue_notice_1", ("primary", "billing")),
    "S-O15": (days(-15), {}, ALL_ROLES, "overdue_notice_15", ("primary", "billing")),
    "S-O15-INTENT": (
        days(-15),
        {"intent_confirmed_at": moment(days(-40))},
        ALL_ROLES,
        "overdue_notice_15",
        ("primary", "billing"),
    ),
    "S-O30": (days(-30), {}, ALL_ROLES, "overdue_notice_30", ("primary", "billing")),
    "S-O60": (days(-60), {}, ALL_ROLES, "overdue_notice_60", ("primary", "billing")),
    "S-PAID": (
        days(15),
        {"paid_at": moment(days(-2)), "invoice_number": "INV-1"},
        ALL_ROLES,
        "receipt",
        ("primary", "billing"),
    ),  # paid two days ago: the receipt is caught up
}
QUIET = {
    "S-DECLINED": (days(1), {"declined_at": moment(days(-5))}),
    "S-PAUSED": (days(15), {"paused": True}),
    "S-FAR": (days(200), {}),  # before even the 180-day BizDev outreach
}


@pytest.fixture
def day_world(world):
    for subscription_id, (renewal_date, fields, roles, _, _) in CASES.items():
        world.subscription(subscription_id, renewal_date, roles=roles, **fields)
    for subscription_id, (renewal_date, fields) in QUIET.items():
        world.subscription(subscription_id, renewal_date, **fields)
    return world


def by_subscription(mailbox) -> dict[str, list]:
    """The copies of each subscription's message: one per customer recipient (each with its own
    links), and one for the staff in copy."""
    messages: dict[str, list] = {}
    for message in customer_emails(mailbox):
        messages.setdefault(message["X-Renewal-Subscription"], []).append(message)
    for subscription_id, copies in messages.items():
        assert len({m["X-Renewal-Touchpoint"] for m in copies}) == 1, f"two touchpoints for {subscription_id}"
    return messages


def to_customers(copies: list) -> list:
    return [m for m in copies if m["To"].addresses[0].domain == "members.example.com"]


@pytest.mark.parametrize("warehouse_kind", KINDS)
def test_every_membership_touchpoint_goes_out_once_to_its_audience(day_world, airflow, mailbox, ops):
    assert airflow.run(AS_OF) == "success"

    messages = by_subscription(mailbox)
    assert set(messages) == set(CASES), "exactly the due subscriptions got mail"
    for subscription_id, (renewal_date, _fields, _roles, touchpoint, to_roles) in CASES.items():
        copies = messages[subscription_id]
        customers = to_customers(copies)
        assert {m["X-Renewal-Touchpoint"] for m in copies} == {touchpoint}
        assert {m["X-Renewal-Date"] for m in copies} == {renewal_date.isoformat()}
        # a reminder goes as one copy per customer recipient (a receipt as one message): each address once
        assert all(m.get("Cc") is None for m in customers), subscription_id
        to = sorted(a.addr_spec for m in customers for a in m["To"].addresses)
        assert to == sorted(contact_email(subscription_id, role) for role in to_roles), subscription_id
        staff = [m for m in copies if m not in customers]
        if touchpoint.startswith("overdue_notice"):
            assert [str(m["To"]) for m in staff] == [STAFF_TC_OP], "overdue notices copy TC/OP staff"
        else:
            assert staff == []
        for message in copies:
            assert message["Message-ID"].startswith("<") and message["Message-ID"].endswith("@example.org>")
            assert message.get_body(("plain",)) is not None and message.get_body(("html",)) is not None
        assert len({m["Message-ID"] for m in copies}) == len(copies)

    ledger = dict(
        ops.execute(
            "select subscription_id || '/' || touchpoint, status from renewals.touchpoints"
            " where status <> 'skipped' and channel = 'email'"
        ).fetchall()
    )
    assert ledger == {f"{sid}/{case[3]}": "sent" for sid, case in CASES.items()}
    message_ids = dict(
        ops.execute(
            "select subscription_id, message_id from renewals.touchpoints where status = 'sent' and channel = 'email'"
        ).fetchall()
    )
    assert all(message_ids[sid] in {m["Message-ID"] for m in messages[sid]} for sid in CASES)


def test_notice_is_personalised_and_has_the_support_line_for_tc_members_only(day_world, airflow, mailbox):
    airflow.run(AS_OF)
    messages = by_subscription(mailbox)
    tc = messages["S-NOTICE-TC"][0].get_body(("plain",)).get_content()
    op = messages["S-NOTICE-OP"][0].get_body(("plain",)).get_content()
    assert "Primary Of S-Notice-Tc" in tc or "Account S-NOTICE-TC" in tc
    assert "2027" in tc
    assert "Member Section Support" in tc
    assert "Member Section Support" not in op


def test_quiet_subscriptions_are_explained_in_the_decision_log(day_world, airflow, ops):
    airflow.run(AS_OF)
    decisions = {
        (sid, action, reason)
        for sid, action, reason in ops.execute(
            "select subscription_id, action, reason from renewals.decisions where subscription_id = any(%s)",
            (list(QUIET),),
        )
    }
    assert ("S-PAUSED", "hold", "paused") in decisions
    assert ("S-FAR", "none", "nothing_due") in decisions
    assert ("S-DECLINED", "none", "nothing_due") in decisions
    gates = dict(ops.execute("select subscription_id, gate from renewals.decisions where subscription_id like 'S-%'"))
    assert gates["S-PAID"] == "paid" and gates["S-DECLINED"] == "declined" and gates["S-P1"] == "intent_confirmed"


@pytest.mark.parametrize("warehouse_kind", KINDS)
def test_running_the_same_day_again_sends_nothing_twice(day_world, airflow, mailbox, ops):
    airflow.run(AS_OF)
    first = len(mailbox.messages)
    ledger_before = ops.execute("select * from renewals.touchpoints order by 1, 2, 3").fetchall()

    assert airflow.run(AS_OF) == "success"

    assert len(mailbox.messages) == first and set(by_subscription(mailbox)) == set(CASES)
    assert ops.execute("select * from renewals.touchpoints order by 1, 2, 3").fetchall() == ledger_before
