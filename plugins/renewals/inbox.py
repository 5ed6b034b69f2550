"""Replies read from the inbox (the ``renewals_inbox`` IMAP connection), at the start of every run.

What a message is (:func:`read_message`, plain Python):
- a delivery-status notification (RFC 3464, a bounce that arrived late) of one of our messages:
  its permanently failed recipients are suppressed as bounced;
- an automatic reply (RFC 3834 ``Auto-Submitted``, or the usual out-of-office markers) to one of
  our messages: recorded with its first lines (an out-of-office's return date among them, for
  staff to read on the timeline); the reminders go on as planned;
- a person's reply (its ``In-Reply-To`` or ``References`` name one of our Message-IDs): the
  member's customer reminders stop for the renewal cycle (the ledger says ``replied``) and a
  ``member_reply`` CTA opens for the owner (or membership staff) with the reply's first lines,
  until staff resume the reminders from the console or the gate changes;
- anything else: left alone (recorded, never flagged).

Exactly once (:func:`read_inbox`): messages are read in UID order above a high-water mark kept
per mailbox and UIDVALIDITY; each message's effect, its record and the new mark commit in one
transaction, so a crash between fetch and record reads it again and one after the record never
does. The IMAP flag that shows a person what was handled is set after the commit, and set again
on the next run for any message whose flag did not get set. A message that cannot be read is
recorded as unreadable; it never fails the run.
"""

from __future__ import annotations

import email
import imaplib
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage, Message
from email.policy import default as default_policy
from email.utils import parseaddr

import psycopg

from renewals.playbooks.model import CtaChange, CtaTask
from renewals.slack.messages import member_reply_message
from renewals.slack.outbox import queue_staff_message
from renewals.statuses import CtaPriority, InboxKind, SuppressionReason
from renewals.storage import ctas, suppressions
from renewals.storage.ledger import LedgerKey

log = logging.getLogger(__name__)

HANDLED_FLAG = "$RenewalsHandled"  # the IMAP keyword a handled message gets (a mail client shows it)
EXCERPT_LINES = 8
EXCERPT_CHARS = 1000
REPLY, AUTO_REPLY, BOUNCE = InboxKind.REPLY, InboxKind.AUTO_REPLY, InboxKind.BOUNCE
UNMATCHED, UNREADABLE = InboxKind.UNMATCHED, InboxKind.UNREADABLE
# Subjects of automatic replies whose sender sets no RFC 3834 header (Outlook, Gmail, ...).
AUTO_SUBJECT = re.compile(
    r"^\s*(out of (the )?office|automatic reply|auto(matic)?[- ]?(reply|response)|auto:|"
    r"abwesenheitsnotiz|r[ée]ponse automatique|respuesta autom[áa]tica|risposta automatica)",
    re.IGNORECASE,
)
MESSAGE_IDS = re.compile(r"<[^<>\s]+>")


@dataclass(frozen=True)
class Inbound:
    """What one message read from the inbox is."""

    kind: str
    message_id: str | None = None
    references: tuple[str, ...] = ()  # Message-IDs it names (In-Reply-To, References, a DSN's original)
    sender: str | None = None
    subject: str | None = None
    excerpt: str | None = None
    bounced: tuple[str, ...] = ()  # a DSN's permanently failed recipients
    detail: str | None = None


def read_message(raw: bytes) -> Inbound:
    """What a raw message is (see the module's doc): never raises, an unreadable one says why."""
    try:
        message = email.message_from_bytes(raw, policy=default_policy)
        assert isinstance(message, EmailMessage)
        return _classified(message)
    except Exception as exc:  # one odd message must not stop the inbox: it is recorded as unreadable
        return Inbound(UNREADABLE, detail=f"{type(exc).__name__}: {exc}"[:500])


def _classified(message: EmailMessage) -> Inbound:
    message_id = _first_id(message.get("Message-ID"))
    sender = parseaddr(str(message.get("From", "")))[1].lower() or None
    subject = str(message.get("Subject", ""))[:300] or None
    if message.get_content_type() == "multipart/report" and message.get_param("report-type") == "delivery-status":
        original, bounced = _delivery_status(message)
        return Inbound(BOUNCE, message_id, original, sender, subject, _excerpt(message), bounced=bounced)
    references = tuple(
        dict.fromkeys(MESSAGE_IDS.findall(f"{message.get('In-Reply-To', '')} {message.get('References', '')}"))
    )
    kind = AUTO_REPLY if _automatic(message) else REPLY
    return Inbound(kind, message_id, references, sender, subject, _excerpt(message))


def _first_id(value: object) -> str | None:
    found = MESSAGE_IDS.findall(str(value or ""))
    return found[0] if found else None


def _automatic(message: Message) -> bool:
    """RFC 3834's Auto-Submitted (anything but "no"), the vendors' own headers, or an automatic subject."""
    auto_submitted = str(message.get("Auto-Submitted", "")).strip().lower()
    if auto_submitted and auto_submitted != "no":
        return True
    if any(message.get(name) for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder")):
        return True
    if str(message.get("Precedence", "")).strip().lower() in ("auto_reply", "bulk", "junk", "list"):
        return True
    return bool(AUTO_SUBJECT.match(str(message.get("Subject", ""))))


def _delivery_status(message: EmailMessage) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(the original's Message-IDs, the recipients that failed for good) of a DSN."""
    original: list[str] = []
    bounced: list[str] = []
    for part in message.walk():
        content_type = part.get_content_type()
        if content_type == "message/delivery-status":
            # the email package parses its per-recipient field groups as sub-messages
            groups = part.get_payload() if part.is_multipart() else []
            for group in (g for g in groups if isinstance(g, Message)) if isinstance(groups, list) else ():
                action = str(group.get("Action", "")).strip().lower()
                status = str(group.get("Status", "")).strip()
                recipient = str(group.get("Final-Recipient") or group.get("Original-Recipient") or "")
                address = recipient.split(";", 1)[-1].strip().strip("<>").lower()
                if action == "failed" and status.startswith("5") and "@" in address:
                    bounced.append(address)
        elif content_type in ("message/rfc822", "text/rfc822-headers"):
            if part.is_multipart():  # message/rfc822: the original as a sub-message
                original_part = part.get_payload(0)
                headers: object = original_part.get("Message-ID") if isinstance(original_part, Message) else None
            else:
                payload = part.get_payload(decode=True)
                raw = payload if isinstance(payload, bytes) else b""
                headers = email.message_from_bytes(raw, policy=default_policy).get("Message-ID")
            if found := _first_id(headers):
                original.append(found)
    return tuple(original), tuple(dict.fromkeys(bounced))


def _excerpt(message: EmailMessage) -> str | None:
    """The first lines of the text the sender wrote (quoted lines and the quote's header left out)."""
    body = message.get_body(("plain",))
    if body is None:
        return None
    lines: list[str] = []
    for line in body.get_content().splitlines():
        stripped = line.strip()
        if stripped.startswith(">") or re.match(r"^On .+ wrote:$", stripped):
            break
        if stripped or lines:
            lines.append(stripped)
        if len(lines) >= EXCERPT_LINES:
            break
    return "\n".join(lines).strip()[:EXCERPT_CHARS] or None


# --- the IMAP side -----------------------------------------------------------------------------


@dataclass
class InboxReport:
    read: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    flagged: int = 0

    def count(self, kind: str) -> None:
        self.read += 1
        self.kinds[kind] = self.kinds.get(kind, 0) + 1


def read_inbox(
    client: imaplib.IMAP4,
    ops: psycopg.Connection,
    teams: Mapping[str, str],
    mailbox: str = "INBOX",
    checkpoint: Callable[[str], None] = lambda point: None,
) -> InboxReport:
    """Handle every new message of ``mailbox`` once (see the module's doc). ``checkpoint`` is
    called after each fetch and each record (the crash tests stop the reader there)."""
    report = InboxReport()
    _ok(client.select(_quoted(mailbox)), "SELECT")
    _name, values = client.response("UIDVALIDITY")  # the untagged answer of the SELECT
    if not values or values[0] is None:
        raise imaplib.IMAP4.error(f"{mailbox}: the server sent no UIDVALIDITY")
    uidvalidity = int(values[0])
    report.flagged += _flag_handled(client, ops, mailbox, uidvalidity)
    last_uid = _high_water_mark(ops, mailbox, uidvalidity)
    for uid in _uids_above(client, last_uid):
        raw = _fetch(client, uid)
        checkpoint("after_fetch")
        inbound = read_message(raw) if raw is not None else Inbound(UNREADABLE, detail="FETCH returned no message")
        with ops.transaction():
            kind = _record(ops, mailbox, uidvalidity, uid, inbound, teams)
            ops.execute(
                """
                insert into renewals.inbox_state (mailbox, uidvalidity, last_uid) values (%s, %s, %s)
                on conflict (mailbox) do update
                set uidvalidity = excluded.uidvalidity, last_uid = excluded.last_uid, updated_at = now()
                """,
                (mailbox, uidvalidity, uid),
            )
        checkpoint("after_record")
        report.count(kind)
    report.flagged += _flag_handled(client, ops, mailbox, uidvalidity)
    return report


def _ok(answer: tuple[str, list], command: str) -> list:
    typ, data = answer
    if typ != "OK" or data is None or data == [None]:
        raise imaplib.IMAP4.error(f"{command} failed: {typ} {data!r}")
    return data


def _quoted(mailbox: str) -> str:
    return '"' + mailbox.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _high_water_mark(ops: psycopg.Connection, mailbox: str, uidvalidity: int) -> int:
    """The highest UID handled; 0 when the mailbox is new or its UIDVALIDITY changed (its UIDs were
    renumbered: messages are then recognised by their Message-ID, and each handled once still)."""
    row = ops.execute(
        "select uidvalidity, last_uid from renewals.inbox_state where mailbox = %s", (mailbox,)
    ).fetchone()
    return row[1] if row is not None and row[0] == uidvalidity else 0


def _uids_above(client: imaplib.IMAP4, last_uid: int) -> list[int]:
    data = _ok(client.uid("SEARCH", f"UID {last_uid + 1}:*"), "UID SEARCH")
    # "n:*" names the last message even when its UID is below n (RFC 3501): filtered here
    return sorted(uid for uid in (int(token) for token in b" ".join(data).split()) if uid > last_uid)


def _fetch(client: imaplib.IMAP4, uid: int) -> bytes | None:
    """The whole message, read without marking it seen."""
    data = _ok(client.uid("FETCH", str(uid), "(BODY.PEEK[])"), "UID FETCH")
    for item in data:
        if isinstance(item, tuple) and len(item) == 2:
            return item[1]
    return None


def _flag_handled(client: imaplib.IMAP4, ops: psycopg.Connection, mailbox: str, uidvalidity: int) -> int:
    """Flag the handled messages not flagged yet; returns how many."""
    uids = [
        uid
        for (uid,) in ops.execute(
            """
            select uid from renewals.inbox_messages
            where mailbox = %s and uidvalidity = %s and flagged_at is null and kind in ('reply', 'auto_reply', 'bounce')
            order by uid
            """,
            (mailbox, uidvalidity),
        ).fetchall()
    ]
    if not uids:
        return 0
    _ok(client.uid("STORE", ",".join(map(str, uids)), "+FLAGS", f"({HANDLED_FLAG})"), "UID STORE")
    ops.execute(
        "update renewals.inbox_messages set flagged_at = now() where mailbox = %s and uidvalidity = %s"
        " and uid = any(%s)",
        (mailbox, uidvalidity, uids),
    )
    return len(uids)


def _record(
    ops: psycopg.Connection, mailbox: str, uidvalidity: int, uid: int, inbound: Inbound, teams: Mapping[str, str]
) -> str:
    """Record one message and carry out its effect (in the caller's transaction); returns its kind."""
    ours = _our_message(ops, inbound.references) if inbound.kind in (REPLY, AUTO_REPLY, BOUNCE) else None
    kind = inbound.kind if ours is not None or inbound.kind == UNREADABLE else UNMATCHED
    row = ops.execute(
        """
        insert into renewals.inbox_messages
            (mailbox, uidvalidity, uid, message_id, kind, subscription_id, renewal_date, in_reply_to, sender,
             subject, excerpt, detail)
        values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        on conflict do nothing
        returning inbox_message_id
        """,
        (
            mailbox,
            uidvalidity,
            uid,
            inbound.message_id,
            kind,
            ours and ours["subscription_id"],
            ours and ours["renewal_date"],
            ours and ours["message_id"],
            inbound.sender,
            inbound.subject,
            inbound.excerpt,
            inbound.detail,
        ),
    ).fetchone()
    if row is None or ours is None:  # seen before (a renumbered mailbox), or not about our messages
        return kind
    (inbox_message_id,) = row
    if kind == BOUNCE and inbound.bounced:
        suppressions.add(
            ops,
            inbound.bounced,
            SuppressionReason.BOUNCED,
            source="inbox",
            detail=inbound.subject,
            created_by=f"inbox {mailbox}",
        )
    elif kind == REPLY:
        _hold_for_staff(ops, inbox_message_id, ours, inbound, teams)
    return kind


def _our_message(ops: psycopg.Connection, message_ids: Iterable[str]) -> dict | None:
    """The copy of one of our messages that ``message_ids`` name (the latest sent)."""
    ids = list(message_ids)
    if not ids:
        return None
    row = ops.execute(
        """
        select message_id, subscription_id, renewal_date, touchpoint from renewals.message_copies
        where message_id = any(%s) order by renewal_date desc limit 1
        """,
        (ids,),
    ).fetchone()
    columns = ("message_id", "subscription_id", "renewal_date", "touchpoint")
    return None if row is None else dict(zip(columns, row, strict=True))


def _hold_for_staff(
    ops: psycopg.Connection, inbox_message_id: int, ours: dict, inbound: Inbound, teams: Mapping[str, str]
) -> None:
    """Stop the cycle's customer reminders at the gate they are at, and hand the member to staff:
    a ``member_reply`` CTA for the owner (membership staff when there is none) and a staff post."""
    key = LedgerKey(ours["subscription_id"], ours["renewal_date"], f"reply/{inbox_message_id}")
    cycle = ops.execute(
        """
        select account_name, playbook, owner_email, gate from renewals.renewal_cycles
        where subscription_id = %s and renewal_date = %s
        """,
        (key.subscription_id, key.renewal_date),
    ).fetchone()
    account_name, playbook, owner_email, gate = cycle or (key.subscription_id, "membership", None, None)
    ops.execute(
        "insert into renewals.reply_holds (inbox_message_id, subscription_id, renewal_date, gate)"
        " values (%s, %s, %s, %s)",
        (inbox_message_id, key.subscription_id, key.renewal_date, gate),
    )
    today = datetime.now(UTC).date()
    renewal = ctas.Renewal(key, playbook, account_name, owner_email, today)
    task = CtaTask(f"Answer {inbound.sender or 'the member'}'s reply, then resume or end the reminders", "owner", 1)
    change = CtaChange(
        type="member_reply",
        stage="reply_received",
        priority=CtaPriority.HIGH,
        owner="owner",
        due_days=1,
        tasks=(task,),
        note=inbound.excerpt,
    )
    cta = ctas.apply_change(ops, renewal, change, teams, f"inbox {inbox_message_id}")
    text, blocks = member_reply_message(
        subscription_id=key.subscription_id,
        renewal_date=key.renewal_date,
        sender=inbound.sender or "",
        subject=inbound.subject or "",
        excerpt=inbound.excerpt or "",
        owner=cta["owner_email"],
    )
    queue_staff_message(ops, f"reply/{inbox_message_id}", "member_reply", text, blocks)
