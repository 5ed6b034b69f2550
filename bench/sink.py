"""A counting SMTP server for the benchmark, run as its own process (it must not share the GIL of
the process being measured). It keeps no message: it counts them and remembers a fingerprint of
each (Message-ID, envelope recipients, Subject), so the bench can check that the pipeline and the
floor sent the same emails.

Protocol on stdin/stdout: it prints its port once; then for each line ``take`` on stdin it prints
one JSON line ``{"count": n, "fingerprints": [...]}`` with what arrived since the last ``take``.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

_HEADER = re.compile(rb"^(Message-ID|Subject):[ \t]*(.*(?:\r\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE)


class _Counter:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.fingerprints: list[str] = []

    async def handle_DATA(self, server: SMTP, session, envelope) -> str:
        content: bytes = envelope.original_content or b""
        head = content.split(b"\r\n\r\n", 1)[0]
        headers = {name.lower(): value.replace(b"\r\n", b"") for name, value in _HEADER.findall(head)}
        key = b"\x1f".join(
            [
                headers.get(b"message-id", b""),
                b",".join(sorted(a.encode() for a in envelope.rcpt_tos)),
                headers.get(b"subject", b""),
            ]
        )
        with self.lock:
            self.fingerprints.append(hashlib.blake2b(key, digest_size=12).hexdigest())
        return "250 OK"

    def take(self) -> list[str]:
        with self.lock:
            taken, self.fingerprints = self.fingerprints, []
        return taken


class _Controller(Controller):
    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


def main() -> None:
    counter = _Counter()
    controller = _Controller(counter, hostname="127.0.0.1", port=0, data_size_limit=None)
    controller.start()
    print(controller.port, flush=True)
    for line in sys.stdin:
        if line.strip() == "take":
            taken = counter.take()
            print(json.dumps({"count": len(taken), "fingerprints": taken}), flush=True)
    controller.stop()


class Sink:
    """The sink process, seen from the bench."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.sink"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self._process.stdout is not None
        self.port = int(self._process.stdout.readline())

    def take(self) -> list[str]:
        """The fingerprints of the messages received since the last take."""
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write("take\n")
        self._process.stdin.flush()
        return json.loads(self._process.stdout.readline())["fingerprints"]

    def close(self) -> None:
        assert self._process.stdin is not None
        self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def __enter__(self) -> Sink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    main()
