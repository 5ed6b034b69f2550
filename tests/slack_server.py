"""A local stand-in for a Slack Incoming Webhook: an HTTP server in a thread on 127.0.0.1 that
records every request body and answers as told (200 "ok" by default; 429 with Retry-After,
500, ... when queued). The ``slack_server`` fixture points the connection renewals_slack at it.

Import the fixture into a test module: ``from tests.slack_server import slack_server_fixture  # noqa: F401``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

WEBHOOK_PATH = "/services/T000/B000/XXXX"


@dataclass
class Answer:
    status: int = 200
    body: str = "ok"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Received:
    path: str
    body: dict[str, Any]
    at: float
    status: int = 200  # what the server answered


class SlackServer:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._answers: list[Answer] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                with server._lock:
                    answer = server._answers.pop(0) if server._answers else Answer()
                    server.requests.append(
                        Received(self.path, json.loads(raw or "{}"), time.monotonic(), answer.status)
                    )
                payload = answer.body.encode()
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._httpd.server_address[1]
        # A short poll: stop() waits for the loop to notice, 0.5 s by default, at every test's end.
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{WEBHOOK_PATH}"

    def connection(self) -> str:
        """The renewals_slack connection as AIRFLOW_CONN_RENEWALS_SLACK JSON (token = the full URL)."""
        return json.dumps({"conn_type": "slackwebhook", "password": self.url})

    def answer(self, status: int, body: str = "", retry_after: float | None = None, times: int = 1) -> None:
        """Queue the next ``times`` answers."""
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        with self._lock:
            self._answers.extend(
                Answer(status, body or ("rate_limited" if status == 429 else "error"), headers) for _ in range(times)
            )

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [request.body for request in self.requests]

    @property
    def accepted(self) -> list[dict[str, Any]]:
        """The bodies the server answered 200: what Slack would have posted."""
        return [request.body for request in self.requests if request.status == 200]

    def start(self) -> SlackServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture(name="slack_server")
def slack_server_fixture(monkeypatch: pytest.MonkeyPatch) -> Iterator[SlackServer]:
    server = SlackServer().start()
    monkeypatch.setenv("AIRFLOW_CONN_RENEWALS_SLACK", server.connection())
    try:
        yield server
    finally:
        server.stop()
