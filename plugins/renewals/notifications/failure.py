"""Failure notifications: a task that fails tells staff on Slack and by email, once per failure.

Both are task ``on_failure_callback`` notifiers (set in the DAG's default_args), so they run once
when a task try ends failed: a try that is retried is not notified, and nothing is set at the DAG
level (that would notify a second time for the same failure). Each notifier is independent: a
Slack outage does not stop the email, and an absent Slack connection writes the notice to the
task log instead, saying so.

A manual run refused for its input (``renewals.manual_runs.ManualRunRefused``: a mistyped
subscription id, a contradictory param) is not an incident: the operator who triggered it sees
the failed task and its message; staff are not notified.

Light to import (the DAG file imports it at parse time): the providers are imported when a
notification is sent.
"""

from __future__ import annotations

import html
import logging
from typing import Any

from airflow.sdk import BaseNotifier

from renewals.notifications.channels import post_to_slack, send_email

log = logging.getLogger(__name__)


def refused_input(context: dict[str, Any]) -> bool:
    """The task failed because the run's input was refused: the operator's to fix, not staff's."""
    from renewals.manual_runs import ManualRunRefused

    if isinstance(context.get("exception"), ManualRunRefused):
        log.info("The run's input was refused (see the error above); staff are not notified.")
        return True
    return False


def failure_details(context: dict[str, Any]) -> dict[str, str]:
    """What failed, from a task callback's context."""
    ti = context.get("ti") or context.get("task_instance")
    exception = context.get("exception")
    map_index = getattr(ti, "map_index", -1)
    task = getattr(ti, "task_id", "?") + (f"[{map_index}]" if map_index is not None and map_index >= 0 else "")
    try:
        log_url = ti.log_url if ti is not None else ""
    except Exception:  # an older or partial context
        log_url = ""
    return {
        "dag_id": str(getattr(ti, "dag_id", "") or ""),
        "task": task,
        "run_id": str(getattr(ti, "run_id", "") or ""),
        "try_number": str(getattr(ti, "try_number", "") or ""),
        "error": (
            f"{type(exception).__name__}: {exception}" if isinstance(exception, BaseException) else str(exception or "")
        )[:1500],
        "log_url": log_url or "",
    }


def failure_email(details: dict[str, str]) -> tuple[str, str]:
    subject = f"[renewals] Task {details['task']} failed in run {details['run_id']}"
    rows = "".join(
        f"<tr><th align='left'>{html.escape(label)}</th><td>{html.escape(details[key])}</td></tr>"
        for label, key in (("DAG", "dag_id"), ("Task", "task"), ("Run", "run_id"), ("Try", "try_number"))
    )
    link = f"<p><a href='{html.escape(details['log_url'])}'>Open the task log</a></p>" if details["log_url"] else ""
    body = (
        f"<p>A task of the renewals pipeline failed after its retries.</p><table>{rows}</table>"
        f"<pre>{html.escape(details['error'])}</pre>{link}"
    )
    return subject, body


class SlackFailureNotifier(BaseNotifier):
    """Posts the failure to Slack (or, without the connection, the task log)."""

    template_fields = ()

    def notify(self, context) -> None:
        from renewals.slack.messages import failure_message

        if refused_input(context):
            return
        post_to_slack(context, *failure_message(failure_details(context)))


class EmailFailureNotifier(BaseNotifier):
    """Emails the failure to ``RENEWALS_FAILURE_EMAIL``."""

    template_fields = ()

    def notify(self, context) -> None:
        from renewals.config import Settings

        if refused_input(context):
            return
        send_email(context, Settings.from_env().failure_email, *failure_email(failure_details(context)))


def failure_notifiers() -> list[BaseNotifier]:
    """The task ``on_failure_callback`` list: Slack and email."""
    return [SlackFailureNotifier(), EmailFailureNotifier()]
