"""The tokens of the public links (one-click unsubscribe, RFC 8058 and RFC 2369; one-click
answers), and the unsubscribe headers.

A token is opaque: its content (what it acts on, for whom, until when) is encrypted and
authenticated (Fernet: AES-128-CBC and HMAC-SHA256) under a key derived from a secret kept in
Airflow (the ``renewals_unsubscribe`` connection's password), never from the repository. So no
address can be read from a URL, and whoever holds a valid token may do what it says without a
login; a token changed in any way, sealed with another secret, of another kind or expired is
refused and changes nothing. Each token acts for one recipient. The secret is at least 32 bytes;
while it is rotated, links sealed with the one before it (the connection's extra
``previous_password``) are still honoured.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from renewals.statuses import MemberAnswer

UNSUBSCRIBE = "unsubscribe"
ANSWER = "answer"
ANSWERS = tuple(MemberAnswer)  # "intent", "decline"
# The key derived from a secret shorter than the hash's 32 bytes would be easier to guess than it need be.
MIN_SECRET_BYTES = 32


class BadToken(ValueError):
    """Not a token this deployment sealed (malformed, tampered with, forged, or of another kind)."""


class ExpiredToken(ValueError):
    """A genuine token past its expiry."""


@dataclass(frozen=True)
class Unsubscribe:
    address: str
    scope: str


@dataclass(frozen=True)
class Answer:
    """A member's answer for one renewal cycle, given with one recipient's link."""

    subscription_id: str
    renewal_date: date
    answer: str  # intent | decline
    recipient: str
    touchpoint: str
    sent_on: date  # the as-of day of the run that sent the link: the answer cannot count before it


def _fernet(secret: bytes) -> Fernet:
    """The link key: derived from the secret (any length), so the secret itself is never the key."""
    key = hmac.new(secret, b"renewals public links v1", hashlib.sha256).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def weak_secret(secret: bytes) -> str | None:
    """Why ``secret`` may not seal links (None: it may)."""
    if len(secret) < MIN_SECRET_BYTES:
        return f"is {len(secret)} bytes long; a signing secret needs at least {MIN_SECRET_BYTES} random bytes"
    return None


def _seal(secret: bytes, kind: str, data: dict[str, Any], expires: datetime) -> str:
    payload = json.dumps({"k": kind, **data, "e": int(expires.timestamp())}, separators=(",", ":"))
    return _fernet(secret).encrypt(payload.encode()).decode()


def _open(secret: bytes, token: str, kind: str, now: datetime | None, previous: bytes | None) -> dict[str, Any]:
    keys = MultiFernet([_fernet(key) for key in (secret, previous) if key])
    try:
        data = json.loads(keys.decrypt(token.encode()))
        if not isinstance(data, dict) or data.get("k") != kind:
            raise BadToken("this link is not valid")
        expires = int(data["e"])
    except (InvalidToken, ValueError, KeyError, TypeError, UnicodeError):
        raise BadToken("this link is not valid") from None
    if (now or datetime.now(UTC)).timestamp() > expires:
        raise ExpiredToken("this link has expired")
    return data


def make_token(secret: bytes, address: str, scope: str, expires: datetime) -> str:
    """An unsubscribe token for one recipient's ``address``."""
    return _seal(secret, UNSUBSCRIBE, {"a": address.strip().lower(), "s": scope}, expires)


def read_token(secret: bytes, token: str, now: datetime | None = None, previous: bytes | None = None) -> Unsubscribe:
    """What an unsubscribe token unsubscribes, sealed with ``secret`` or (during a rotation)
    ``previous``; :class:`BadToken` or :class:`ExpiredToken` otherwise."""
    data = _open(secret, token, UNSUBSCRIBE, now, previous)
    try:
        return Unsubscribe(str(data["a"]), str(data["s"]))
    except KeyError:
        raise BadToken("this link is not valid") from None


def make_answer_token(secret: bytes, answer: Answer, expires: datetime) -> str:
    if answer.answer not in ANSWERS:
        raise ValueError(f"answer {answer.answer!r}: expected one of {ANSWERS}")
    data = {
        "s": answer.subscription_id,
        "r": answer.renewal_date.isoformat(),
        "a": answer.answer,
        "t": answer.recipient.strip().lower(),
        "p": answer.touchpoint,
        "d": answer.sent_on.isoformat(),
    }
    return _seal(secret, ANSWER, data, expires)


def read_answer_token(secret: bytes, token: str, now: datetime | None = None, previous: bytes | None = None) -> Answer:
    """The answer a token gives (sealed with ``secret`` or ``previous``, as :func:`read_token`);
    :class:`BadToken` or :class:`ExpiredToken` otherwise."""
    data = _open(secret, token, ANSWER, now, previous)
    try:
        answer = Answer(
            str(data["s"]),
            date.fromisoformat(data["r"]),
            str(data["a"]),
            str(data["t"]),
            str(data["p"]),
            date.fromisoformat(data["d"]),
        )
    except (KeyError, TypeError, ValueError):
        raise BadToken("this link is not valid") from None
    if answer.answer not in ANSWERS:
        raise BadToken("this link is not valid")
    return answer


def token_digest(token: str) -> str:
    """What the ops schema keeps of a used token (a replay finds it)."""
    return hashlib.sha256(token.encode()).hexdigest()


def unsubscribe_link(secret: bytes, public_url: str, address: str, valid_days: int) -> str:
    token = make_token(secret, address, "all", datetime.now(UTC) + timedelta(days=valid_days))
    return f"{public_url.rstrip('/')}/renewals/unsubscribe?token={quote(token)}"


def answer_links(secret: bytes, public_url: str, answer: Answer, valid_days: int) -> dict[str, str]:
    """The two answer links of one recipient (``answer.answer`` is ignored): {intent: url, decline: url}."""
    expires = datetime.now(UTC) + timedelta(days=valid_days)
    base = public_url.rstrip("/")
    links: dict[str, str] = {}
    for kind in ANSWERS:
        token = make_answer_token(secret, Answer(**{**answer.__dict__, "answer": kind}), expires)
        links[kind] = f"{base}/renewals/answer/{kind}?token={quote(token)}"
    return links


def add_headers(message: EmailMessage, link: str, mailto: str) -> None:
    """``List-Unsubscribe`` (the https ``link`` of the message's one recipient, and a mailto) and
    ``List-Unsubscribe-Post`` (one click: the mail client POSTs to the link)."""
    message["List-Unsubscribe"] = f"<{link}>, <mailto:{mailto}?subject=unsubscribe>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
