"""A real SMTP server that keeps every accepted message as an ``.eml`` file, for the demo and the tests.

Tests can make it misbehave like a real relay: ``fail_next`` answers the next transactions with an
SMTP error at a chosen stage, ``reject_recipient`` refuses an address for good.

Standalone: ``python -m renewals.devenv.mailbox --outbox DIR --port N`` prints the port and serves in
the foreground until interrupted.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from types import TracebackType
from weakref import WeakKeyDictionary

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

STAGES = ("MAIL", "RCPT", "DATA")


@dataclass
class _Fault:
    stage: str
    reply: str
    remaining: int


class _Controller(Controller):
    def _trigger_server(self) -> None:
        # Port 0 lets the OS pick a free port; learn it before aiosmtpd connects to itself to check.
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class FileMailbox:
    """An SMTP server on ``host:port`` (0: any free port) writing each message to ``outbox``."""

    def __init__(self, outbox: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.outbox = Path(outbox)
        self.host = host
        self.port = port
        self._lock = threading.Lock()
        self._messages: list[EmailMessage] = []
        self._faults: deque[_Fault] = deque()
        self._rejected: dict[str, str] = {}
        self._sequence = 0
        self._controller: _Controller | None = None

    @property
    def messages(self) -> list[EmailMessage]:
        """The messages accepted so far, oldest first, each with X-Envelope-From/X-Envelope-To headers."""
        with self._lock:
            return list(self._messages)

    def start(self) -> FileMailbox:
        self.outbox.mkdir(parents=True, exist_ok=True)
        self._controller = _Controller(_Handler(self), hostname=self.host, port=self.port)
        self._controller.start()
        self.port = self._controller.port
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> FileMailbox:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def fail_next(self, code: int, message: str, count: int = 1, stage: str = "DATA") -> None:
        """Answer the next ``count`` transactions with ``code message`` at ``stage`` instead of accepting."""
        if stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, not {stage!r}")
        if count < 1:
            raise ValueError("count must be at least 1")
        with self._lock:
            self._faults.append(_Fault(stage, f"{code} {message}", count))

    def reject_recipient(
        self,
        address: str,
        code: int = 550,
        message: str = "5.1.1 Mailbox unavailable",
    ) -> None:
        """Refuse RCPT for ``address`` (case-insensitive) from now on."""
        with self._lock:
            self._rejected[address.lower()] = f"{code} {message}"

    def _take_fault(self) -> _Fault | None:
        # A fault belongs to the transaction whose MAIL command takes it, whatever its stage.
        with self._lock:
            if not self._faults:
                return None
            fault = self._faults[0]
            fault.remaining -= 1
            if fault.remaining == 0:
                self._faults.popleft()
            return fault

    def _rejection(self, address: str) -> str | None:
        with self._lock:
            return self._rejected.get(address.lower())

    def _keep(self, mail_from: str, rcpt_tos: list[str], content: bytes) -> None:
        trace = f"X-Envelope-From: <{mail_from}>\r\nX-Envelope-To: {', '.join(rcpt_tos)}\r\n".encode()
        data = trace + content
        with self._lock:
            self._sequence += 1
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
            path = self.outbox / f"{stamp}-{self._sequence:06d}.eml"
            # Written aside then renamed, so a reader of the outbox never sees half a message.
            partial = path.with_name(f".{path.name}.partial")
            partial.write_bytes(data)
            os.replace(partial, path)
            # Parsed from LF line ends, the email package's native form (get_content() gives "\n" lines).
            parsed = BytesParser(policy=policy.default).parsebytes(data.replace(b"\r\n", b"\n"))
            self._messages.append(parsed)


class _Handler:
    """aiosmtpd hooks; each returns the SMTP reply of its command."""

    def __init__(self, mailbox: FileMailbox) -> None:
        self.mailbox = mailbox
        # The fault each open transaction took at MAIL; aiosmtpd makes a new Envelope per transaction.
        self._faults: WeakKeyDictionary[Envelope, _Fault] = WeakKeyDictionary()

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        fault = self.mailbox._take_fault()
        if fault is not None:
            if fault.stage == "MAIL":
                return fault.reply
            self._faults[envelope] = fault
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        fault = self._faults.get(envelope)
        if fault is not None and fault.stage == "RCPT":
            return fault.reply
        rejection = self.mailbox._rejection(address)
        if rejection is not None:
            return rejection
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        fault = self._faults.get(envelope)
        if fault is not None and fault.stage == "DATA":
            return fault.reply
        assert envelope.mail_from is not None and envelope.original_content is not None
        self.mailbox._keep(envelope.mail_from, envelope.rcpt_tos, envelope.original_content)
        return "250 OK: message kept"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run an SMTP server that keeps every message as a file.")
    parser.add_argument("--outbox", type=Path, required=True, help="directory for the .eml files")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1025, help="0 picks a free port")
    args = parser.parse_args(argv)

    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopped.set())
    with FileMailbox(args.outbox, args.host, args.port) as mailbox:
        # The port alone on stdout, so a script can read it; the rest goes to stderr.
        print(mailbox.port, flush=True)
        print(f"SMTP on {args.host}:{mailbox.port}, keeping messages in {args.outbox}", file=sys.stderr)
        stopped.wait()


if __name__ == "__main__":
    main()
