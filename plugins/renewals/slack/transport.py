"""Posting to Slack: the Slack provider's SlackWebhookHook with our retry policy.

- A 429 answer is retried after the Retry-After it names, as long as the waits together stay
  within the policy's ``max_wait``; a 5xx answer or a refused connection is retried after a short
  backoff. A timeout or a connection lost mid-request is not retried: Slack may have posted it.
- Nothing here raises because of Slack: every post returns a :class:`SlackResult` (``sent``,
  ``failed`` or ``not_configured``) that the caller records. Without the connection the message
  is written to the log, with a line saying Slack is not configured.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.error import URLError

from renewals.config import SLACK_CONN_ID, Settings
from renewals.statuses import PostStatus

log = logging.getLogger(__name__)

SENT, FAILED, NOT_CONFIGURED = PostStatus.SENT, PostStatus.FAILED, PostStatus.NOT_CONFIGURED


@dataclass(frozen=True)
class SlackPolicy:
    """How long one post may take: request timeout, retries, and the total wait on 429/5xx."""

    timeout: int = 10
    retries: int = 3
    max_wait: float = 120.0

    @classmethod
    def from_settings(cls, settings: Settings) -> SlackPolicy:
        return cls(timeout=settings.slack_timeout, retries=settings.slack_retries, max_wait=settings.slack_max_wait)


# A staff post made at once (post_staff_message) must not hold its caller up for long.
STAFF_POST_POLICY = SlackPolicy(timeout=5, retries=1, max_wait=5.0)


@dataclass(frozen=True)
class SlackResult:
    status: PostStatus  # sent | failed | not_configured
    detail: str = ""
    attempts: int = 0
    waited: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == SENT


@dataclass
class _RetryBudget:
    """Shared by the retry handler and the caller: what was retried and waited (for one post)."""

    retries: int = 0
    waited: float = 0.0
    gave_up: str = ""
    sleeps: list[float] = field(default_factory=list)

    def reset(self) -> None:
        self.retries, self.waited, self.gave_up, self.sleeps = 0, 0.0, "", []


def retry_after_seconds(headers: dict[str, Any], now: datetime | None = None) -> float:
    """The wait a 429 asks for: Retry-After in seconds or as an HTTP date; 1 second if absent."""
    for name, value in headers.items():
        if name.lower() != "retry-after":
            continue
        raw = (value[0] if isinstance(value, list | tuple) and value else value) or ""
        raw = str(raw).strip()
        try:
            return max(0.0, float(raw))
        except ValueError:
            pass
        try:
            moment = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return 1.0
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())
    return 1.0


def retry_handlers(
    policy: SlackPolicy, budget: _RetryBudget | None = None, sleep: Callable[[float], None] = time.sleep
) -> list:
    """slack_sdk retry handlers for a webhook client (the hook's or a notifier's ``retry_handlers``)."""
    from slack_sdk.http_retry.handler import RetryHandler

    spent = budget if budget is not None else _RetryBudget()

    class RetryAfterHandler(RetryHandler):
        """429: wait what Retry-After says; 5xx and refused connections: a short backoff.

        One handler for all cases so that one budget (retries and total wait) covers them.
        """

        def __init__(self) -> None:
            super().__init__(max_retry_count=policy.retries)
            self._wait = 0.0

        def _can_retry(self, *, state, request, response=None, error=None) -> bool:
            if response is not None and response.status_code == 429:
                wait = retry_after_seconds(response.headers)
            elif response is not None and response.status_code >= 500:
                wait = min(2.0**state.current_attempt, 10.0)
            elif response is None and isinstance(error, URLError) and isinstance(error.reason, ConnectionRefusedError):
                wait = min(0.5 * 2**state.current_attempt, 5.0)
            else:
                return False
            if spent.waited + wait > policy.max_wait:
                spent.gave_up = f"not retried: a wait of {wait:g}s would exceed the {policy.max_wait:g}s budget"
                return False
            self._wait = wait
            return True

        def prepare_for_next_attempt(self, *, state, request, response=None, error=None) -> None:
            state.next_attempt_requested = True
            log.info("Slack answered %s; retrying in %.1fs", getattr(response, "status_code", error), self._wait)
            sleep(self._wait)
            spent.waited += self._wait
            spent.retries += 1
            spent.sleeps.append(self._wait)
            state.increment_current_attempt()

    return [RetryAfterHandler()]


class SlackWebhook:
    """The webhook of one Airflow connection, read once, for as many posts as the caller makes (the
    publish step posts hundreds of staff digests); each post has its own retry budget.

    Never raises for Slack's sake: every post returns a :class:`SlackResult`. Without the
    connection, a line says Slack is not configured and each post's ``fallback_text`` (or ``text``)
    goes to the log instead.
    """

    def __init__(
        self, conn_id: str, policy: SlackPolicy = SlackPolicy(), sleep: Callable[[float], None] = time.sleep
    ) -> None:
        from airflow.exceptions import AirflowNotFoundException
        from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook

        self._budget = _RetryBudget()
        handlers = retry_handlers(policy, self._budget, sleep)
        self._hook = SlackWebhookHook(slack_webhook_conn_id=conn_id, timeout=policy.timeout, retry_handlers=handlers)
        self._unavailable: SlackResult | None = None
        try:
            self._hook.get_conn()  # reads the connection: absent, or without a webhook token, is "not configured"
        except AirflowNotFoundException as exc:
            log.warning("Slack is not configured (connection %r: %s); the message follows in this log.", conn_id, exc)
            detail = f"connection {conn_id!r} not found or without a webhook token"
            self._unavailable = SlackResult(NOT_CONFIGURED, detail)
        except Exception as exc:  # a secrets backend that cannot answer, a malformed connection
            log.warning("Slack connection %r could not be read: %s", conn_id, exc)
            self._unavailable = SlackResult(FAILED, f"{type(exc).__name__}: {exc}"[:2000])

    def post(
        self, text: str, blocks: Sequence[dict[str, Any]] | None = None, fallback_text: str | None = None
    ) -> SlackResult:
        """Post ``text`` (and Block Kit ``blocks``)."""
        if self._unavailable is not None:
            if self._unavailable.status == NOT_CONFIGURED:
                log.warning("%s", fallback_text or text)
            return self._unavailable
        budget = self._budget
        budget.reset()
        body = {"text": text, **({"blocks": list(blocks)} if blocks else {})}
        try:
            self._hook.send_dict(body)
        except Exception as exc:  # an HTTP error answer, a timeout, a refused connection: recorded, never raised
            detail = f"{type(exc).__name__}: {exc}"
            if budget.gave_up:
                detail = f"{detail} ({budget.gave_up})"
            log.warning("Slack post failed after %d attempt(s): %s", budget.retries + 1, detail)
            return SlackResult(FAILED, detail[:2000], budget.retries + 1, budget.waited)
        return SlackResult(SENT, "", budget.retries + 1, budget.waited)


def post_message(
    conn_id: str,
    text: str,
    blocks: Sequence[dict[str, Any]] | None = None,
    *,
    policy: SlackPolicy = SlackPolicy(),
    fallback_text: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> SlackResult:
    """Post one message to the webhook of connection ``conn_id`` (see :class:`SlackWebhook`)."""
    return SlackWebhook(conn_id, policy, sleep).post(text, blocks, fallback_text)


def slack_configured(conn_id: str = SLACK_CONN_ID) -> bool:
    from airflow.exceptions import AirflowNotFoundException
    from airflow.sdk import BaseHook

    try:
        BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return False
    return True


def post_staff_message(
    conn_id: str, text: str, blocks: Sequence[dict[str, Any]] | None = None, *, policy: SlackPolicy | None = None
) -> bool:
    """Post a staff message at once; True when Slack accepted it. Never raises.

    Without the connection the message goes to the log (and False is returned). Inside a run,
    prefer ``renewals.slack.outbox.queue_staff_message``: it cannot delay the emails and posts
    each event once.
    """
    return post_message(conn_id, text, blocks, policy=policy or STAFF_POST_POLICY).ok
