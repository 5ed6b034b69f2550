"""One task-log line per message or staff action a deliver task settled, so the log answers
"what did this send?" without exposing addresses (masked: ``j***@example.org``)."""

from __future__ import annotations

import logging
from email.message import EmailMessage

from renewals.delivery.messages import recipients
from renewals.playbooks import Touchpoint
from renewals.storage.ledger import LedgerKey

log = logging.getLogger("renewals.delivery")

# Who a touchpoint's channel addresses, as an operator reads it in the log.
AUDIENCES = {"email": "customer", "staff_email": "staff", "cta": "cta owner", "record": "ops records"}


def mask_address(address: str) -> str:
    """The first character of the local part and the whole domain: enough to tell messages
    apart in a log, not enough to harvest addresses from it."""
    local, at, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if at else "***"


def log_outcome(
    key: LedgerKey, touchpoint: Touchpoint, outcome: str, message: EmailMessage | None = None, detail: str | None = None
) -> None:
    """``outcome`` is the ledger status the row settled in (sent, failed, skipped, ...)."""
    addresses = [] if message is None else recipients(message)
    log.info(
        "%s %s/%s audience=%s to=%s message_id=%s%s",
        outcome.upper(),
        key.subscription_id,
        key.touchpoint,
        AUDIENCES.get(touchpoint.channel, touchpoint.channel),
        ",".join(map(mask_address, addresses)) or "-",
        "-" if message is None else message["Message-ID"],
        f" ({detail})" if detail else "",
    )
