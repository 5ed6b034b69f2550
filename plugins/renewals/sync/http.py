"""HTTP for the sync targets: requests with our retry policy and a time budget per run.

- 429 and 5xx (and a refused or reset connection) are retried with exponential backoff; a
  Retry-After the answer names is honoured. When the next wait would go past the run's budget the
  call gives up with :class:`Unavailable`: the event stays pending for the next run.
- Any other answer is returned to the target, which decides: success, or :class:`Rejected` (the
  event is parked with the answer, for staff to read, retry or dismiss in the console).
- TLS is verified against the system store, or the bundle REQUESTS_CA_BUNDLE names.

The webhook and HubSpot send through the http provider's session (:func:`hook_session`): its
HttpHook reads the connection (schema://host:port, login/password as basic auth, and the extras it
knows: verify, cert, proxies, trust_env, timeout) as Airflow's own HTTP operators do; this module
only adds the retry policy and the budget around each call.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import requests

from renewals.slack.transport import retry_after_seconds

RETRIED_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
ANSWER_CHARS = 2000  # of an answer's body kept in the outbox

T = TypeVar("T")


class Unavailable(RuntimeError):
    """The target did not answer usefully within the run's budget; try again next run."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Transient(RuntimeError):
    """An answer worth trying again (429, 5xx, a rate limit): its status, headers and body."""

    def __init__(self, status: int, headers: dict[str, str], answer: str) -> None:
        super().__init__(f"{status}: {answer}")
        self.status = status
        self.headers = headers
        self.answer = answer


class Rejected(RuntimeError):
    """The target refused the event in a way a retry will not change; it is parked."""

    def __init__(self, status: int | None, answer: str) -> None:
        super().__init__(f"{status}: {answer}")
        self.status = status
        self.answer = answer[:ANSWER_CHARS]


def rejected(response: requests.Response) -> Rejected:
    return Rejected(response.status_code, response.text)


def hook_session(conn_id: str, own_extras: tuple[str, ...] = ()) -> tuple[requests.Session, str]:
    """The http provider's session for the http connection ``conn_id``, and its base URL.

    HttpHook sends every extra it does not know as a header; ``own_extras`` are ours (the webhook's
    endpoint, HubSpot's portal id) and are taken off again: a receiver has no use for them, and a
    header that is not text (a numeric portal id) fails the request."""
    from airflow.providers.http.hooks.http import HttpHook

    hook = HttpHook(http_conn_id=conn_id)
    session = hook.get_conn()
    for name in own_extras:
        session.headers.pop(name, None)
    return session, hook.url_from_endpoint(None)


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

        def attempt(timeout: float) -> requests.Response:
            response = self.session.request(method, url, timeout=timeout, **kwargs)
            if response.status_code in RETRIED_STATUSES:
                raise Transient(response.status_code, dict(response.headers), response.text)
            return response

        return self.retrying(f"{method} {url}", attempt)

    def retrying(self, what: str, attempt: Callable[[float], T]) -> T:
        """``attempt(timeout)`` again after a Transient answer or a refused or reset connection,
        with backoff (or the wait the answer's Retry-After names), while the run's budget lasts.
        A library that makes its own requests (PyGithub) is retried through this too."""
        backoff = 1.0
        while True:
            if self.budget.left() <= 0:
                raise Unavailable(f"{what}: the run's sync time budget is spent")
            try:
                return attempt(min(self.timeout, self.budget.left()))
            except (requests.ConnectionError, requests.Timeout) as exc:
                # a request that may have arrived is sent again only with the same idempotency key
                wait, status, detail = backoff, None, f"{type(exc).__name__}: {exc}"
            except Transient as exc:
                wait, status, detail = backoff, exc.status, f"{exc.status}: {exc.answer[:ANSWER_CHARS]}"
                if any(name.lower() == "retry-after" for name in exc.headers):
                    wait = retry_after_seconds(exc.headers)
            if wait > self.budget.left():
                raise Unavailable(f"{what}: {detail} (next try in {wait:g} s: after this run)", status)
            self.sleep(wait)
            backoff = min(backoff * 2, self.max_backoff)
