"""HTTP for the sync targets: requests with our retry policy and a time budget per run.

- 429 and 5xx (and a refused or reset connection) are retried with exponential backoff; a
  Retry-After the answer names is honoured. When the next wait would go past the run's budget the
  call gives up with :class:`Unavailable`: the event stays pending for the next run.
- Any other answer is returned to the target, which decides: success, or :class:`Rejected` (the
  event is parked with the answer, for staff to read, retry or dismiss in the console).
- TLS is verified against the system store, or the bundle REQUESTS_CA_BUNDLE names.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from renewals.slack.transport import retry_after_seconds

RETRIED_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
ANSWER_CHARS = 2000  # of an answer's body kept in the outbox


class Unavailable(RuntimeError):
    """The target did not answer usefully within the run's budget; try again next run."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Rejected(RuntimeError):
    """The target refused the event in a way a retry will not change; it is parked."""

    def __init__(self, status: int | None, answer: str) -> None:
        super().__init__(f"{status}: {answer}")
        self.status = status
        self.answer = answer[:ANSWER_CHARS]


def rejected(response: requests.Response) -> Rejected:
    return Rejected(response.status_code, response.text)


@dataclass
class Budget:
    """The seconds a run's sync may spend on one target, waits included."""

    seconds: float
    clock: Callable[[], float] = time.monotonic
    started: float = field(init=False)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def left(self) -> float:
        return self.seconds - (self.clock() - self.started)


@dataclass
class Client:
    """One target's HTTP session with the retry policy and the run's budget."""

    budget: Budget
    timeout: float = 30.0
    max_backoff: float = 60.0
    sleep: Callable[[float], None] = time.sleep
    session: requests.Session = field(default_factory=requests.Session)

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """The first answer that is not 429/5xx; raises Unavailable when the budget runs out."""
        backoff = 1.0
        while True:
            if self.budget.left() <= 0:
                raise Unavailable(f"{method} {url}: the run's sync time budget is spent")
            try:
                response = self.session.request(method, url, timeout=min(self.timeout, self.budget.left()), **kwargs)
            except (requests.ConnectionError, requests.Timeout) as exc:
                # a request that may have arrived is sent again only with the same idempotency key
                wait, status, detail = backoff, None, f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code not in RETRIED_STATUSES:
                    return response
                wait, status = backoff, response.status_code
                if "Retry-After" in response.headers:
                    wait = retry_after_seconds(dict(response.headers))
                detail = f"{status}: {response.text[:ANSWER_CHARS]}"
            if wait > self.budget.left():
                raise Unavailable(f"{method} {url}: {detail} (next try in {wait:g} s: after this run)", status)
            self.sleep(wait)
            backoff = min(backoff * 2, self.max_backoff)
