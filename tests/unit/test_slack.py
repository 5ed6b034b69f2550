"""Slack posting against a local webhook server: Block Kit payloads, 429 with Retry-After,
outages, no connection (the task log says so), staff posts, the run summary message and the
failure notifier (the staff posts' outbox on PostgreSQL: tests/integration/test_slack_outbox.py)."""

from __future__ import annotations

import logging
from collections import Counter
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from types import SimpleNamespace

import pytest

from renewals.notifications.failure import SlackFailureNotifier, failure_details
from renewals.reports.summary import RunSummary
from renewals.slack.messages import deactivation_message, payment_received_message, run_url, summary_message
from renewals.slack.transport import (
    FAILED,
    NOT_CONFIGURED,
    SENT,
    SlackPolicy,
    post_message,
    post_staff_message,
    retry_after_seconds,
)
from tests.slack_server import slack_server_fixture  # noqa: F401 (the slack_server fixture)

CONN = "renewals_slack"
FAST = SlackPolicy(timeout=5, retries=3, max_wait=10)


@contextmanager
def captured(logger_name: str):
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(level=logging.DEBUG)
    logger = logging.getLogger(logger_name)
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


def test_a_message_is_posted_with_its_blocks(slack_server):
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hello*"}}]
    result = post_message(CONN, "hello", blocks, policy=FAST)
    assert result.status == SENT and result.attempts == 1
    assert slack_server.bodies == [{"text": "hello", "blocks": blocks}]
    assert slack_server.requests[0].path.endswith("/services/T000/B000/XXXX")


def test_a_429_is_retried_after_its_retry_after(slack_server):
    slack_server.answer(429, retry_after=1)
    result = post_message(CONN, "rate limited once", policy=FAST)
    assert result.status == SENT and result.attempts == 2 and result.waited == 1
    first, second = slack_server.requests
    assert second.at - first.at >= 1.0  # really waited what Slack asked for
    assert first.body == second.body


def test_a_retry_after_beyond_the_wait_budget_is_not_waited_for(slack_server):
    slack_server.answer(429, retry_after=3600)
    result = post_message(CONN, "later", policy=SlackPolicy(timeout=5, retries=3, max_wait=30))
    assert result.status == FAILED and "budget" in result.detail
    assert len(slack_server.requests) == 1


def test_a_slack_outage_is_retried_briefly_then_reported_not_raised(slack_server):
    slack_server.answer(500, times=10)
    waits: list[float] = []
    result = post_message(CONN, "down", policy=SlackPolicy(timeout=5, retries=2, max_wait=30), sleep=waits.append)
    assert result.status == FAILED and "500" in result.detail
    assert len(slack_server.requests) == 3 and waits == [1.0, 2.0]


def test_a_refused_connection_is_reported_not_raised(slack_server, monkeypatch):
    slack_server.stop()
    waits: list[float] = []
    result = post_message(CONN, "nobody home", policy=SlackPolicy(timeout=2, retries=1, max_wait=5), sleep=waits.append)
    assert result.status == FAILED and waits == [0.5]


def test_without_the_connection_the_message_goes_to_the_log_saying_so(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_RENEWALS_SLACK", raising=False)
    with captured("renewals.slack.transport") as records:
        result = post_message(CONN, "short text", fallback_text="THE FULL SUMMARY")
    assert result.status == NOT_CONFIGURED
    messages = [record.getMessage() for record in records]
    assert any("Slack is not configured" in message for message in messages)
    assert "THE FULL SUMMARY" in messages


def test_staff_posts_for_payments_and_deactivations(slack_server):
    text, blocks = payment_received_message(
        account_name="Acme",
        subscription_id="S-1",
        renewal_date=date(2026, 12, 1),
        paid_on=date(2026, 11, 20),
        amount=1200,
        currency="USD",
        invoice_number="INV-7",
        playbook="membership",
        tier="premier",
    )
    assert post_staff_message(CONN, text, blocks) is True
    text2, blocks2 = deactivation_message(
        account_name="Gone Ltd",
        subscription_id="S-2",
        renewal_date=date(2026, 11, 1),
        member_type="OP",
        contacts=[("primary", "p@gone.example"), ("billing", "b@gone.example")],
        decline_reason="budget",
    )
    assert post_staff_message(CONN, text2, blocks2) is True
    payment, leaving = slack_server.bodies
    assert "Payment received" in payment["text"] and "1,200.00 USD" in str(payment["blocks"])
    assert "INV-7" in str(payment["blocks"])
    assert "p@gone.example" in str(leaving["blocks"]) and "2 contact(s)" in leaving["text"]


def test_a_staff_post_does_not_wait_long_for_slack(slack_server):
    slack_server.answer(429, retry_after=60)
    assert post_staff_message(CONN, "payment") is False
    assert len(slack_server.requests) == 1


def test_retry_after_in_seconds_or_as_a_date():
    now = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
    assert retry_after_seconds({"Retry-After": ["7"]}) == 7
    assert retry_after_seconds({"retry-after": "2.5"}) == 2.5
    assert retry_after_seconds({"Retry-After": [format_datetime(now + timedelta(seconds=30), usegmt=True)]}, now) == 30
    assert retry_after_seconds({}) == 1


def summary(**overrides) -> RunSummary:
    base = RunSummary(
        run_id="scheduled__2026-11-21T06:00:00+00:00",
        as_of="2026-11-21",
        dry_run=False,
        counts={
            "subscriptions_in": 12,
            "subscriptions_processed": 10,
            "subscriptions_quarantined": 2,
            "contacts_in": 20,
            "contacts_processed": 19,
            "contacts_quarantined": 1,
        },
        sent={
            "customer_emails": Counter({"renewal_reminder_15": 3, "overdue_notice_1": 1}),
            "staff_emails": Counter({"risk_cta": 1}),
            "steps_recorded": Counter({"risk_cta": 2}),
        },
        status_totals=Counter({"sent": 6, "skipped": 2, "failed": 1, "unknown": 1}),
        skipped_by_reason=Counter({"superseded": 1, "opted_out": 1}),
        failed=[("renewal_notice", "550 mailbox unavailable")],
        quarantined_by_reason=Counter({"subscriptions: unknown_playbook": 2, "contacts: invalid_email": 1}),
        cohorts=Counter({"membership / no_response / upcoming": 7, "membership / paid / renewed": 3}),
        unknown_open=1,
        ctas_opened=2,
        ctas_escalated=1,
        offboardings_started=1,
        deactivations=3,
    )
    for key, value in overrides.items():
        setattr(base, key, value)
    return base


def test_the_summary_message_has_every_count_and_a_link_to_the_run():
    url = run_url("http://airflow.example:8080/", "renewals_daily", "scheduled__2026-11-21T06:00:00+00:00")
    assert url == "http://airflow.example:8080/dags/renewals_daily/runs/scheduled__2026-11-21T06%3A00%3A00%2B00%3A00"
    text, blocks = summary_message(summary(), url, ["Spreadsheet updated: file:///x.xlsx"])
    assert blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Renewals run as of 2026-11-21", "emoji": True},
    }
    fields = {f["text"].split("\n")[0].strip("*"): f["text"].split("\n")[1] for f in blocks[2]["fields"]}
    # Emails to customers, emails to staff and staff steps recorded are counted apart, never summed.
    assert fields["Customer emails"] == "4" and fields["Staff emails"] == "1"
    assert fields["Staff steps recorded"] == "2" and "Sent" not in fields
    assert fields["Skipped"] == "2" and fields["Failed"] == "1"
    assert fields["Unknown"].startswith("1") and fields["Quarantined"] == "3 row(s)"
    assert fields["CTAs"] == "2 opened · 1 escalated" and fields["Offboardings started"].startswith("1")
    rendered = str(blocks)
    for expected in (
        "membership / no_response / upcoming",
        "superseded",
        "550 mailbox unavailable",
        "unknown_playbook",
        "renewal_reminder_15",
        "Spreadsheet updated",
    ):
        assert expected in rendered
    assert blocks[-1]["elements"][0]["url"] == url
    assert "customer emails 4, staff emails 1, staff steps recorded 2, skipped 2" in text and url in text
    assert "from history" not in text
    assert len(blocks) <= 50 and all(len(b.get("text", {}).get("text", "")) <= 3000 for b in blocks)


def test_history_a_first_run_settles_is_shown_apart_from_todays_skips():
    text, blocks = summary_message(summary(history_by_reason=Counter({"superseded": 900, "stale": 283})), None)
    fields = {f["text"].split("\n")[0].strip("*"): f["text"].split("\n")[1] for f in blocks[2]["fields"]}
    assert fields["Skipped"] == "2"  # today's decisions only
    assert "skipped 2 (and 1183 from history)" in text
    (history,) = [b["text"]["text"] for b in blocks if b.get("text", {}).get("text", "").startswith("*Settled")]
    assert "before the pipeline's first run" in history and "900" in history and "283" in history


def test_a_huge_summary_stays_within_slack_limits():
    many = Counter({f"membership / no_response / reason_{i:05d}": i for i in range(5000)})
    _, blocks = summary_message(summary(cohorts=many, skipped_by_reason=many), None)
    assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in blocks)
    assert "more" in str(blocks)


def failure_context(exception: Exception) -> dict:
    ti = SimpleNamespace(
        dag_id="renewals_daily",
        task_id="deliver_upcoming",
        run_id="manual__1",
        try_number=3,
        map_index=1,
        log_url="http://localhost:8080/dags/renewals_daily/runs/manual__1/tasks/deliver_upcoming/mapped/1?try_number=3",
    )
    return {"ti": ti, "exception": exception}


def test_the_failure_notifier_posts_the_task_and_its_error(slack_server):
    SlackFailureNotifier().notify(failure_context(RuntimeError("SMTP {{ down }}")))
    (body,) = slack_server.bodies
    assert "deliver_upcoming[1] failed (try 3)" in body["text"]
    assert "RuntimeError: SMTP {{ down }}" in str(body["blocks"])
    assert body["blocks"][-1]["elements"][0]["url"].endswith("try_number=3")


def test_the_approval_request_is_posted_with_the_members_and_a_link_to_required_actions(slack_server):
    from renewals.notifications.approval import SlackApprovalNotifier
    from renewals.operators.approval import StaffApprovalOperator

    task = StaffApprovalOperator(task_id="approve_irreversible_steps", run={})
    task.subject, task.body = "Approve 1 irreversible renewal step(s)", "| S-000042 | Acme | membership |"
    ti = SimpleNamespace(dag_id="renewals_daily", run_id="scheduled__1", task_id=task.task_id, map_index=-1)
    SlackApprovalNotifier().notify({"task": task, "task_instance": ti, "ti": ti})
    (body,) = slack_server.bodies
    assert body["text"] == "Renewals: Approve 1 irreversible renewal step(s)"
    assert "S-000042" in str(body["blocks"])
    url = body["blocks"][-1]["elements"][0]["url"]
    assert url.endswith(
        "/dags/renewals_daily/runs/scheduled__1/tasks/approve_irreversible_steps/required_actions?map_index=-1"
    )


def test_the_failure_notifier_without_slack_writes_the_task_log(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_RENEWALS_SLACK", raising=False)
    with captured("renewals.notifications.channels") as records:
        SlackFailureNotifier().notify(failure_context(ValueError("boom")))
    messages = [record.getMessage() for record in records]
    assert any("Slack is not configured" in message for message in messages)
    assert failure_details(failure_context(ValueError("boom")))["error"] == "ValueError: boom"


@pytest.mark.parametrize("status", [400, 404])
def test_a_permanent_refusal_is_not_retried(slack_server, status):
    slack_server.answer(status, body="invalid_token", times=5)
    result = post_message(CONN, "x", policy=FAST)
    assert result.status == FAILED and len(slack_server.requests) == 1 and "invalid_token" in result.detail


# Warehouse text that Slack would read as a channel ping and a disguised link.
HOSTILE = "<!channel> Acme & Co <https://pay.evil.example|Invoice portal>"


def slack_texts(body: dict) -> list[str]:
    """Every string Slack parses as text or mrkdwn in a posted message (not a button's url)."""
    found = [body["text"]]

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "text" and isinstance(value, str):
                    found.append(value)
                elif key != "url":
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(body["blocks"])
    return found


def test_warehouse_text_reaches_slack_as_text_never_as_a_mention_or_a_link(slack_server):
    from renewals.notifications.approval import SlackApprovalNotifier
    from renewals.operators.approval import StaffApprovalOperator
    from renewals.slack.messages import cta_change_message

    posts = [
        payment_received_message(
            account_name=HOSTILE,
            subscription_id="S-<1>",
            renewal_date=date(2026, 12, 1),
            invoice_number=HOSTILE,
            playbook="membership",
            tier="<!here>",
        ),
        deactivation_message(
            account_name=HOSTILE,
            subscription_id="S-2",
            renewal_date=date(2026, 11, 1),
            contacts=[("primary", "<mailto:x@evil.example|ceo>")],
            decline_reason=HOSTILE,
        ),
        cta_change_message(
            {
                "type_label": "Risk",
                "stage_label": "Open",
                "priority": "high",
                "owner_email": "o@example.org",
                "change": HOSTILE,
            },
            HOSTILE,
            "S-3",
        ),
        summary_message(
            summary(run_id=f"manual__{HOSTILE}", failed=[("renewal_notice", HOSTILE)], cohorts=Counter({HOSTILE: 1})),
            None,
            [f"Spreadsheet NOT updated ({HOSTILE})"],
        ),
    ]
    for text, blocks in posts:
        assert post_staff_message(CONN, text, blocks) is True
    SlackFailureNotifier().notify(failure_context(RuntimeError(HOSTILE)))
    task = StaffApprovalOperator(task_id="approve_irreversible_steps", run={})
    task.subject, task.body = "Approve 1 step", f"| S-1 | {HOSTILE} | membership |"
    ti = SimpleNamespace(dag_id="renewals_daily", run_id="scheduled__1", task_id=task.task_id, map_index=-1)
    SlackApprovalNotifier().notify({"task": task, "task_instance": ti, "ti": ti})

    assert len(slack_server.bodies) == 6
    for body in slack_server.bodies:
        texts = slack_texts(body)
        shown = " ".join(texts)
        assert "<!" not in shown and "<https" not in shown and "<mailto" not in shown, body
        assert all("<" not in text and ">" not in text for text in texts), body
        # ... and the names still read as typed once Slack has turned the entities back
        assert "&lt;!channel&gt; Acme &amp; Co &lt;https://pay.evil.example|Invoice portal&gt;" in shown, body
