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

SENT, RETRY, FAILED, UNKNOWN = "sent", "retry", "failed", "unknown"


class MailerUnavailable(RuntimeError):
    """The SMTP server cannot be reached; nothing was handed over."""


@dataclass(frozen=True)
class Outcome:
    status: str
    detail: str | None = None


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
        self.ensure_connected()
        assert self._client is not None
        try:
            refused = self._client.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            detail = "; ".join(f"{addr}: {_reply(code, msg)}" for addr, (code, msg) in exc.recipients.items())
            self._reset()
            return Outcome(FAILED if min(codes) >= 500 else RETRY, detail)
        except smtplib.SMTPResponseException as exc:
            # MAIL or DATA refused: the server did not take the message. 421 also closes the session.
            self._reset()
            return outcome_of_refusal(exc.smtp_code, exc.smtp_error)
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._drop()
            return Outcome(UNKNOWN, f"connection lost during hand-off: {exc}")
        if refused:
            detail = "; ".join(f"{addr}: {_reply(code, msg)}" for addr, (code, msg) in refused.items())
            return Outcome(SENT, f"accepted except {detail}")
        return Outcome(SENT)

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
