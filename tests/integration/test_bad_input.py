"""Bad input never stops the run and is never dropped silently (docs/how-a-day-is-decided.md): a corpus of bad rows of
every kind, each either normalised (docs: Input validation) or quarantined with its reason codes,
and rows in = rows processed + rows quarantined, through a real Airflow run.

The warehouse of these tests has text columns and no keys, like a loosely typed export: impossible
dates, exact duplicate rows and other values a typed table would refuse reach the pipeline too
(a typed warehouse's date, timestamp, boolean, integer and numeric columns are staged with their
own types, since they can only hold valid values; every text column goes through the same validation).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from renewals.storage.staging import CONTACT_COLUMNS, SUBSCRIPTION_COLUMNS
from tests.daily import resources_for
from tests.reliability import full_run
from tests.warehouses import KINDS
from tests.world import World, contact_email

AS_OF = date(2026, 12, 1)
DUE = (AS_OF + timedelta(days=15)).isoformat()  # renewal_reminder_15 is due on AS_OF


# Quarantined subscription rows: record id -> (fields that differ from a good row, reason codes).
BAD_SUBSCRIPTIONS: dict[str, tuple[dict[str, Any], set[str]]] = {
    "S-NO-ACCOUNT": ({"account_id": None}, {"missing_account_id"}),
    "S-NO-NAME": ({"account_name": "   "}, {"missing_account_name"}),
    "S-NO-PLAYBOOK": ({"playbook": None}, {"missing_playbook"}),
    "S-PLAYBOOK": ({"playbook": "enterprise"}, {"unknown_playbook"}),
    "S-TIER": ({"tier": "platinum"}, {"unknown_tier"}),
    "S-NO-TIER": ({"tier": ""}, {"missing_tier"}),
    "S-TYPE": ({"member_type": "XX"}, {"unknown_member_type"}),
    "S-NO-TYPE": ({"member_type": None}, {"missing_member_type"}),
    "S-NO-DATE": ({"renewal_date": None}, {"missing_renewal_date"}),
    "S-FEB-30": ({"renewal_date": "2026-02-30"}, {"invalid_renewal_date"}),
    "S-DATE-WORDS": ({"renewal_date": "next tuesday"}, {"invalid_renewal_date"}),
    "S-DATE-DMY": ({"renewal_date": "16/12/2026"}, {"invalid_renewal_date"}),
    "S-YEAR-0": ({"renewal_date": "0000-12-16"}, {"invalid_renewal_date"}),
    "S-FAR-PAST": ({"renewal_date": "1999-01-01"}, {"renewal_date_out_of_range"}),
    "S-FAR-FUTURE": ({"renewal_date": "2099-12-31"}, {"renewal_date_out_of_range"}),
    "S-NEGATIVE": ({"amount": "-5.00"}, {"negative_amount"}),
    "S-AMOUNT": ({"amount": "12,00x"}, {"invalid_amount"}),
    "S-AMOUNT-NAN": ({"amount": "NaN"}, {"invalid_amount"}),
    "S-AMOUNT-HUGE": ({"amount": "99999999999"}, {"invalid_amount"}),
    "S-CURRENCY": ({"currency": "dollars"}, {"invalid_currency"}),
    "S-NO-CURRENCY": ({"currency": None}, {"missing_currency"}),
    "S-OWNER": ({"owner_email": "owner at example.org"}, {"invalid_owner_email"}),
    "S-TZ": ({"timezone": "Mars/Olympus"}, {"invalid_timezone"}),
    "S-TIMESTAMP": ({"paid_at": "2026-13-45 25:00"}, {"invalid_timestamp"}),
    "S-TERM-0": ({"term_months": "0"}, {"invalid_term_months"}),
    "S-TERM-WORDS": ({"term_months": "twelve"}, {"invalid_term_months"}),
    "S-FLAG": ({"paused": "maybe"}, {"invalid_flag"}),
    "S-PAID-2031": ({"paid_at": "2031-01-01T09:00:00Z"}, {"gate_in_future"}),
    "S-PAID-2019": ({"paid_at": "2019-06-01T09:00:00Z"}, {"gate_before_cycle"}),
    "S-DECLINED-2031": ({"declined_at": "2031-01-01T09:00:00Z"}, {"gate_in_future"}),
    "S-ID-TAB\t": ({}, {"invalid_subscription_id"}),
    "S-MANY": (
        {"playbook": "enterprise", "amount": "-1", "timezone": "Nowhere/Else"},
        {"unknown_playbook", "negative_amount", "invalid_timezone"},
    ),
}
# Rows with no usable id: quarantined under the raw value they came with.
NO_ID = {None: {"missing_subscription_id"}, "   ": {"missing_subscription_id"}}

# Normalised subscription rows (processed, and their reminder sent): id -> fields.
NORMALISED: dict[str, dict[str, Any]] = {
    "S-CASE": {"playbook": " MEMBERSHIP ", "tier": " Premier", "member_type": "tc "},
    "S-MONEY": {"amount": " 1200.50 ", "currency": " usd "},
    "S-OWNER-CASE": {"owner_email": " Owner@Example.ORG "},
    "S-TZ-CASE": {"timezone": "europe/paris"},
    "S-FLAGS": {"in_negotiation": "YES", "hosted_site": "f", "paused": " 0 "},
    "S-DATE-SPACES": {"renewal_date": f" {DUE} "},
    "S-TABS": {"playbook": "membership\t", "member_type": "TC\r\n", "currency": "\tUSD"},
    "S-OFFSET": {"intent_confirmed_at": None, "updated_at": "2026-11-20 10:00:00+02"},
    "S-TERM-BLANK": {"term_months": " "},
}
# Gate facts in an order the gate precedence resolves (paid, then declined, then intent): processed,
# with the gate of the precedence, whatever came last. id -> (fields, gate).
GATE_ORDERS: dict[str, tuple[dict[str, Any], str]] = {
    "S-DECLINED-AFTER-PAID": (
        {"paid_at": "2026-11-10T09:00:00Z", "declined_at": "2026-11-20T09:00:00Z", "invoice_number": "INV-1"},
        "paid",
    ),
    "S-INTENT-AFTER-DECLINED": (
        {"declined_at": "2026-11-10T09:00:00Z", "intent_confirmed_at": "2026-11-20T09:00:00Z"},
        "declined",
    ),
    "S-PAID-BEFORE-INTENT": (
        {"paid_at": "2026-11-10T09:00:00Z", "intent_confirmed_at": "2026-11-20T09:00:00Z", "invoice_number": "INV-2"},
        "paid",
    ),
}

# Quarantined contact rows: contact id -> (fields, reason codes). Their subscription is S-GOOD.
BAD_CONTACTS: dict[str, tuple[dict[str, Any], set[str]]] = {
    "C-NO-SUB": ({"subscription_id": None}, {"missing_subscription_id"}),
    "C-GHOST": ({"subscription_id": "S-NOWHERE"}, {"unknown_subscription"}),
    "C-NO-ROLE": ({"role": None}, {"missing_role"}),
    "C-ROLE": ({"role": "ceo"}, {"unknown_role"}),
    "C-NO-EMAIL": ({"email": "  "}, {"missing_email"}),
    "C-EMAIL-AT": ({"email": "committee at example.com"}, {"invalid_email"}),
    "C-EMAIL-NO-TLD": ({"email": "a@b"}, {"invalid_email"}),
    "C-EMAIL-DOUBLE-AT": ({"email": "x@@example.org"}, {"invalid_email"}),
    "C-EMAIL-NAME": ({"email": "Jane <jane@example.org>"}, {"invalid_email"}),
    "C-EMAIL-DOTS": ({"email": "jane@example..org"}, {"invalid_email"}),
    "C-EMAIL-SPACE": ({"email": "jane doe@example.org"}, {"invalid_email"}),
    "C-FLAG": ({"opted_out": "maybe"}, {"invalid_flag"}),
    "C-EMAIL-NUL": ({"email": "jane\x01@example.org"}, {"invalid_email"}),
}


def text_warehouse(world: World) -> None:
    """warehouse.subscriptions and warehouse.contacts with text columns and no keys."""
    for table, columns in (("subscriptions", SUBSCRIPTION_COLUMNS), ("contacts", CONTACT_COLUMNS)):
        world.recreate_as_text(table, columns)


def good_row(subscription_id: str | None, **fields: Any) -> dict[str, Any]:
    return {
        "subscription_id": subscription_id,
        "account_id": f"A-{subscription_id}",
        "account_name": f"Account {subscription_id}",
        "playbook": "membership",
        "tier": "standard",
        "member_type": "TC",
        "renewal_date": DUE,
        "amount": "1200",
        "currency": "USD",
        "owner_email": "owner@example.org",
        "updated_at": "2026-11-01T00:00:00Z",
        **fields,
    }


def subscription(world: World, subscription_id: str | None, with_primary: bool = True, **fields: Any) -> None:
    world._insert("subscriptions", good_row(subscription_id, **fields))
    if with_primary and subscription_id and subscription_id.strip() and subscription_id.isprintable():
        world.contact(subscription_id.strip(), "primary", contact_id=f"C-{subscription_id.strip()}-primary")


def contact(world: World, contact_id: str | None, subscription_id: str | None, role: str | None, **fields: Any) -> None:
    world._insert(
        "contacts",
        {
            "contact_id": contact_id,
            "subscription_id": subscription_id,
            "role": role,
            "name": f"Contact {contact_id}",
            "email": contact_email(str(subscription_id), str(role)),
            **fields,
        },
    )


@pytest.fixture
def corpus(world: World) -> World:
    text_warehouse(world)
    subscription(world, "S-GOOD")
    for subscription_id, (fields, _codes) in BAD_SUBSCRIPTIONS.items():
        subscription(world, subscription_id, **fields)
    for raw_id in NO_ID:
        subscription(world, raw_id)
    for subscription_id, fields in NORMALISED.items():
        subscription(world, subscription_id, **fields)
    for subscription_id, (fields, _gate) in GATE_ORDERS.items():
        subscription(world, subscription_id, **fields)
    # duplicates: an exact copy; a copy differing by whitespace (the newer is kept); a bad copy
    subscription(world, "S-DUP")
    subscription(world, "S-DUP", with_primary=False)
    subscription(world, " S-DUPW ", with_primary=False, updated_at="2026-10-01T00:00:00Z", account_name="Old name")
    subscription(world, "S-DUPW", updated_at="2026-11-15T00:00:00Z", account_name="New name")
    subscription(world, "S-DUPBAD", with_primary=False, renewal_date="soon", updated_at="2026-11-30T00:00:00Z")
    subscription(world, "S-DUPBAD", updated_at="2026-11-01T00:00:00Z")
    # contacts: bad ones, a duplicate id, a duplicate person, messy but fine ones
    for contact_id, (fields, _codes) in BAD_CONTACTS.items():
        contact(world, contact_id, **{"subscription_id": "S-GOOD", "role": "billing", **fields})
    contact(world, None, "S-GOOD", "committee")
    contact(world, "C-TWICE", "S-GOOD", "committee", email="committee.twice@members.example.com")
    contact(world, "C-TWICE", "S-GOOD", "pgb", email="pgb.twice@members.example.com")
    contact(world, "C-SAME-PERSON-1", "S-GOOD", "billing", email="same.person@members.example.com")
    contact(world, "C-SAME-PERSON-2", "S-GOOD", "billing", email=" Same.Person@Members.Example.com")
    contact(world, "C-MESSY", "S-CASE", " Billing ", email="  Billing.Messy@Members.Example.COM ", opted_out="NO")
    contact(world, "C-SHARED", "S-MONEY", "billing", email=contact_email("S-MONEY", "primary"))
    contact(world, "C-OF-QUARANTINED", "S-PLAYBOOK", "billing")  # its subscription is bad, the contact is not
    return world


def quarantine(ops) -> dict[tuple[str, str | None], set[str]]:
    rows = ops.execute("select source_table, record_id, reasons from renewals.quarantine").fetchall()
    found: dict[tuple[str, str | None], list[set[str]]] = {}
    for table, record_id, reasons in rows:
        found.setdefault((table, record_id), []).append(set(reasons))
    return found


@pytest.mark.parametrize("warehouse_kind", KINDS)
def test_a_corpus_of_bad_rows_is_normalised_or_quarantined_and_the_run_succeeds(corpus, airflow, mailbox, ops):
    assert airflow.run(AS_OF) == "success"

    found = quarantine(ops)
    for subscription_id, (_fields, codes) in BAD_SUBSCRIPTIONS.items():
        assert found.pop(("subscriptions", subscription_id)) == [codes], subscription_id
    assert sorted(map(sorted, found.pop(("subscriptions", None)))) == [["missing_subscription_id"]]
    assert found.pop(("subscriptions", "   ")) == [{"missing_subscription_id"}]
    assert found.pop(("subscriptions", "S-DUP")) == [{"duplicate_subscription_id"}]
    assert found.pop(("subscriptions", "S-DUPW")) == [{"duplicate_subscription_id"}]  # the older copy
    assert found.pop(("subscriptions", "S-DUPBAD")) == [{"invalid_renewal_date", "duplicate_subscription_id"}]
    for contact_id, (_fields, codes) in BAD_CONTACTS.items():
        assert found.pop(("contacts", contact_id)) == [codes], contact_id
    assert found.pop(("contacts", None)) == [{"missing_contact_id"}]
    assert found.pop(("contacts", "C-TWICE")) == [{"duplicate_contact_id"}]
    assert found.pop(("contacts", "C-SAME-PERSON-2")) == [{"duplicate_contact"}]
    assert found == {}, "quarantined without being expected"

    subscriptions_in, s_processed, s_quarantined, contacts_in, c_processed, c_quarantined = ops.execute(
        """select subscriptions_in, subscriptions_processed, subscriptions_quarantined,
                  contacts_in, contacts_processed, contacts_quarantined from renewals.runs"""
    ).fetchone()
    print(
        f"\nBAD INPUT subscriptions: {subscriptions_in} in = {s_processed} processed + {s_quarantined} quarantined;"
        f" contacts: {contacts_in} in = {c_processed} processed + {c_quarantined} quarantined"
    )
    assert subscriptions_in == s_processed + s_quarantined
    assert contacts_in == c_processed + c_quarantined
    kinds = len(BAD_SUBSCRIPTIONS) + 1 + 3 + len(BAD_CONTACTS) + 3 + len(NORMALISED) + len(GATE_ORDERS)
    assert kinds >= 25
    processed = {"S-GOOD", *NORMALISED, *GATE_ORDERS, "S-DUP", "S-DUPW", "S-DUPBAD"}
    assert s_processed == len(processed)
    assert s_quarantined == len(BAD_SUBSCRIPTIONS) + len(NO_ID) + 3

    # every processed subscription is in the decision log; the due reminders were decided
    decided = dict(
        ops.execute(
            "select subscription_id, gate from renewals.decisions where touchpoint is null or touchpoint ="
            " 'renewal_reminder_15' or action = 'none'"
        ).fetchall()
    )
    considered = {sid for (sid,) in ops.execute("select distinct subscription_id from renewals.decisions")}
    assert considered == processed
    for subscription_id, (_fields, gate) in GATE_ORDERS.items():
        gates = {
            g
            for (g,) in ops.execute(
                "select distinct gate from renewals.decisions where subscription_id = %s", (subscription_id,)
            )
        }
        assert gates == {gate}, subscription_id
    assert decided  # the log is not empty


def test_normalised_values_of_a_typed_warehouse_are_sent_like_clean_ones(world, databases, mailbox, ops):
    """The normalisations a typed warehouse can carry (text columns): trimmed, case-folded, deduplicated."""
    due = AS_OF + timedelta(days=15)
    world.subscription("S-CLEAN", due)
    messy = {
        "playbook": " Membership\t",
        "tier": "PREMIER ",
        "member_type": " tc\r\n",
        "currency": " usd",
        "owner_email": " Owner@Example.ORG ",
        "timezone": "europe/paris",
    }
    world.subscription("S-MESSY", due, roles=(), **messy)
    world.contact("S-MESSY", " Primary\t", name="Pat Messy", email="  Primary.Messy@Members.Example.COM \r\n")
    world.contact("S-MESSY", "BILLING", email="primary.messy@members.example.com")  # the same person twice
    world.subscription("S-CONFIRM", AS_OF + timedelta(days=30), roles=("primary", "billing"))
    world.contact("S-CONFIRM", "committee", email=contact_email("S-CONFIRM", "primary").upper())

    full_run(resources_for(databases, mailbox), "scheduled__2026-12-01", AS_OF)

    assert ops.execute("select count(*) from renewals.quarantine").fetchone() == (0,)
    sent: dict[str, list] = {}
    for message in mailbox.messages:  # a reminder goes as one copy per recipient
        sent.setdefault(message["X-Renewal-Subscription"], []).append(message)
    assert set(sent) == {"S-CLEAN", "S-MESSY", "S-CONFIRM"}
    [messy] = sent["S-MESSY"]  # the same person twice gets one copy
    assert messy["To"].addresses[0].addr_spec == "primary.messy@members.example.com"
    assert "Dear Pat Messy," in messy.get_body(("plain",)).get_content()
    confirm_to = [a.addr_spec for m in sent["S-CONFIRM"] for a in m["To"].addresses]
    assert sorted(confirm_to) == sorted({contact_email("S-CONFIRM", "primary"), contact_email("S-CONFIRM", "billing")})


def test_rows_of_a_text_typed_warehouse_are_sent(corpus, databases, mailbox, ops):
    full_run(resources_for(databases, mailbox), "scheduled__2026-12-01", AS_OF)

    sent = {m["X-Renewal-Subscription"] for m in mailbox.messages}
    assert sent == {"S-GOOD", *NORMALISED, "S-DUP", "S-DUPW", "S-DUPBAD"}


def test_the_gate_recheck_uses_the_copy_of_a_duplicate_that_validation_kept(world, databases, mailbox, ops):
    # A typed warehouse: the two copies differ by whitespace, so both are valid primary keys.
    world.subscription("S-TWIN", AS_OF + timedelta(days=15), updated_at="2026-11-20T00:00:00Z")
    world.conn.execute(
        "insert into warehouse.subscriptions (subscription_id, account_id, account_name, playbook, tier, member_type,"
        " renewal_date, paused, updated_at) values (' S-TWIN', 'A', 'Old copy', 'membership', 'standard', 'TC',"
        " %s, true, '2026-01-01T00:00:00Z')",
        (AS_OF + timedelta(days=15),),
    )

    full_run(resources_for(databases, mailbox), "scheduled__2026-12-01", AS_OF)

    # validation kept the newer copy and quarantined the old, paused one
    assert ops.execute("select raw ->> 'subscription_id', reasons from renewals.quarantine").fetchall() == [
        (" S-TWIN", ["duplicate_subscription_id"])
    ]
    assert ops.execute(
        "select status, reason from renewals.touchpoints where touchpoint = 'renewal_reminder_15'"
    ).fetchall() == [("sent", None)]
    assert [m["X-Renewal-Subscription"] for m in mailbox.messages] == ["S-TWIN"]


def test_a_typed_warehouse_is_staged_with_its_types_and_its_odd_values_are_quarantined(world, databases, mailbox, ops):
    world.subscription("S-TYPED", AS_OF + timedelta(days=15), paid_at=None)
    # values a typed column can hold although no renewal has them
    world.subscription("S-INFINITE", AS_OF + timedelta(days=15))
    world.conn.execute(
        "update warehouse.subscriptions set renewal_date = 'infinity' where subscription_id = 'S-INFINITE'"
    )
    world.subscription("S-PAID-NEVER", AS_OF + timedelta(days=15))
    world.conn.execute(
        "update warehouse.subscriptions set paid_at = '-infinity' where subscription_id = 'S-PAID-NEVER'"
    )

    run = full_run(resources_for(databases, mailbox), "scheduled__2026-12-01", AS_OF)

    staged_types = dict(
        ops.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'renewals_work' and table_name = %s",
            (f"raw_subscriptions_{run.run_key}",),
        ).fetchall()
    )
    assert staged_types["renewal_date"] == "date"
    assert staged_types["paid_at"] == staged_types["updated_at"] == "timestamp with time zone"
    assert staged_types["paused"] == "boolean"
    assert staged_types["account_id"] == "text"
    assert dict(ops.execute("select record_id, reasons from renewals.quarantine").fetchall()) == {
        "S-INFINITE": ["renewal_date_out_of_range"],
        "S-PAID-NEVER": ["gate_before_cycle"],
    }
    assert [m["X-Renewal-Subscription"] for m in mailbox.messages] == ["S-TYPED"]
