"""A real SMTP server that keeps every accepted message as an ``.eml`` file, for the demo and the tests.

Tests can make it misbehave like a real relay: ``fail_next`` answers the next transactions with an
SMTP error at a chosen stage, ``drop_next`` cuts their connection at a chosen stage without an answer
(at DATA, optionally after keeping the message: the relay has it, the client never hears so),
``reject_recipient`` refuses an address for good, ``slow_down`` makes every message take a while,
``hold`` keeps every message waiting at DATA until ``release`` (to line clients up), and
``shut_down_after`` takes the server down (open sessions cut, new connections refused) once it has
kept a number of messages, until ``restart``.

Standalone: ``python -m devenv.mailbox --outbox DIR --port N`` prints the port and serves in
the foreground until interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import threading
import warnings
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
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

STAGES = ("MAIL", "RCPT", "DATA")


@dataclass
class _Fault:
    stage: str
    reply: str | None  # None: cut the connection instead of answering
    remaining: int
    keep: bool = False  # a cut at DATA: keep the message first


class _Controller(Controller):
    def factory(self) -> SMTP:
        # AUTH without TLS is what a local test relay does on purpose; aiosmtpd warns on every session.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS", UserWarning)
            return super().factory()

    def _trigger_server(self) -> None:
        # Port 0 lets the OS pick a free port; learn it before aiosmtpd connects to itself to check.
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class FileMailbox:
    """An SMTP server on ``host:port`` (0: any free port) writing each message to ``outbox``."""

    def __init__(
        self, outbox: Path, host: str = "127.0.0.1", port: int = 0, credentials: tuple[str, str] | None = None
    ) -> None:
        """``credentials`` (login, password): the server then requires SMTP AUTH (over plain text: local only)."""
        self.outbox = Path(outbox)
        self.host = host
        self.port = port
        self.credentials = credentials
        self._lock = threading.Lock()
        self._messages: list[EmailMessage] = []
        self._faults: deque[_Fault] = deque()
        self._rejected: dict[str, str] = {}
        self._sequence = 0
        self._delay = 0.0
        self._held = False
        self._down_after: int | None = None  # messages still kept before the server goes down
        self._down = False
        self._controller: _Controller | None = None

    @property
    def messages(self) -> list[EmailMessage]:
        """The messages accepted so far, oldest first, each with X-Envelope-From/X-Envelope-To headers."""
        with self._lock:
            return list(self._messages)

    def start(self) -> FileMailbox:
        self.outbox.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._down, self._down_after = False, None
        auth = {}
        if self.credentials is not None:
            auth = {"authenticator": self._authenticate, "auth_required": True, "auth_require_tls": False}
        self._controller = _Controller(_Handler(self), hostname=self.host, port=self.port, **auth)
        self._controller.start()
        self.port = self._controller.port
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def restart(self) -> FileMailbox:
        """Up again on the same port (after ``stop`` or ``shut_down_after``), messages kept so far kept."""
        self.stop()
        return self.start()

    @property
    def is_down(self) -> bool:
        with self._lock:
            return self._down

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

    def drop_next(self, stage: str = "DATA", count: int = 1, keep: bool = False) -> None:
        """Cut the connection of the next ``count`` transactions at ``stage`` without answering; with
        ``keep`` (DATA only) the message is kept first, as a relay that crashed before answering."""
        if stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, not {stage!r}")
        if count < 1:
            raise ValueError("count must be at least 1")
        if keep and stage != "DATA":
            raise ValueError("only a cut at DATA can keep the message")
        with self._lock:
            self._faults.append(_Fault(stage, None, count, keep))

    def slow_down(self, seconds: float) -> None:
        """Answer each DATA only after ``seconds`` (0: at once again)."""
        with self._lock:
            self._delay = max(0.0, seconds)

    def hold(self) -> None:
        """Keep every message waiting at DATA (the client sees no answer yet) until ``release``."""
        with self._lock:
            self._held = True

    def release(self) -> None:
        with self._lock:
            self._held = False

    def shut_down_after(self, messages: int) -> None:
        """Go down once ``messages`` more messages are kept: sessions are cut at their next command
        and the port refuses connections until ``restart``."""
        if messages < 1:
            raise ValueError("messages must be at least 1 (use stop() to go down now)")
        with self._lock:
            self._down_after = messages

    def reject_recipient(
        self,
        address: str,
        code: int = 550,
        message: str = "5.1.1 Mailbox unavailable",
    ) -> None:
        """Refuse RCPT for ``address`` (case-insensitive) from now on."""
        with self._lock:
            self._rejected[address.lower()] = f"{code} {message}"

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: object
    ) -> AuthResult:
        assert self.credentials is not None
        login, password = self.credentials
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            login.encode(),
            password.encode(),
        )
        return AuthResult(success=ok, handled=False)

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

    def _delay_seconds(self) -> float:
        with self._lock:
            return self._delay

    def _is_held(self) -> bool:
        with self._lock:
            return self._held

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
            if self._down_after is not None:
                self._down_after -= 1
                if self._down_after == 0:
                    self._down, self._down_after = True, None

    def _went_down(self) -> bool:
        """True once the server is down; stops listening (called on the server's loop)."""
        with self._lock:
            down = self._down
        if down and self._controller is not None and self._controller.server is not None:
            self._controller.server.close()  # new connections are refused; open ones are cut by the handler
        return down


def _cut(server: SMTP) -> str:
    """Close the session without an answer: the reply returned after this is never written."""
    assert server.transport is not None
    server.transport.close()
    return "421 4.3.2 Connection cut"


class _Handler:
    """aiosmtpd hooks; each returns the SMTP reply of its command."""

    def __init__(self, mailbox: FileMailbox) -> None:
        self.mailbox = mailbox
        # The fault each open transaction took at MAIL; aiosmtpd makes a new Envelope per transaction.
        self._faults: WeakKeyDictionary[Envelope, _Fault] = WeakKeyDictionary()

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        if self.mailbox._went_down():
            return _cut(server)
        fault = self.mailbox._take_fault()
        if fault is not None:
            if fault.stage == "MAIL":
                return _cut(server) if fault.reply is None else fault.reply
            self._faults[envelope] = fault
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if self.mailbox._went_down():
            return _cut(server)
        fault = self._faults.get(envelope)
        if fault is not None and fault.stage == "RCPT":
            return _cut(server) if fault.reply is None else fault.reply
        rejection = self.mailbox._rejection(address)
        if rejection is not None:
            return rejection
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.mailbox._went_down():
            return _cut(server)
        while self.mailbox._is_held():
            await asyncio.sleep(0.02)
        delay = self.mailbox._delay_seconds()
        if delay:
            await asyncio.sleep(delay)
        fault = self._faults.get(envelope)
        assert envelope.mail_from is not None and envelope.original_content is not None
        if fault is not None and fault.stage == "DATA":
            if fault.reply is not None:
                return fault.reply
            if fault.keep:
                self.mailbox._keep(envelope.mail_from, envelope.rcpt_tos, envelope.original_content)
            return _cut(server)
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
