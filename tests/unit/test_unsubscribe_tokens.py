"""Unsubscribe tokens: what a signed token carries, and every way a token is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from urllib.parse import parse_qs, urlsplit

import pytest

from renewals.config import ConfigError, Settings
from renewals.delivery.messages import WIRE_POLICY
from renewals.delivery.unsubscribe import BadToken, ExpiredToken, add_headers, make_token, read_token

SECRET = b"test-secret-not-used-anywhere-else"
LATER = datetime.now(UTC) + timedelta(days=1)


def test_a_token_carries_its_addresses_and_scope():
    token = make_token(SECRET, ["a@example.com", "b@example.com"], "all", LATER)
    found = read_token(SECRET, token)
    assert (found.addresses, found.scope) == (("a@example.com", "b@example.com"), "all")


@pytest.mark.parametrize(
    "change",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature changed
        lambda t: "x" + t,  # payload changed
        lambda t: t.split(".")[0],  # no signature
        lambda t: "",
        lambda t: make_token(b"another secret", ["a@example.com"], "all", LATER),  # forged
    ],
)
def test_a_changed_or_forged_token_is_refused(change):
    with pytest.raises(BadToken):
        read_token(SECRET, change(make_token(SECRET, ["a@example.com"], "all", LATER)))


def test_an_expired_token_is_refused():
    token = make_token(SECRET, ["a@example.com"], "all", datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(ExpiredToken):
        read_token(SECRET, token, now=datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC))


def test_the_headers_stay_one_unfolded_url_on_the_wire():
    message = EmailMessage()
    message["To"] = "Jane@Example.com"
    message.set_content("x")
    add_headers(message, SECRET, "https://airflow.example.org/", "unsubscribe@example.org", 30)
    wire = message.as_bytes(policy=WIRE_POLICY).decode()
    line = next(line for line in wire.split("\r\n") if line.startswith("List-Unsubscribe:"))
    assert line.startswith("List-Unsubscribe: <https://airflow.example.org/renewals/unsubscribe?token=")
    assert line.endswith(", <mailto:unsubscribe@example.org?subject=unsubscribe>") and "=?" not in line
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in wire
    link = line.split("<", 1)[1].split(">", 1)[0]
    assert read_token(SECRET, parse_qs(urlsplit(link).query)["token"][0]).addresses == ("jane@example.com",)


def test_a_flag_setting_that_is_not_true_or_false_is_a_config_error():
    with pytest.raises(ConfigError, match="RENEWALS_LIST_UNSUBSCRIBE"):
        Settings.from_env({"RENEWALS_LIST_UNSUBSCRIBE": "maybe"})
    assert Settings.from_env({"RENEWALS_SUPPRESS_TRANSACTIONAL": "true"}).suppress_transactional is True
