"""Hand messages to SMTP over one reused connection and say exactly what became of each.

The outcome decides the ledger: 'sent' only when the server accepted the message, 'retry'
when it refused with a temporary (4xx) answer (nothing was accepted, so sending again is
safe), 'failed' for a permanent (5xx) refusal, and 'unknown' when the connection broke during
the hand-off, where the server may or may not have kept the message.
"""

from __future__ import annotations

import contextlib
import smtplib
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import parseaddr

from renewals.delivery.messages import WIRE_POLICY, recipients
from renewals.statuses import HandoffOutcome

SENT, RETRY, FAILED, UNKNOWN = HandoffOutcome.SENT, HandoffOutcome.RETRY, HandoffOutcome.FAILED, HandoffOutcome.UNKNOWN


class MailerUnavailable(RuntimeError):
    """The SMTP server cannot be reached; nothing was handed over."""


@dataclass(frozen=True)
class Outcome:
    status: HandoffOutcome
    detail: str | None = None
    bounced: tuple[str, ...] = ()  # recipients refused for good (5xx at RCPT): to suppress


def _bounced(refused: dict[str, tuple[int, bytes]]) -> tuple[str, ...]:
    return tuple(address for address, (code, _reply_text) in refused.items() if code >= 500)


def _reply(code: int, message: bytes | str) -> str:
    text = message.decode(errors="replace") if isinstance(message, bytes) else str(message)
    return f"{code} {text}".strip()


def outcome_of_refusal(code: int, message: bytes | str) -> Outcome:
    return Outcome(FAILED if code >= 500 else RETRY, _reply(code, message))


class Mailer:
    """One SMTP session, opened on first use and reopened after the server drops it."""

    def __init__(self, connect: Callable[[], smtplib.SMTP]) -> None:
        self._connect = connect
        self._client: smtplib.SMTP | None = None

    def ensure_connected(self) -> None:
        if self._client is not None:
            return
        try:
            self._client = self._connect()
        except (OSError, smtplib.SMTPException) as exc:
            raise MailerUnavailable(f"SMTP server unavailable: {exc}") from exc

    def send(self, message: EmailMessage) -> Outcome:
        """Run one SMTP transaction. Only a break during DATA leaves the outcome unknown: before
        it the server has nothing, so a dropped session is reopened once and the message offered again."""
        self.ensure_connected()
        sender = parseaddr(message["From"])[1]
        envelope = recipients(message)
        for attempt in (1, 2):
            try:
                refused, early_outcome = self._envelope(sender, envelope)
                break
            except (smtplib.SMTPServerDisconnected, OSError) as exc:
                self._drop()
                try:
                    if attempt == 2:
                        raise MailerUnavailable(str(exc))
                    self.ensure_connected()
                except MailerUnavailable as unavailable:
                    return Outcome(RETRY, f"connection lost before the message was handed over: {unavailable}")
        if early_outcome is not None:
            return early_outcome
        assert self._client is not None
        try:
            code, reply = self._client.data(message.as_bytes(policy=WIRE_POLICY))
            if code != 250:  # smtplib returns the final answer to the message instead of raising
                raise smtplib.SMTPDataError(code, reply)
        except smtplib.SMTPResponseException as exc:
            # DATA or its final answer refused: the server did not keep the message.
            self._reset()
            return outcome_of_refusal(exc.smtp_code, exc.smtp_error)
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._drop()
            return Outcome(UNKNOWN, f"connection lost during hand-off: {exc}")
        if refused:
            detail = "; ".join(f"{addr}: {_reply(code, msg)}" for addr, (code, msg) in refused.items())
            return Outcome(SENT, f"accepted except {detail}", _bounced(refused))
        return Outcome(SENT)

    def _envelope(self, sender: str, envelope: list[str]) -> tuple[dict[str, tuple[int, bytes]], Outcome | None]:
        """MAIL and RCPT: returns the refused recipients, or an outcome when the message cannot go on."""
        client = self._client
        assert client is not None
        client.ehlo_or_helo_if_needed()
        code, reply = client.mail(sender)
        if code != 250:
            self._reset()
            return {}, outcome_of_refusal(code, reply)
        refused = {}
        for recipient in envelope:
            code, reply = client.rcpt(recipient)
            if code not in (250, 251):
                refused[recipient] = (code, reply)
        if len(refused) == len(envelope):
            self._reset()
            detail = "; ".join(f"{addr}: {_reply(code, msg)}" for addr, (code, msg) in refused.items())
            worst = min(code for code, _ in refused.values()) if refused else 550
            return refused, Outcome(FAILED if worst >= 500 else RETRY, detail or "no recipients", _bounced(refused))
        return refused, None

    def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):  # the session is thrown away anyway
                self._client.quit()
            self._client = None

    def _reset(self) -> None:
        """After a refusal, make the session usable for the next message (or reopen it)."""
        try:
            assert self._client is not None
            self._client.rset()
        except (OSError, smtplib.SMTPException):
            self._drop()

    def _drop(self) -> None:
        if self._client is not None:
            try:
                self._client.close()
            finally:
                self._client = None
