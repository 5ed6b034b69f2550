"""Email messages with the contract's headers and a deterministic Message-ID."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import date
from email import policy
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

from renewals.delivery.render import RenderedMessage

# How a message goes on the wire: headers folded only past RFC 5322's hard limit of 998, so that
# a long List-Unsubscribe URL stays one URL (folding it would turn it into encoded-words, which
# mail clients do not read there). Bodies were encoded when set, with 76-character lines.
WIRE_POLICY = policy.default.clone(max_line_length=998, linesep="\r\n")


def message_id(
    subscription_id: str, renewal_date: date, touchpoint: str, domain: str, audience: str | None = None
) -> str:
    """The same touchpoint of the same renewal always gets the same Message-ID, so a resend is
    recognisable downstream; ``audience`` tells apart the messages of a touchpoint that sends several."""
    parts = [subscription_id, renewal_date.isoformat(), touchpoint] + ([audience] if audience else [])
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]
    return f"<{digest}@{domain}>"


def sender_domain(sender: str) -> str:
    _local, at, domain = parseaddr(sender)[1].rpartition("@")
    return domain if at and domain else "renewals.invalid"


def sender_name(sender: str) -> str:
    name, address = parseaddr(sender)
    return name or address


def build_email(
    *,
    sender: str,
    to: list[str],
    cc: list[str],
    reply_to: str | None,
    rendered: RenderedMessage,
    subscription_id: str,
    renewal_date: date,
    touchpoint: str,
    msg_id: str,
    to_names: Mapping[str, str] | None = None,
) -> EmailMessage:
    """``to_names``: the To addresses' display names, by lower-cased address (none: bare addresses)."""
    message = EmailMessage()
    message["From"] = sender
    to = unique_addresses(to)
    cc = [address for address in unique_addresses(cc) if address.lower() not in {a.lower() for a in to}]
    names = to_names or {}
    message["To"] = [
        Address(display_name=display_name(names.get(address.lower())), addr_spec=address) for address in to
    ]
    if cc:
        message["Cc"] = [Address(addr_spec=address) for address in cc]
    if reply_to:
        message["Reply-To"] = reply_to
    set_subject(message, rendered.subject)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = msg_id
    message["X-Renewal-Subscription"] = subscription_id
    message["X-Renewal-Date"] = renewal_date.isoformat()
    message["X-Renewal-Touchpoint"] = touchpoint
    # quoted-printable keeps the message 7-bit, so no relay needs the 8BITMIME extension
    message.set_content(rendered.text, cte="quoted-printable")
    message.add_alternative(rendered.html, subtype="html", cte="quoted-printable")
    return message


def display_name(name: str | None) -> str:
    """A name as a header's display name: one line (warehouse text may hold line breaks, which
    would start a header of their own). The email package quotes it, or encodes it (RFC 2047)
    when it is not ASCII."""
    return " ".join((name or "").split())


def unique_addresses(addresses: list[str]) -> list[str]:
    """``addresses`` in order, each once: addresses differing only in case are one mailbox (as
    relays treat them), so one copy, spelled as first given."""
    seen: set[str] = set()
    unique = []
    for address in addresses:
        if address.lower() not in seen:
            seen.add(address.lower())
            unique.append(address)
    return unique


def set_subject(message: EmailMessage, subject: str) -> None:
    """A non-ASCII subject is written as RFC 2047 encoded-words that carry its spaces inside them.

    The email package's own folding may fold between two encoded-words at a space, and readers
    drop whitespace between encoded-words (RFC 2047 6.2): "🚀 Zoë" would arrive as "🚀Zoë".
    Encoded here whole (every word at most 75 characters), the header is kept as written and
    ``message["Subject"]`` still reads back the subject itself."""
    if subject.isascii():
        message["Subject"] = subject
    else:
        message.set_raw("Subject", Header(subject, "utf-8", header_name="Subject").encode(linesep="\n"))


def recipients(message: EmailMessage, headers: tuple[str, ...] = ("To", "Cc")) -> list[str]:
    """The addresses of a composed message's ``headers``, in order, each once whatever its case
    (the envelope: To and Cc)."""
    return unique_addresses(
        [address.addr_spec for header in headers if message[header] for address in message[header].addresses]
    )


def bodies(message: EmailMessage) -> tuple[str | None, str | None]:
    """The text and HTML parts of a composed message (None for a part it does not have)."""
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    return (
        text.get_content() if text is not None else None,
        html.get_content() if html is not None else None,
    )
