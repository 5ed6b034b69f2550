"""Slack through the connection ``renewals_slack``: an Incoming Webhook posted with the Slack
provider's SlackWebhookHook (connection type ``slackwebhook``).

- A 429 answer is retried after the Retry-After it names, as long as the waits together stay
  within the policy's ``max_wait``; a 5xx answer or a refused connection is retried after a short
  backoff. A timeout or a connection lost mid-request is not retried: Slack may have posted it.
- Nothing here raises because of Slack: every post returns a :class:`SlackResult` (``sent``,
  ``failed`` or ``not_configured``) that the caller records. Without the connection the message
  is written to the log, with a line saying Slack is not configured.
- Staff posts (payments received, deactivations) are best queued with :func:`queue_staff_message`
  from the delivery, in its database transaction; the run's publish step posts the queue
  (:func:`flush_outbox`), so Slack never holds up or fails an email. :func:`post_staff_message`
  posts at once, with a small wait budget, for callers outside a run.
"""

from __future__ import annotations

import email.utils
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from urllib.error import URLError

import psycopg

from renewals.config import SLACK_CONN_ID, Settings

log = logging.getLogger(__name__)

SENT = "sent"
FAILED = "failed"
NOT_CONFIGURED = "not_configured"
OUTBOX_MAX_ATTEMPTS = 5  # publish runs that try a queued staff post before it is marked failed

# Slack's limits for a message: 50 blocks; 3,000 characters in a section's text.
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000


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
    status: str  # sent | failed | not_configured
    detail: str = ""
    attempts: int = 0
    waited: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == SENT


@dataclass
class _RetryBudget:
    """Shared by the retry handler and the caller: what was retried and waited."""

    retries: int = 0
    waited: float = 0.0
    gave_up: str = ""
    sleeps: list[float] = field(default_factory=list)


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

    budget = budget if budget is not None else _RetryBudget()

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
            if budget.waited + wait > policy.max_wait:
                budget.gave_up = f"not retried: a wait of {wait:g}s would exceed the {policy.max_wait:g}s budget"
                return False
            self._wait = wait
            return True

        def prepare_for_next_attempt(self, *, state, request, response=None, error=None) -> None:
            state.next_attempt_requested = True
            log.info("Slack answered %s; retrying in %.1fs", getattr(response, "status_code", error), self._wait)
            sleep(self._wait)
            budget.waited += self._wait
            budget.retries += 1
            budget.sleeps.append(self._wait)
            state.increment_current_attempt()

    return [RetryAfterHandler()]


def post_message(
    conn_id: str,
    text: str,
    blocks: Sequence[dict[str, Any]] | None = None,
    *,
    policy: SlackPolicy = SlackPolicy(),
    fallback_text: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> SlackResult:
    """Post ``text`` (and Block Kit ``blocks``) to the webhook of connection ``conn_id``.

    Never raises for Slack's sake. Without the connection, ``fallback_text`` (or ``text``) is
    written to the log after a line saying Slack is not configured.
    """
    from airflow.exceptions import AirflowNotFoundException
    from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook

    budget = _RetryBudget()
    hook = SlackWebhookHook(
        slack_webhook_conn_id=conn_id, timeout=policy.timeout, retry_handlers=retry_handlers(policy, budget, sleep)
    )
    try:
        hook.get_conn()  # reads the connection: absent, or without a webhook token, is "not configured"
    except AirflowNotFoundException as exc:
        log.warning("Slack is not configured (connection %r: %s); the message follows in this log.", conn_id, exc)
        log.warning("%s", fallback_text or text)
        return SlackResult(NOT_CONFIGURED, f"connection {conn_id!r} not found or without a webhook token")
    except Exception as exc:  # a secrets backend that cannot answer, a malformed connection
        log.warning("Slack connection %r could not be read: %s", conn_id, exc)
        return SlackResult(FAILED, f"{type(exc).__name__}: {exc}"[:2000])
    body = {"text": text, **({"blocks": list(blocks)} if blocks else {})}
    try:
        hook.send_dict(body)
    except Exception as exc:  # an HTTP error answer, a timeout, a refused connection: recorded, never raised
        detail = f"{type(exc).__name__}: {exc}"
        if budget.gave_up:
            detail = f"{detail} ({budget.gave_up})"
        log.warning("Slack post failed after %d attempt(s): %s", budget.retries + 1, detail)
        return SlackResult(FAILED, detail[:2000], budget.retries + 1, budget.waited)
    return SlackResult(SENT, "", budget.retries + 1, budget.waited)


def slack_configured(conn_id: str = SLACK_CONN_ID) -> bool:
    from airflow.exceptions import AirflowNotFoundException
    from airflow.sdk import BaseHook

    try:
        BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return False
    return True


# --- staff posts -------------------------------------------------------------------------------


def post_staff_message(
    conn_id: str, text: str, blocks: Sequence[dict[str, Any]] | None = None, *, policy: SlackPolicy | None = None
) -> bool:
    """Post a staff message at once; True when Slack accepted it. Never raises.

    Without the connection the message goes to the log (and False is returned). Inside a run,
    prefer :func:`queue_staff_message`: it cannot delay the emails and posts each event once.
    """
    return post_message(conn_id, text, blocks, policy=policy or STAFF_POST_POLICY).ok


def queue_staff_message(
    conn: psycopg.Connection,
    dedupe_key: str,
    kind: str,
    text: str,
    blocks: Sequence[dict[str, Any]] | None = None,
    run_id: str | None = None,
) -> bool:
    """Queue a staff post in ``renewals.slack_outbox`` (in the caller's transaction); the run's
    publish step posts it. One post per ``dedupe_key``: False when it was queued before."""
    row = conn.execute(
        """
        insert into renewals.slack_outbox (dedupe_key, kind, text, blocks, run_id)
        values (%s, %s, %s, %s::jsonb, %s)
        on conflict (dedupe_key) do nothing
        returning post_id
        """,
        (dedupe_key, kind, text, json.dumps(list(blocks)) if blocks else None, run_id),
    ).fetchone()
    return row is not None


@dataclass
class OutboxReport:
    sent: int = 0
    failed: int = 0
    not_configured: int = 0
    still_pending: int = 0


def flush_outbox(
    ops: psycopg.Connection,
    conn_id: str = SLACK_CONN_ID,
    policy: SlackPolicy = SlackPolicy(),
    sleep: Callable[[float], None] = time.sleep,
) -> OutboxReport:
    """Post the queued staff messages, oldest first; ``ops`` is an autocommit connection.

    A post Slack did not take stays pending for the next run (up to OUTBOX_MAX_ATTEMPTS runs);
    without the connection each goes to the log and is marked ``not_configured``. Rows are
    locked while posted, so two runs publishing together never post one twice.
    """
    report = OutboxReport()
    while True:
        with ops.transaction():
            row = ops.execute(
                """
                select post_id, text, blocks, attempts from renewals.slack_outbox
                where status = 'pending' order by post_id limit 1 for update skip locked
                """
            ).fetchone()
            if row is None:
                return report
            post_id, text, blocks, attempts = row
            result = post_message(conn_id, text, blocks, policy=policy, sleep=sleep)
            attempts += 1
            if result.status == FAILED and attempts < OUTBOX_MAX_ATTEMPTS:
                status = "pending"
                report.still_pending += 1
            else:
                status = result.status
                setattr(report, status, getattr(report, status) + 1)
            ops.execute(
                """
                update renewals.slack_outbox
                set status = %s, attempts = %s, detail = %s,
                    posted_at = case when %s = 'sent' then now() end
                where post_id = %s
                """,
                (status, attempts, result.detail or None, status, post_id),
            )
            if status == "pending":  # Slack is down: leave the rest of the queue for the next run
                report.still_pending += ops.execute(
                    "select count(*) - 1 from renewals.slack_outbox where status = 'pending'"
                ).fetchone()[0]
                return report


# --- messages for staff posts --------------------------------------------------------------------


def _fields(pairs: Sequence[tuple[str, Any]]) -> list[dict[str, str]]:
    return [{"type": "mrkdwn", "text": f"*{label}*\n{value}"} for label, value in pairs if value not in (None, "")][:10]


def _text_section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _money(amount: Any, currency: str | None) -> str | None:
    if amount is None:
        return None
    return f"{amount:,.2f} {currency or ''}".strip()


def payment_received_message(
    *,
    account_name: str,
    subscription_id: str,
    renewal_date: date,
    paid_on: date | None = None,
    amount: Any = None,
    currency: str | None = None,
    invoice_number: str | None = None,
    playbook: str | None = None,
    tier: str | None = None,
) -> tuple[str, list[dict[str, Any]]]:
    """The staff post for a payment received (gate 2): (text, blocks) for post/queue."""
    text = f"Payment received: {account_name} ({subscription_id}), renewal {renewal_date.isoformat()}"
    blocks = [
        _text_section(f":white_check_mark: *Payment received*: {account_name}"),
        {
            "type": "section",
            "fields": _fields([
                ("Subscription", subscription_id),
                ("Renewal date", renewal_date.isoformat()),
                ("Paid on", paid_on.isoformat() if paid_on else None),
                ("Amount", _money(amount, currency)),
                ("Invoice", invoice_number),
                ("Playbook / tier", " / ".join(filter(None, (playbook, tier))) or None),
            ]),
        },
    ]  # fmt: skip
    return text, blocks


def deactivation_message(
    *,
    account_name: str,
    subscription_id: str,
    renewal_date: date,
    member_type: str | None = None,
    contacts: Sequence[tuple[str, str]] = (),
    decline_reason: str | None = None,
) -> tuple[str, list[dict[str, Any]]]:
    """The staff post for a member leaving: the contacts (role, email) to deactivate."""
    text = (
        f"Deactivation: {account_name} ({subscription_id}), renewal {renewal_date.isoformat()}:"
        f" {len(contacts)} contact(s) to deactivate"
    )
    listing = "\n".join(f"• {role}: {address}" for role, address in contacts) or "(no contacts on record)"
    blocks = [
        _text_section(f":wave: *Member leaving*: {account_name}"),
        {
            "type": "section",
            "fields": _fields([
                ("Subscription", subscription_id),
                ("Renewal date", renewal_date.isoformat()),
                ("Member type", member_type),
                ("Reason", decline_reason),
            ]),
        },
        _text_section(truncate(f"*Contacts to deactivate*\n{listing}")),
    ]  # fmt: skip
    return text, blocks


def cta_change_message(
    cta: dict[str, Any], account_name: str, subscription_id: str
) -> tuple[str, list[dict[str, Any]]]:
    """The staff post for a CTA that opened or moved: what changed and who owns it now."""
    text = f"{cta['type_label']} for {account_name} ({subscription_id}): {cta['change']}; owner {cta['owner_email']}"
    blocks = [
        _text_section(f":bell: *{cta['type_label']}*: {account_name}"),
        {
            "type": "section",
            "fields": _fields([
                ("Subscription", subscription_id),
                ("Stage", cta["stage_label"]),
                ("Priority", cta["priority"]),
                ("Owner", cta["owner_email"]),
                ("Change", cta["change"]),
            ]),
        },
    ]  # fmt: skip
    return text, blocks


def truncate(text: str, limit: int = MAX_SECTION_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
