"""Message hygiene on the real SMTP server: one copy per address across To and Cc, long non-ASCII
subjects that decode, from the received .eml, to exactly the subject the ledger records, and
customer copies addressed by name, which SpamAssassin (Debian's, local tests only) does not hold
against them."""

from __future__ import annotations

import re
import subprocess
from datetime import date, timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest

from devenv.inprocess import deliver_all
from renewals.storage.runs import RunContext
from tests.daily import resources_for
from tests.world import contact_email

AS_OF = date(2026, 12, 1)
SPAMASSASSIN = "/usr/bin/spamassassin"  # Debian's spamassassin (make spamassassin installs it)


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


def spam_verdict(eml: Path, home: Path) -> tuple[float, set[str]]:
    """SpamAssassin's score of a received message and the rules it hit: local tests only (-L: no
    DNS or network lists), no Bayes, nothing learnt or kept outside ``home``."""
    checked = subprocess.run(
        [SPAMASSASSIN, "-t", "-L", "--cf=use_bayes 0", "--cf=bayes_auto_learn 0"],
        input=eml.read_bytes(),
        capture_output=True,
        check=True,
        env={"HOME": str(home), "PATH": "/usr/bin:/bin"},
    ).stdout
    status = BytesParser(policy=policy.default).parsebytes(checked)["X-Spam-Status"]
    score = re.search(r"score=(-?[\d.]+)", status)
    rules = re.search(r"tests=(.*?) autolearn=", " ".join(status.split()))
    assert score and rules, status
    return float(score.group(1)), set(rules.group(1).replace(",", " ").split()) - {"none"}


def test_customer_copies_name_their_recipient_and_score_under_one_point(world, resources, mailbox, tmp_path):
    # The subject starts with the account's name, which is also its contacts' domain: with a bare
    # address in To, SpamAssassin adds PDS_BRAND_SUBJ_NAKED_TO (1.0 point).
    world.subscription("S-ACME", AS_OF + timedelta(days=30), account_name="Acme", roles=())  # renewal_confirmation
    world.contact("S-ACME", "primary", name="Ann Lee", email="ann@acme.example")
    world.contact("S-ACME", "billing", name=None, email="billing@acme.example")  # no name: the account's
    world.contact("S-ACME", "committee", name="Zoë\r\nBcc: thief@evil.example", email="zoe@acme.example")

    run_day(resources)

    received = {
        message["X-Envelope-To"]: (message, path)
        for message, path in zip(mailbox.messages, sorted(mailbox.outbox.glob("*.eml")), strict=True)
    }
    assert {address: str(message["To"]) for address, (message, _) in received.items()} == {
        "ann@acme.example": "Ann Lee <ann@acme.example>",
        "billing@acme.example": "Acme <billing@acme.example>",
        "zoe@acme.example": '"Zoë Bcc: thief@evil.example" <zoe@acme.example>',  # a name, never a header
    }
    assert all(message["Bcc"] is None for message, _ in received.values())
    assert str(received["ann@acme.example"][0]["Subject"]).startswith("Acme:")
    for message, eml in received.values():
        score, rules = spam_verdict(eml, tmp_path)
        assert "PDS_BRAND_SUBJ_NAKED_TO" not in rules and score < 1.0, (message["X-Envelope-To"], score, rules)
