"""The embedded local stack: the file-keeping SMTP server, PostgreSQL (local and embedded), demo data."""

from __future__ import annotations

import shutil
import smtplib
import socket
import tempfile
import threading
import uuid
from collections.abc import Iterator
from datetime import date
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import psycopg
import pytest

from devenv.demo_data import MEMBERSHIP_TOUCHPOINT_OFFSETS, seed_warehouse
from devenv.mailbox import FileMailbox
from devenv.postgres import (
    drop_database,
    ensure_database,
    ensure_server,
    server_answers,
    stop_embedded,
)
from renewals.config import PROJECT_ROOT

AS_OF = date(2026, 11, 21)
PLAYBOOKS = {"membership", "contract", "sales", "low_touch"}
BAD_SUBSCRIPTIONS = 7


def _message(to: str = "primary.s000042@members.example.com") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Membership Services <renewals@example.org>"
    message["To"] = to
    message["Subject"] = "Your membership renews on 2026-12-21"
    message["Message-ID"] = "<renewal_reminder_15.S-000042.2026-12-21@renewals.example.org>"
    message["X-Renewal-Subscription"] = "S-000042"
    message["X-Renewal-Date"] = "2026-12-21"
    message["X-Renewal-Touchpoint"] = "renewal_reminder_15"
    message.set_content("Please confirm your renewal.\n")
    return message


def _closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_box(tmp_path: Path) -> Iterator[FileMailbox]:
    with FileMailbox(tmp_path / "outbox") as box:
        yield box


def _send(box: FileMailbox, message: EmailMessage, to: list[str] | None = None) -> None:
    with smtplib.SMTP("127.0.0.1", box.port, timeout=10) as client:
        client.send_message(message, to_addrs=to)


def test_mailbox_keeps_each_message_as_an_eml_file(smtp_box: FileMailbox) -> None:
    assert smtp_box.port > 0
    sent = _message()

    _send(smtp_box, sent, to=["primary.s000042@members.example.com", "billing.s000042@members.example.com"])

    files = list(smtp_box.outbox.glob("*.eml"))
    assert len(files) == 1
    kept = BytesParser(policy=policy.default).parsebytes(files[0].read_bytes())
    for header in ("From", "To", "Subject", "Message-ID", *(h for h in sent if h.startswith("X-Renewal"))):
        assert kept[header] == sent[header]
    assert kept["X-Envelope-To"] == "primary.s000042@members.example.com, billing.s000042@members.example.com"
    [in_memory] = smtp_box.messages
    assert in_memory["X-Renewal-Touchpoint"] == "renewal_reminder_15"
    assert in_memory["X-Envelope-From"] == "<renewals@example.org>"
    assert in_memory.get_content() == "Please confirm your renewal.\n"


def test_fail_next_answers_a_real_smtp_error_then_accepts_again(smtp_box: FileMailbox) -> None:
    smtp_box.fail_next(451, "4.3.0 Try again later")

    with pytest.raises(smtplib.SMTPDataError) as failure:
        _send(smtp_box, _message())
    assert (failure.value.smtp_code, failure.value.smtp_error) == (451, b"4.3.0 Try again later")
    assert smtp_box.messages == [] and list(smtp_box.outbox.glob("*.eml")) == []

    _send(smtp_box, _message())
    assert len(smtp_box.messages) == 1


@pytest.mark.parametrize(
    ("stage", "error"), [("MAIL", smtplib.SMTPSenderRefused), ("RCPT", smtplib.SMTPRecipientsRefused)]
)
def test_fail_next_at_the_envelope_stages(smtp_box: FileMailbox, stage: str, error: type[Exception]) -> None:
    smtp_box.fail_next(452, "4.3.1 Insufficient system storage", count=2, stage=stage)

    for _ in range(2):
        with pytest.raises(error):
            _send(smtp_box, _message())
    _send(smtp_box, _message())

    assert len(smtp_box.messages) == 1


def test_reject_recipient_refuses_that_address_only(smtp_box: FileMailbox) -> None:
    smtp_box.reject_recipient("Gone@Members.Example.com")

    with pytest.raises(smtplib.SMTPRecipientsRefused) as failure:
        _send(smtp_box, _message(to="gone@members.example.com"))
    assert failure.value.recipients == {"gone@members.example.com": (550, b"5.1.1 Mailbox unavailable")}

    _send(smtp_box, _message(), to=["gone@members.example.com", "billing.s000042@members.example.com"])
    [delivered] = smtp_box.messages
    assert delivered["X-Envelope-To"] == "billing.s000042@members.example.com"


def test_ensure_server_returns_the_override_as_is(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RENEWALS_PG_URI", "postgresql://someone@db.example.org:6543")

    assert ensure_server(tmp_path) == "postgresql://someone@db.example.org:6543"


def test_embedded_server_starts_when_none_answers_and_keeps_its_data(monkeypatch: pytest.MonkeyPatch) -> None:
    # Not tmp_path: as root the server runs as an unprivileged user, who must reach the directory.
    state_dir = Path(tempfile.mkdtemp(prefix="renewals-devenv-"))
    state_dir.chmod(0o755)
    monkeypatch.delenv("RENEWALS_PG_URI", raising=False)
    monkeypatch.setenv("RENEWALS_PG_PROBE_PORT", str(_closed_port()))
    try:
        server = ensure_server(state_dir)
        port = int(server.rsplit(":", 1)[1])
        assert server == f"postgresql://postgres@127.0.0.1:{port}"
        assert ensure_server(state_dir) == server  # found running, not started twice
        with psycopg.connect(ensure_database(server, "kept")) as conn:
            conn.execute("create table marker as select 1 as x")

        stop_embedded(state_dir / "pgdata")
        assert not server_answers(port=port)

        restarted = ensure_server(state_dir)
        with psycopg.connect(ensure_database(restarted, "kept")) as conn:
            assert conn.execute("select x from marker").fetchone() == (1,)
    finally:
        stop_embedded(state_dir / "pgdata")
        shutil.rmtree(state_dir)


@pytest.fixture
def server() -> str:
    return ensure_server(PROJECT_ROOT / ".demo")


def test_ensure_database_is_safe_when_two_callers_race(server: str) -> None:
    name = f"t_devenv_race_{uuid.uuid4().hex[:10]}"
    results: list[str] = []

    def create() -> None:
        results.append(ensure_database(server, name))

    callers = [threading.Thread(target=create) for _ in range(4)]
    try:
        for caller in callers:
            caller.start()
        for caller in callers:
            caller.join()
        assert len(results) == 4 and len(set(results)) == 1
        with psycopg.connect(results[0]) as conn:
            assert conn.execute("select current_database()").fetchone() == (name,)
    finally:
        drop_database(server, name)


@pytest.fixture
def warehouse(server: str) -> Iterator[psycopg.Connection]:
    name = f"t_devenv_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(ensure_database(server, name)) as conn:
            yield conn
    finally:
        drop_database(server, name)


def _checksum(conn: psycopg.Connection) -> tuple[str, str]:
    row = conn.execute(
        """
        select (select md5(string_agg(s::text, '|' order by subscription_id)) from warehouse.subscriptions s),
               (select md5(string_agg(c::text, '|' order by contact_id)) from warehouse.contacts c)
        """
    ).fetchone()
    assert row is not None
    return row


def test_seed_warehouse_counts_and_is_deterministic(warehouse: psycopg.Connection) -> None:
    counts = seed_warehouse(warehouse, AS_OF)

    in_tables = warehouse.execute(
        "select (select count(*) from warehouse.subscriptions), (select count(*) from warehouse.contacts)"
    ).fetchone()
    assert (counts["subscriptions"], counts["contacts"]) == in_tables
    assert counts["subscriptions"] == 3000 + BAD_SUBSCRIPTIONS
    first = _checksum(warehouse)

    assert seed_warehouse(warehouse, AS_OF) == counts
    assert _checksum(warehouse) == first
    seed_warehouse(warehouse, AS_OF, seed=7)
    assert _checksum(warehouse) != first


def test_seed_warehouse_spreads_every_touchpoint_and_playbook(warehouse: psycopg.Connection) -> None:
    seed_warehouse(warehouse, AS_OF)

    no_response = {
        days
        for (days,) in warehouse.execute(
            """
            select distinct renewal_date - %s
            from warehouse.subscriptions
            where playbook = 'membership' and subscription_id not like 'S-BAD-%%'
              and intent_confirmed_at is null and paid_at is null and declined_at is null
            """,
            (AS_OF,),
        )
    }
    assert set(MEMBERSHIP_TOUCHPOINT_OFFSETS) <= no_response
    playbooks = {
        playbook
        for (playbook,) in warehouse.execute(
            "select distinct playbook from warehouse.subscriptions where subscription_id not like 'S-BAD-%'"
        )
    }
    assert playbooks == PLAYBOOKS
    bad = warehouse.execute(
        """
        select (select count(*) from warehouse.subscriptions where subscription_id like 'S-BAD-%'),
               (select count(*) from warehouse.contacts c
                where c.subscription_id not in (select subscription_id from warehouse.subscriptions))
        """
    ).fetchone()
    assert bad == (BAD_SUBSCRIPTIONS, 1)
