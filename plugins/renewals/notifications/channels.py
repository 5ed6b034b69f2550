"""How a staff notification goes out: a Slack post to ``renewals_slack`` (the Slack provider's
SlackWebhookNotifier, 429s retried after their Retry-After; without the connection, the task log)
and an email over ``renewals_smtp`` (the SMTP provider's SmtpNotifier). The providers are imported
when a notification is sent, so that the DAG file stays light to parse."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def post_to_slack(context: Any, text: str, blocks: list[dict[str, Any]]) -> None:
    from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier

    from renewals.config import SLACK_CONN_ID, Settings
    from renewals.slack.transport import SlackPolicy, retry_handlers, slack_configured

    if not slack_configured(SLACK_CONN_ID):
        log.warning("Slack is not configured (no connection %r); the notice follows.", SLACK_CONN_ID)
        log.warning("%s", text)
        return
    settings = Settings.from_env()
    policy = SlackPolicy(settings.slack_timeout, settings.slack_retries, min(settings.slack_max_wait, 60.0))
    SlackWebhookNotifier(
        slack_webhook_conn_id=SLACK_CONN_ID,
        text=text,
        blocks=blocks,
        timeout=policy.timeout,
        retry_handlers=retry_handlers(policy),
    ).notify(context)


def send_email(context: Any, to: str, subject: str, html_body: str) -> None:
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    from renewals.config import SMTP_CONN_ID, Settings

    SmtpNotifier(
        to=to,
        from_email=Settings.from_env().sender,
        subject=subject,
        html_content=html_body,
        smtp_conn_id=SMTP_CONN_ID,
    ).notify(context)
