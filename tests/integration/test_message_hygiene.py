"""Message hygiene on the real SMTP server: one copy per address across To and Cc, and long
non-ASCII subjects that decode, from the received .eml, to exactly the subject the ledger records."""

from __future__ import annotations

from datetime import date, timedelta
from email import policy
from email.parser import BytesParser

import pytest

from devenv.inprocess import deliver_all
from renewals.storage.runs import RunContext
from tests.daily import resources_for
from tests.world import contact_email

AS_OF = date(2026, 12, 1)


@pytest.fixture
def resources(databases, mailbox):
    return resources_for(databases, mailbox, smtp_retry_delays=(0.0,))


def run_day(resources) -> None:
    from devenv import inprocess

    run = RunContext(run_id="hygiene", as_of=AS_OF)
    inprocess.classified(resources, run)
    deliver_all(resources, run)


def test_an_owner_who_is_also_the_primary_contact_gets_one_copy(world, resources, mailbox):
    # The contract acknowledgement goes to primary and billing with the owner in Cc; the owner is
    # the primary contact, spelled with another case in the warehouse.
    primary = contact_email("S-1", "primary")
    world.subscription("S-1", AS_OF + timedelta(days=60), playbook="contract", owner_email=primary.upper())

    run_day(resources)

    # one copy per customer recipient (each with its own links), none for the owner in copy
    envelope = [address.strip().lower() for m in mailbox.messages for address in m["X-Envelope-To"].split(",")]
    assert sorted(envelope) == sorted([primary, contact_email("S-1", "billing")])
    addresses = [
        a.addr_spec.lower()
        for m in mailbox.messages
        for header in ("To", "Cc")
        if m[header]
        for a in m[header].addresses
    ]
    assert sorted(addresses) == sorted(envelope)


SUBJECT_NAMES = [
    "Αθηναϊκή Εταιρεία Λογισμικού και Υπηρεσιών Διαδικτύου Ανώνυμη Εταιρεία",
    "株式会社サンプル 東京本社 国際事業部 サンプルテキスト 長い会社名",
    "🚀 Zoë Rocket Labs 🚀 Zoë Ventures ✨ Ünïcødé Ltd",
    "Ζωή 🚀 Zoë 株式会社 mixed scripts and — dashes",
]


def test_long_non_ascii_subjects_arrive_as_the_ledger_records_them(world, resources, mailbox, ops):
    for n, name in enumerate(SUBJECT_NAMES):
        world.subscription(f"S-{n}", AS_OF + timedelta(days=15), account_name=name)

    run_day(resources)

    ledger = dict(ops.execute("select message_id, subject from renewals.touchpoints where status = 'sent'").fetchall())
    received = {}
    for path in sorted(mailbox.outbox.glob("*.eml")):
        raw = path.read_bytes()
        parsed = BytesParser(policy=policy.default).parsebytes(raw.replace(b"\r\n", b"\n"))
        headers = raw.split(b"\r\n\r\n")[0].split(b"\r\n")
        start = next(n for n, line in enumerate(headers) if line.startswith(b"Subject: "))
        end = next((n for n in range(start + 1, len(headers)) if not headers[n].startswith(b" ")), len(headers))
        assert all(len(line) <= 78 for line in headers[start:end]), "the Subject is folded as RFC 5322 asks"
        received[parsed["Message-ID"]] = str(parsed["Subject"])
    assert len(received) == len(SUBJECT_NAMES)
    assert received == ledger
    for name in SUBJECT_NAMES:
        assert any(name in subject for subject in received.values()), name
