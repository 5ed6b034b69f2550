"""Public link tokens (unsubscribe, answers): what a token carries for one recipient, that it
reads as nothing, and every way a token is refused."""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from urllib.parse import parse_qs, urlsplit

import pytest

from renewals.config import ConfigError, Settings
from renewals.delivery.messages import WIRE_POLICY
from renewals.delivery.unsubscribe import (
    Answer,
    BadToken,
    ExpiredToken,
    Unsubscribe,
    add_headers,
    make_answer_token,
    make_token,
    read_answer_token,
    read_token,
    unsubscribe_link,
)

SECRET = b"test-secret-not-used-anywhere-else"
LATER = datetime.now(UTC) + timedelta(days=1)


def test_a_token_carries_its_one_address_and_scope_and_reads_as_nothing():
    token = make_token(SECRET, "A@Example.com ", "all", LATER)
    assert read_token(SECRET, token) == Unsubscribe("a@example.com", "all")
    assert "example" not in token.lower() and "example" not in str(base64.urlsafe_b64decode(token)).lower()


def test_an_answer_token_is_bound_to_its_cycle_answer_and_recipient():
    answer = Answer(
        "S-1", date(2026, 12, 1), "decline", "billing@example.com", "renewal_reminder_15", date(2026, 11, 16)
    )
    token = make_answer_token(SECRET, answer, LATER)
    assert read_answer_token(SECRET, token) == answer
    with pytest.raises(BadToken):  # an answer token does not unsubscribe, nor the reverse
        read_token(SECRET, token)
    with pytest.raises(BadToken):
        read_answer_token(SECRET, make_token(SECRET, "a@example.com", "all", LATER))


@pytest.mark.parametrize(
    "change",
    [
        lambda t: t[:-4] + ("AAAA" if not t.endswith("AAAA") else "BBBB"),  # authentication tag changed
        lambda t: t[:20] + ("x" if t[20] != "x" else "y") + t[21:],  # content changed
        lambda t: t[: len(t) // 2],  # cut short
        lambda t: "",
        lambda t: "not a token at all",
        lambda t: make_token(b"another secret of thirty-two bytes!", "a@example.com", "all", LATER),  # forged
    ],
)
def test_a_changed_or_forged_token_is_refused(change):
    with pytest.raises(BadToken):
        read_token(SECRET, change(make_token(SECRET, "a@example.com", "all", LATER)))


def test_an_expired_token_is_refused():
    token = make_token(SECRET, "a@example.com", "all", datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(ExpiredToken):
        read_token(SECRET, token, now=datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC))


def test_the_headers_stay_one_unfolded_url_on_the_wire():
    message = EmailMessage()
    message["To"] = "Jane@Example.com"
    message.set_content("x")
    add_headers(
        message,
        unsubscribe_link(SECRET, "https://members.example.org/", "Jane@Example.com", 30),
        "unsubscribe@example.org",
    )
    wire = message.as_bytes(policy=WIRE_POLICY).decode()
    line = next(line for line in wire.split("\r\n") if line.startswith("List-Unsubscribe:"))
    assert line.startswith("List-Unsubscribe: <https://members.example.org/renewals/unsubscribe?token=")
    assert line.endswith(", <mailto:unsubscribe@example.org?subject=unsubscribe>") and "=?" not in line
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in wire
    link = line.split("<", 1)[1].split(">", 1)[0]
    assert read_token(SECRET, parse_qs(urlsplit(link).query)["token"][0]).address == "jane@example.com"


def test_a_flag_setting_that_is_not_true_or_false_is_a_config_error():
    with pytest.raises(ConfigError, match="RENEWALS_LIST_UNSUBSCRIBE"):
        Settings.from_env({"RENEWALS_LIST_UNSUBSCRIBE": "maybe"})
    assert Settings.from_env({"RENEWALS_SUPPRESS_TRANSACTIONAL": "true"}).suppress_transactional is True
