"""The approval request: when a run asks staff to approve irreversible steps, a Slack post and an
email with the subject, the steps and a link to the task's Required Actions page in Airflow."""

from __future__ import annotations

import html
from typing import Any

from airflow.sdk import BaseNotifier

from renewals.notifications.channels import post_to_slack, send_email


def required_action_url(context: Any) -> str:
    from airflow.configuration import conf

    task = context["task"]
    return task.generate_link_to_ui_from_context(
        context=context, base_url=conf.get("api", "base_url", fallback="http://localhost:8080")
    )


class SlackApprovalNotifier(BaseNotifier):
    template_fields = ()

    def notify(self, context) -> None:
        from renewals.slack.messages import approval_message

        task = context["task"]
        post_to_slack(context, *approval_message(task.subject, task.body, required_action_url(context)))


class EmailApprovalNotifier(BaseNotifier):
    """Emails the request to ``RENEWALS_APPROVAL_EMAIL``."""

    template_fields = ()

    def notify(self, context) -> None:
        from renewals.config import Settings

        task, url = context["task"], required_action_url(context)
        body = (
            f"<p>{html.escape(task.subject)}: answer in Airflow's Required Actions.</p>"
            f"{request_html(task.body)}<p><a href='{html.escape(url)}'>Open the request</a></p>"
        )
        send_email(context, Settings.from_env().approval_email, f"[renewals] {task.subject}", body)


def request_html(markdown: str) -> str:
    """The request's Markdown (what Required Actions shows) as HTML for a mail client: a real
    table, bold words; raw HTML in it is escaped, never passed through."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown)


def approval_notifiers() -> list[BaseNotifier]:
    return [SlackApprovalNotifier(), EmailApprovalNotifier()]
