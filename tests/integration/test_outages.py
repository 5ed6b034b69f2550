"""SMTP outages on a real SMTP server: temporary refusals (421, 451, 454), connection refused, a
server going down in the middle of a batch, connections cut, and permanent rejections (550).

The rules (docs: Exactly once): nothing is marked sent that the server did not accept; a temporary failure is
retried with a bounded backoff (in the task: ``RENEWALS_SMTP_RETRY_DELAYS``; then by the task's
own retries) and succeeds on a later try or run; a permanent rejection is recorded as failed with the
server's reason, is not retried, and does not stop the other messages.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import pytest

from devenv.inprocess import deliver_all
from devenv.mailbox import FileMailbox
from renewals import pipeline
from renewals.delivery.shard_delivery import ShardDelivery
from renewals.delivery.smtp import MailerUnavailable
from tests.dag_file import renewals_dag
from tests.daily import resources_for
from tests.reliability import classified, due_messages, full_run, received, tally
from tests.world import contact_email

AS_OF = date(2026, 12, 1)
DELAYS = (0.01, 0.02, 0.04)  # the in-task backoff of these tests (production: 2, 8, 30 seconds)


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    """The backoff the delivery actually waited, recorded instead of slept."""
    waited: list[float] = []

    class RecordingDelivery(ShardDelivery):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.sleep = waited.append

    monkeypatch.setattr(pipeline, "ShardDelivery", RecordingDelivery)
    return waited


def ten_due(world) -> None:
    for n in range(10):
        world.subscription(f"S-{n:02}", AS_OF + timedelta(days=15))


def ledger_counts(ops, touchpoint: str | None = None) -> Counter:
    rows = ops.execute(
        "select status, count(*) from renewals.touchpoints where status <> 'skipped'"
        " and (touchpoint = %(tp)s or %(tp)s::text is null) group by 1",
        {"tp": touchpoint},
    )
    return Counter(dict(rows.fetchall()))


def assert_sent_means_accepted(ops, mailbox: FileMailbox) -> None:
    """Every row marked sent was accepted by the server, once; everything accepted is sent or unknown."""
    got = received(mailbox)
    rows = ops.execute("select status, message_id from renewals.touchpoints where status in ('sent', 'unknown')")
    by_status = {"sent": set(), "unknown": set()}
    for status, message_id in rows:
        by_status[status].add(message_id)
    assert all(got[mid] == 1 for mid in by_status["sent"]), "a row marked sent that the server did not accept"
    assert set(got) <= by_status["sent"] | by_status["unknown"], "a message went out that the ledger does not show"
    assert max(got.values(), default=1) == 1, "a message was accepted twice"


@pytest.mark.parametrize(
    ("code", "text", "stage"),
    [
        (421, "4.3.2 Service not available, closing transmission channel", "MAIL"),
        (451, "4.3.0 Requested action aborted: local error in processing", "DATA"),
        (454, "4.7.1 Relay access temporarily denied", "RCPT"),
    ],
)
def test_a_short_temporary_refusal_is_retried_with_bounded_backoff_in_the_same_task(
    world, databases, mailbox, ops, sleeps, code, text, stage
):
    ten_due(world)
    resources = resources_for(databases, mailbox, smtp_retry_delays=DELAYS)
    run = classified(resources, "scheduled__2026-12-01", AS_OF)
    mailbox.fail_next(code, text, count=2, stage=stage)  # two transactions refused, then the server recovers

    assert deliver_all(resources, run) == 0

    figures = tally(ops, mailbox, due_messages(ops, ("sent",)), resources.settings)
    assert (figures.due, figures.delivered, figures.duplicates) == (10, 10, 0)
    assert ledger_counts(ops) == Counter(sent=10)
    assert all(delay in DELAYS for delay in sleeps) and len(sleeps) <= 2 * len(DELAYS)
    retries = ops.execute("select detail from renewals.delivery_attempts where outcome = 'retry'").fetchall()
    assert len(retries) == 2 and all(f"{code} {text}" in detail for (detail,) in retries)
    assert_sent_means_accepted(ops, mailbox)


@pytest.mark.parametrize(("code", "stage"), [(421, "MAIL"), (451, "DATA"), (454, "RCPT")])
def test_a_long_temporary_outage_leaves_everything_pending_and_a_later_try_or_run_sends_it(
    world, databases, mailbox, ops, sleeps, code, stage
):
    ten_due(world)
    resources = resources_for(databases, mailbox, smtp_retry_delays=DELAYS)
    run = classified(resources, "scheduled__2026-12-01", AS_OF)
    tries = 1 + len(DELAYS)
    mailbox.fail_next(code, "4.3.0 Try again later", count=10 * tries, stage=stage)  # the whole task

    assert deliver_all(resources, run) > 0  # DeliveryIncomplete: Airflow retries the task
    assert mailbox.messages == []
    assert ledger_counts(ops) == Counter(pending=10), "nothing marked sent, nothing unknown"
    assert sleeps == list(DELAYS) * 2  # the configured backoff once per shard (two shards), then it gives up
    attempts = ops.execute("select min(attempts), max(attempts) from renewals.touchpoints where status = 'pending'")
    assert attempts.fetchone() == (tries, tries)

    assert deliver_all(resources, run) == 0  # the task's retry, the server back
    assert ledger_counts(ops) == Counter(sent=10)
    assert len(mailbox.messages) == 10
    full_run(resources, "manual__2026-12-01T15:00", AS_OF)  # a rerun of the day adds nothing
    assert len(mailbox.messages) == 10
    assert_sent_means_accepted(ops, mailbox)


def test_a_temporary_outage_is_made_up_by_the_next_days_run(world, databases, mailbox, ops):
    ten_due(world)
    resources = resources_for(databases, mailbox, smtp_retry_delays=())
    run = classified(resources, "scheduled__2026-12-01", AS_OF)
    mailbox.fail_next(451, "4.3.0 Try again later", count=10, stage="DATA")
    assert deliver_all(resources, run) > 0  # every retry of the task failed as well
    assert ledger_counts(ops) == Counter(pending=10)

    full_run(resources, "scheduled__2026-12-02", AS_OF + timedelta(days=1))  # one day late: caught up

    assert ledger_counts(ops, "renewal_reminder_15") == Counter(sent=10)
    reminders = [m for m in mailbox.messages if m["X-Renewal-Touchpoint"] == "renewal_reminder_15"]
    assert len(reminders) == 10
    reasons = ops.execute(
        "select distinct reason from renewals.decisions where as_of = %s and touchpoint = 'renewal_reminder_15'",
        (AS_OF + timedelta(days=1),),
    ).fetchall()
    assert reasons == [("catch_up",)]
    assert_sent_means_accepted(ops, mailbox)


def test_connection_refused_claims_nothing_and_the_retry_sends_everything(world, databases, mailbox, ops):
    ten_due(world)
    resources = resources_for(databases, mailbox)
    run = classified(resources, "scheduled__2026-12-01", AS_OF)
    mailbox.stop()  # nothing listens on the port: connection refused

    with pytest.raises(MailerUnavailable):
        pipeline.deliver(resources, run, "upcoming", 0)
    assert ledger_counts(ops) == Counter(pending=10)
    assert ops.execute("select max(attempts) from renewals.touchpoints").fetchone() == (0,)
    assert ops.execute("select count(*) from renewals.delivery_attempts").fetchone() == (0,)

    mailbox.restart()
    assert deliver_all(resources, run) == 0
    assert ledger_counts(ops) == Counter(sent=10)
    assert len(mailbox.messages) == 10
    assert_sent_means_accepted(ops, mailbox)


def test_a_server_going_down_mid_batch_fails_the_task_and_its_retry_sends_only_the_rest(world, databases, mailbox, ops):
    for n in range(20):
        world.subscription(f"S-{n:02}", AS_OF + timedelta(days=15))
    resources = resources_for(databases, mailbox, shards=1)
    run = classified(resources, "scheduled__2026-12-01", AS_OF)
    mailbox.shut_down_after(7)

    with pytest.raises(MailerUnavailable):
        pipeline.deliver(resources, run, "upcoming", 0)
    assert len(mailbox.messages) == 7 and mailbox.is_down
    assert ledger_counts(ops) == Counter(sent=7, pending=13)
    # the message whose session was cut had not been handed over: a retry, not unknown
    assert [o for (o,) in ops.execute("select outcome from renewals.delivery_attempts where outcome <> 'sent'")] == [
        "retry"
    ]

    mailbox.restart()
    pipeline.deliver(resources, run, "upcoming", 0)  # the task's retry

    assert sorted(m["X-Renewal-Subscription"] for m in mailbox.messages) == [f"S-{n:02}" for n in range(20)]
    assert ledger_counts(ops) == Counter(sent=20)
    assert_sent_means_accepted(ops, mailbox)


@pytest.mark.parametrize("stage", ["MAIL", "RCPT"])
def test_a_connection_cut_before_data_is_retried_not_unknown(world, databases, mailbox, ops, stage):
    ten_due(world)
    resources = resources_for(databases, mailbox, smtp_retry_delays=(0.0,))
    run = classified(resources, "scheduled__2026-12-01", AS_OF)
    mailbox.drop_next(stage, count=3)

    assert deliver_all(resources, run) == 0
    assert ledger_counts(ops) == Counter(sent=10)
    assert len(mailbox.messages) == 10
    assert_sent_means_accepted(ops, mailbox)


@pytest.mark.parametrize("kept", [False, True], ids=["lost", "kept"])
def test_a_connection_cut_during_data_is_unknown_and_never_repeated_by_itself(world, databases, mailbox, ops, kept):
    ten_due(world)
    resources = resources_for(databases, mailbox)
    run = classified(resources, "scheduled__2026-12-01", AS_OF)
    mailbox.drop_next("DATA", count=1, keep=kept)

    assert deliver_all(resources, run) == 0
    full_run(resources, "manual__2026-12-01T15:00", AS_OF)  # a rerun leaves it alone

    assert ledger_counts(ops) == Counter(sent=9, unknown=1)
    assert len(mailbox.messages) == 9 + kept
    assert_sent_means_accepted(ops, mailbox)
    (ref,) = [item.ref for item in due_messages(ops, ("unknown",))]
    verdict = {"confirm_unknown": [ref]} if kept else {"release_unknown": [ref]}
    full_run(resources, "manual__2026-12-01T17:00", AS_OF, **verdict)
    assert ledger_counts(ops) == Counter(sent=10)
    assert len(mailbox.messages) == 10
    assert_sent_means_accepted(ops, mailbox)


def test_a_permanent_rejection_is_recorded_with_the_reason_and_the_others_go(world, databases, mailbox, ops, sleeps):
    ten_due(world)
    resources = resources_for(databases, mailbox, smtp_retry_delays=DELAYS)
    run = classified(resources, "scheduled__2026-12-01", AS_OF)
    mailbox.reject_recipient(contact_email("S-03", "primary"), 550, "5.1.1 <primary.s-03> User unknown")
    mailbox.fail_next(421, "4.3.2 Try later", count=1, stage="MAIL")  # a temporary one among them
    mailbox.fail_next(550, "5.7.1 Message rejected as spam", count=1, stage="DATA")

    assert deliver_all(resources, run) == 0

    rows = dict(
        ops.execute(
            "select subscription_id, (status, reason, attempts) from renewals.touchpoints where status <> 'skipped'"
        ).fetchall()
    )
    failed = {sid: row for sid, row in rows.items() if row[0] == "failed"}
    assert len(failed) == 2 and rows["S-03"][0] == "failed"
    assert "550 5.1.1 <primary.s-03> User unknown" in rows["S-03"][1]
    assert any("550 5.7.1 Message rejected as spam" in reason for _, reason, _ in failed.values())
    outcomes = {
        sid: outcomes
        for sid, outcomes in ops.execute(
            "select subscription_id, array_agg(outcome order by attempt_id) from renewals.delivery_attempts group by 1"
        )
    }
    # a permanent rejection is the last attempt of its message (one may have met the 421 first)
    assert all(outcomes[sid][-1] == "failed" and outcomes[sid].count("failed") == 1 for sid in failed)
    assert sum(1 for row in rows.values() if row[0] == "sent") == 8
    assert len(mailbox.messages) == 8

    deliver_all(resources, run)  # the task's retry
    full_run(resources, "manual__2026-12-01T15:00", AS_OF)  # and a rerun of the day
    assert len(mailbox.messages) == 8, "failed rows are not retried"
    assert ops.execute("select count(*) from renewals.delivery_attempts where outcome = 'failed'").fetchone() == (2,)
    assert ledger_counts(ops) == Counter(sent=8, failed=2)
    failures = ops.execute("select detail from renewals.delivery_attempts where outcome = 'failed'").fetchall()
    assert len(failures) == 2 and all(detail.startswith("5") or "550" in detail for (detail,) in failures)
    assert_sent_means_accepted(ops, mailbox)


def test_the_dags_deliver_tasks_retry_a_bounded_number_of_times_with_backoff():
    """Past the in-task backoff, Airflow retries the deliver task: a few times, each wait longer."""

    dag = renewals_dag()
    delivers = [task for task_id, task in dag.task_dict.items() if task_id.startswith("deliver_")]
    assert delivers
    for task in delivers:
        assert 1 <= task.retries <= 10, task.task_id
        assert task.retry_exponential_backoff, task.task_id
        assert task.retry_delay.total_seconds() > 0, task.task_id
