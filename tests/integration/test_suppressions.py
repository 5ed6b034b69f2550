"""The suppression list at send time, and bounces, on real PostgreSQL and SMTP: a suppressed
recipient is left out (the ledger says who and why), a touchpoint with nobody left is skipped,
a playbook-scoped suppression stops only that playbook, receipts follow
RENEWALS_SUPPRESS_TRANSACTIONAL, and a 550 at RCPT suppresses the address while the other
recipient still gets the message."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from devenv import inprocess
from devenv.inprocess import deliver_all
from renewals.storage import suppressions
from renewals.storage.migrations import migrate
from renewals.storage.runs import RunContext
from tests.conftest import moment
from tests.daily import resources_for
from tests.world import contact_email

AS_OF = date(2026, 12, 1)
OWNER = "owner@example.org"  # in Cc of contract emails


def contract(world, subscription_id: str, days: int = 60) -> str:
    """A contract whose acknowledgement (to primary and billing, the owner in Cc) is due today."""
    return world.subscription(subscription_id, AS_OF + timedelta(days=days), playbook="contract", owner_email=OWNER)


@pytest.fixture
def resources(databases, mailbox):
    return resources_for(databases, mailbox, smtp_retry_delays=(0.0,))


@pytest.fixture
def suppress(ops):
    """Add suppressions as an operator would (the ops schema migrated first)."""
    migrate(ops)

    def add(address: str, reason: str = "manual", scope: str = suppressions.ALL) -> None:
        suppressions.add(ops, [address], reason, scope=scope, source="operator", created_by="test")

    return add


def run_day(resources, as_of: date = AS_OF, run_id: str = "run-1") -> None:
    run = RunContext(run_id=run_id, as_of=as_of)
    inprocess.classified(resources, run)
    deliver_all(resources, run)


def ledger(ops, subscription_id: str, touchpoint: str):
    return ops.execute(
        "select status, reason, recipients, suppressed from renewals.touchpoints"
        " where subscription_id = %s and touchpoint = %s",
        (subscription_id, touchpoint),
    ).fetchone()


def envelope(messages) -> list[str]:
    """Every address the messages (the copies of one message: one per customer, one for the staff
    in copy) went to."""
    return sorted(address.strip() for message in messages for address in message["X-Envelope-To"].split(","))


def test_a_suppressed_recipient_is_left_out_and_the_ledger_says_why(world, resources, mailbox, ops, suppress):
    contract(world, "S-1")
    suppress(contact_email("S-1", "billing").upper(), "unsubscribed")  # any case: kept normalised

    run_day(resources)

    assert envelope(mailbox.messages) == [OWNER, contact_email("S-1", "primary")]
    status, reason, recipients, suppressed = ledger(ops, "S-1", "contract_acknowledgement")
    assert (status, recipients) == ("sent", [contact_email("S-1", "primary")])
    assert suppressed == {contact_email("S-1", "billing"): "unsubscribed"}


def test_a_touchpoint_with_nobody_left_is_skipped_with_the_reason(world, resources, mailbox, ops, suppress):
    contract(world, "S-1")  # the owner in Cc does not count: no customer is left
    for role in ("primary", "billing"):
        suppress(contact_email("S-1", role), "complained")

    run_day(resources)

    assert mailbox.messages == []
    status, reason, _recipients, suppressed = ledger(ops, "S-1", "contract_acknowledgement")
    assert (status, reason) == ("skipped", "suppressed")
    assert suppressed == {contact_email("S-1", role): "complained" for role in ("primary", "billing")}


def test_a_playbook_scoped_suppression_stops_only_that_playbook(world, resources, mailbox, ops, suppress):
    shared = "shared@members.example.com"
    world.subscription("S-MEMBER", AS_OF + timedelta(days=15), roles=())
    world.contact("S-MEMBER", "primary", email=shared)
    world.subscription("S-CONTRACT", AS_OF + timedelta(days=60), playbook="contract", roles=())
    world.contact("S-CONTRACT", "primary", email=shared)
    suppress(shared, "unsubscribed", scope="membership")

    run_day(resources)

    assert {m["X-Renewal-Subscription"] for m in mailbox.messages} == {"S-CONTRACT"}
    assert ledger(ops, "S-MEMBER", "renewal_reminder_15")[:2] == ("skipped", "suppressed")


@pytest.mark.parametrize(("suppress_transactional", "receipts"), [(None, 1), ("true", 0)])
def test_receipts_follow_the_transactional_setting(
    world, databases, mailbox, ops, suppress, suppress_transactional, receipts
):
    settings = {} if suppress_transactional is None else {"suppress_transactional": True}
    resources = resources_for(databases, mailbox, **settings)
    world.subscription("S-PAID", AS_OF + timedelta(days=20), roles=("primary",), invoice_number="INV-1")
    world.update("S-PAID", paid_at=moment(AS_OF))
    suppress(contact_email("S-PAID", "primary"), "unsubscribed")

    run_day(resources)

    assert [m["X-Renewal-Touchpoint"] for m in mailbox.messages].count("receipt") == receipts


def test_a_batch_looks_its_suppressions_up_once(world, databases, mailbox, ops, suppress, monkeypatch):
    resources = resources_for(databases, mailbox, batch_size=500, shards=1)
    for n in range(12):
        world.subscription(f"S-{n:02}", AS_OF + timedelta(days=15))
    suppress(contact_email("S-03", "primary"))
    calls = []
    real_lookup = suppressions.lookup
    monkeypatch.setattr(suppressions, "lookup", lambda ops, addresses: calls.append(1) or real_lookup(ops, addresses))

    run_day(resources)

    assert sorted(m["X-Renewal-Subscription"] for m in mailbox.messages) == [f"S-{n:02}" for n in range(12) if n != 3]
    assert len(calls) == 1, "one lookup for the batch of 12 messages"


def test_a_550_at_rcpt_suppresses_the_address_and_the_other_recipient_still_gets_it(world, resources, mailbox, ops):
    contract(world, "S-1")
    billing = contact_email("S-1", "billing")
    mailbox.reject_recipient(billing, 550, "5.1.1 No such user")

    run_day(resources)

    assert envelope(mailbox.messages) == [OWNER, contact_email("S-1", "primary")]
    assert ledger(ops, "S-1", "contract_acknowledgement")[0] == "sent"
    reason, source, detail = ops.execute(
        "select reason, source, detail from renewals.suppressions where address = %s", (billing,)
    ).fetchone()
    assert (reason, source) == ("bounced", "smtp") and "550 5.1.1 No such user" in detail

    # The next reminder leaves the bounced address out, before the relay is asked.
    before = len(mailbox.messages)
    run_day(resources, AS_OF + timedelta(days=30), run_id="run-2")
    assert envelope(mailbox.messages[before:]) == [OWNER, contact_email("S-1", "primary")]
    assert ledger(ops, "S-1", "contract_reminder")[3] == {billing: "bounced"}


def test_a_temporary_refusal_at_rcpt_suppresses_nobody(world, resources, mailbox, ops):
    contract(world, "S-1")
    mailbox.reject_recipient(contact_email("S-1", "billing"), 450, "4.2.1 Mailbox busy")

    run_day(resources)

    # the other copies went; billing's own copy waits for a later attempt, and nobody is suppressed
    assert envelope(mailbox.messages) == [OWNER, contact_email("S-1", "primary")]
    assert ledger(ops, "S-1", "contract_acknowledgement")[0] == "pending"
    assert ops.execute("select count(*) from renewals.suppressions").fetchone()[0] == 0


@pytest.mark.parametrize("enabled", [True, False])
def test_bounces_and_complaints_from_the_warehouse_are_suppressed_when_enabled(world, databases, mailbox, ops, enabled):
    resources = resources_for(databases, mailbox, bounces_query=enabled)
    contract(world, "S-1")
    events = [
        (contact_email("S-1", "billing").upper(), "complaint", "spam report"),
        (" gone@members.example.com ", "bounce", "5.1.1 user unknown"),
        ("someone@members.example.com", "delivered", None),  # not a bounce: ignored
    ]
    for address, event, detail in events:
        world.conn.execute(
            "insert into warehouse.mail_events (address, event, detail) values (%s, %s, %s)", (address, event, detail)
        )

    run_day(resources)

    listed = ops.execute("select address, reason, source from renewals.suppressions order by address").fetchall()
    if enabled:
        assert listed == [
            (contact_email("S-1", "billing"), "complained", "warehouse"),
            ("gone@members.example.com", "bounced", "warehouse"),
        ]
        assert envelope(mailbox.messages) == [OWNER, contact_email("S-1", "primary")]
    else:
        assert listed == []
        assert contact_email("S-1", "billing") in envelope(mailbox.messages)
