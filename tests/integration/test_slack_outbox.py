"""The staff posts' outbox on PostgreSQL against a local Slack webhook: queued once, posted once
by the publish step as digests within Slack's limits, kept through an outage, never twice when two
runs publish at once, and written to the log without a connection."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from datetime import date

from renewals.slack.blocks import section
from renewals.slack.messages import deactivation_message, payment_received_message
from renewals.slack.outbox import OutboxReport, flush_outbox, queue_staff_message
from renewals.slack.transport import SlackPolicy
from renewals.storage.db import connect
from renewals.storage.migrations import migrate
from tests.slack_server import slack_server_fixture  # noqa: F401 (the slack_server fixture)
from tests.unit.test_slack import CONN, FAST, captured


def test_queued_staff_posts_are_posted_once_by_the_publish_step(slack_server, ops):
    migrate(ops)
    assert queue_staff_message(ops, "payment:S-1:2026-12-01", "payment_received", "paid S-1", run_id="r1")
    assert not queue_staff_message(ops, "payment:S-1:2026-12-01", "payment_received", "paid S-1 again")
    text, blocks = deactivation_message(account_name="X", subscription_id="S-2", renewal_date=date(2026, 11, 1))
    queue_staff_message(ops, "deactivation:S-2:2026-11-01", "deactivation", text, blocks)

    slack_server.answer(500, times=4)  # an outage: nothing is lost, it waits for the next run
    report = flush_outbox(ops, CONN, SlackPolicy(timeout=5, retries=1, max_wait=5), sleep=lambda _: None)
    assert report.sent == 0 and report.still_pending == 2

    report = flush_outbox(ops, CONN, FAST)
    assert (report.sent, report.messages) == (2, 1)  # one digest
    digest = slack_server.accepted[-1]
    assert digest["text"] == "2 renewal updates: 1 member leaving, 1 payment received"
    assert digest["blocks"] == [section("paid S-1"), {"type": "divider"}, *blocks]  # a post without blocks: its text
    assert flush_outbox(ops, CONN, FAST).sent == 0  # posted once
    assert ops.execute("select array_agg(status order by post_id) from renewals.slack_outbox").fetchone()[0] == [
        "sent",
        "sent",
    ]


def queue_payments(ops, count: int, start: int = 0) -> None:
    for n in range(start, start + count):
        text, blocks = payment_received_message(
            account_name=f"Acme {n}", subscription_id=f"S-{n}", renewal_date=date(2026, 12, 1), amount=100 + n
        )
        queue_staff_message(ops, f"payment_received/S-{n}", "payment_received", text, blocks, run_id="r1")


def posted_subscriptions(bodies: list[dict]) -> Counter:
    """How many times each subscription's staff post reached Slack, across digests."""
    return Counter(
        field["text"].split("\n", 1)[1]
        for body in bodies
        for block in body["blocks"]
        for field in block.get("fields", ())
        if field["text"].startswith("*Subscription*")
    )


def test_a_day_of_staff_posts_goes_out_as_a_few_digests_within_slacks_limits(slack_server, ops):
    migrate(ops)
    queue_payments(ops, 450)
    report = flush_outbox(ops, CONN, FAST)
    assert report.sent == 450 and report.still_pending == 0
    digests = slack_server.accepted
    assert report.messages == len(digests) == 27  # 17 posts of 2 blocks and 16 dividers per message
    assert all(len(body["blocks"]) <= 50 for body in digests)
    assert posted_subscriptions(digests) == Counter({f"S-{n}": 1 for n in range(450)})
    assert digests[0]["text"] == "17 renewal updates: 17 payments received"


def test_an_outage_mid_flush_keeps_what_was_posted_and_leaves_the_rest_for_the_next_run(slack_server, ops):
    migrate(ops)
    queue_payments(ops, 40)  # three digests: 17, 17 and 6 posts
    slack_server.answer(200)
    slack_server.answer(503, times=3)
    report = flush_outbox(ops, CONN, SlackPolicy(timeout=5, retries=1, max_wait=5), sleep=lambda _: None)
    assert (report.sent, report.still_pending) == (17, 23)
    statuses = dict(ops.execute("select status, count(*) from renewals.slack_outbox group by 1").fetchall())
    assert statuses == {"sent": 17, "pending": 23}

    report = flush_outbox(ops, CONN, FAST)
    assert (report.sent, report.still_pending, report.messages) == (23, 0, 2)
    assert posted_subscriptions(slack_server.accepted) == Counter({f"S-{n}": 1 for n in range(40)})


def test_two_runs_publishing_at_once_never_post_a_staff_post_twice(slack_server, ops, databases):
    migrate(ops)
    queue_payments(ops, 600)

    def flush() -> OutboxReport:
        with closing(connect(databases["ops"], autocommit=True)) as conn:
            return flush_outbox(conn, CONN, FAST)

    with ThreadPoolExecutor(max_workers=2) as pool:
        reports = list(pool.map(lambda _: flush(), range(2)))
    assert sum(report.sent for report in reports) == 600
    assert posted_subscriptions(slack_server.accepted) == Counter({f"S-{n}": 1 for n in range(600)})


def test_without_the_connection_each_queued_post_goes_to_the_log(ops, monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_RENEWALS_SLACK", raising=False)
    migrate(ops)
    queue_payments(ops, 3)
    with captured("renewals.slack.transport") as records:
        report = flush_outbox(ops, CONN, FAST)
    assert (report.not_configured, report.messages) == (3, 1)
    logged = "\n".join(record.getMessage() for record in records)
    assert all(f"Acme {n} (S-{n})" in logged for n in range(3))
    assert ops.execute("select count(*) from renewals.slack_outbox where status = 'not_configured'").fetchone()[0] == 3
