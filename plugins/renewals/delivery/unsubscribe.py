"""One-click unsubscribe (RFC 8058, RFC 2369): the signed token of a reminder's
``List-Unsubscribe`` link, and the headers.

A token carries the message's customer addresses, the scope of the suppression (``all``: every
playbook) and an expiry, signed with HMAC-SHA256 under a secret from Airflow (the
``renewals_unsubscribe`` connection's password, at least 32 bytes), never from the repository.
While a secret is rotated, links signed with the one before it (the connection's extra
``previous_password``) are still honoured. Whoever holds a
valid token may unsubscribe those addresses, so the endpoint needs no login; a token changed in
any way, signed with another secret or expired is refused and changes nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from urllib.parse import quote

# An HMAC-SHA256 key shorter than the hash's 32 bytes makes links easier to forge than they need be.
MIN_SECRET_BYTES = 32


class BadToken(ValueError):
    """Not a token this deployment signed (malformed, tampered with or forged)."""


class ExpiredToken(ValueError):
    """A genuine token past its expiry."""


@dataclass(frozen=True)
class Unsubscribe:
    addresses: tuple[str, ...]
    scope: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: bytes, payload: str) -> str:
    return _b64(hmac.new(secret, payload.encode(), hashlib.sha256).digest())


def make_token(secret: bytes, addresses: list[str], scope: str, expires: datetime) -> str:
    payload = _b64(json.dumps({"a": addresses, "s": scope, "e": int(expires.timestamp())}).encode())
    return f"{payload}.{_signature(secret, payload)}"


def weak_secret(secret: bytes) -> str | None:
    """Why ``secret`` may not sign links (None: it may)."""
    if len(secret) < MIN_SECRET_BYTES:
        return f"is {len(secret)} bytes long; a signing secret needs at least {MIN_SECRET_BYTES} random bytes"
    return None


def read_token(secret: bytes, token: str, now: datetime | None = None, previous: bytes | None = None) -> Unsubscribe:
    """What a token unsubscribes, signed with ``secret`` or (during a rotation) ``previous``;
    :class:`BadToken` or :class:`ExpiredToken` otherwise."""
    payload, dot, signature = token.partition(".")
    signed = [key for key in (secret, previous) if key]
    if not dot or not any(hmac.compare_digest(signature.encode(), _signature(key, payload).encode()) for key in signed):
        raise BadToken("this unsubscribe link is not valid")
    try:
        data = json.loads(_unb64(payload))
        addresses, scope, expires = tuple(data["a"]), str(data["s"]), int(data["e"])
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise BadToken("this unsubscribe link is not valid") from None
    if (now or datetime.now(UTC)).timestamp() > expires:
        raise ExpiredToken("this unsubscribe link has expired")
    return Unsubscribe(addresses, scope)


def add_headers(message: EmailMessage, secret: bytes, public_url: str, mailto: str, valid_days: int) -> None:
    """``List-Unsubscribe`` (the https link with the message's token, and a mailto) and
    ``List-Unsubscribe-Post`` (one click: the mail client POSTs to the link) for every customer
    recipient of ``message`` (To)."""
    addresses = [a.addr_spec.lower() for a in message["To"].addresses]
    token = make_token(secret, addresses, "all", datetime.now(UTC) + timedelta(days=valid_days))
    link = f"{public_url.rstrip('/')}/renewals/unsubscribe?token={quote(token)}"
    message["List-Unsubscribe"] = f"<{link}>, <mailto:{mailto}?subject=unsubscribe>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
