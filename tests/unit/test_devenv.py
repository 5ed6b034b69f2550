"""The embedded local stack: the file-keeping SMTP server, and which PostgreSQL server it picks (the
servers themselves and the demo data: tests/integration/test_devenv_postgres.py)."""

from __future__ import annotations

import os
import smtplib
import subprocess
import sys
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest

from devenv.mailbox import FileMailbox
from devenv.postgres import (
    ensure_server,
)
from renewals.config import PROJECT_ROOT


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


def test_two_checkouts_name_their_demo_databases_apart(tmp_path: Path) -> None:
    """`make reset` in one checkout drops its own demo databases, never another checkout's."""
    from devenv.stack import LocalStack

    def names(state_dir: Path) -> set[str]:
        stack = LocalStack(state_dir)
        return {stack.warehouse_db, stack.ops_db, stack.airflow_db}

    first, second = names(tmp_path / "a" / ".demo"), names(tmp_path / "b" / ".demo")
    assert len(first) == 3 and not first & second
    assert names(tmp_path / "a" / ".demo") == first  # the same checkout finds its databases again
    assert all(len(name) <= 63 and name.replace("_", "").isalnum() for name in first | second)


def test_the_demo_resolves_a_timed_out_approval_only_once_every_other_task_has_finished() -> None:
    """`make run` resolves the timed-out request in a second process: never while `dags test` is
    still running another task of the run (that raced a finishing deliver task)."""
    from devenv.__main__ import approval_requests

    request = ("approve_irreversible_steps", "awaiting_input", True)
    waiting_for_it = ("carry_out_approvals", None, False)
    assert approval_requests([request, waiting_for_it, ("deliver_upcoming", "running", False)]) == (True, False)
    assert approval_requests([request, waiting_for_it, ("publish", None, False)]) == (True, False)
    done = [request, waiting_for_it, ("deliver_upcoming", "success", False), ("publish", "success", False)]
    assert approval_requests(done) == (True, True)
    not_yet = [("approve_irreversible_steps", "awaiting_input", False), ("deliver_upcoming", "success", False)]
    assert approval_requests(not_yet) == (True, False)
    assert approval_requests([("deliver_upcoming", "running", False)]) == (False, False)


def test_make_run_takes_a_date_and_refuses_args() -> None:
    """`make run DATE=...` runs that day; ARGS (which it never used) is refused, not ignored."""
    dry = subprocess.run(
        ["make", "-n", "run", "DATE=2026-12-06"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    )
    assert "-m devenv run --date 2026-12-06" in dry.stdout
    today = subprocess.run(["make", "-n", "run"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    assert "-m devenv run" in today.stdout and "--date" not in today.stdout
    refused = subprocess.run(
        ["make", "-n", "run", "ARGS=--date 2026-12-06"], cwd=PROJECT_ROOT, capture_output=True, text=True
    )
    assert refused.returncode != 0 and "DATE=YYYY-MM-DD" in refused.stderr


def test_devenv_runs_without_pythonpath() -> None:
    """`python -m devenv` from a fresh shell (no PYTHONPATH=plugins) finds the renewals package and
    refuses a date that is not one before touching anything."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    answer = subprocess.run(
        [sys.executable, "-m", "devenv", "run", "--date", "2026-13-01"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert answer.returncode == 2, answer.stderr
    assert "ModuleNotFoundError" not in answer.stderr
    assert "'2026-13-01' is not a date (YYYY-MM-DD)" in answer.stderr


def test_make_runs_last_line_counts_the_runs_emails_apart_from_notices_about_the_run(smtp_box: FileMailbox) -> None:
    from devenv.__main__ import outbox_line

    notice = EmailMessage()
    notice["From"], notice["To"], notice["Subject"] = "renewals@example.org", "ms@example.org", "[renewals] Approve 1"
    notice.set_content("An approval request: no X-Renewal-Touchpoint header.\n")
    with smtplib.SMTP(smtp_box.host, smtp_box.port) as client:
        client.send_message(_message())
        copy = _message(to="billing.s000042@members.example.com")  # the same reminder: the billing contact's copy
        copy.replace_header("Message-ID", "<renewal_reminder_15.S-000042.2026-12-21.billing@renewals.example.org>")
        client.send_message(copy)
        client.send_message(notice)
    files = sorted(smtp_box.outbox.glob("*.eml"))
    line = outbox_line(files, len(files), smtp_box.outbox)
    assert line.startswith(
        "Outbox: 3 new .eml file(s): 2 email(s) of the 1 customer and staff message(s) counted above"
    )
    assert "1 notice(s) about the run" in line
