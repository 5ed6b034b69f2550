"""Delivery between classification and the SMTP hand-off, on real PostgreSQL and SMTP: the gate
re-check, temporary and permanent refusals, shards, and two workers on the same rows."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest

from devenv import inprocess
from devenv.inprocess import deliver_all
from renewals.pipeline import deliver
from renewals.storage.runs import RunContext
from tests.daily import resources_for
from tests.warehouses import KINDS
from tests.world import contact_email

AS_OF = date(2026, 12, 1)


@pytest.fixture
def resources(databases, mailbox):
    return resources_for(databases, mailbox, smtp_retry_delays=(0.0, 0.0))


def classified(resources, run_id="test-run") -> RunContext:
    run = RunContext(run_id=run_id, as_of=AS_OF)
    inprocess.classified(resources, run)
    return run


def status(ops, subscription_id):
    return ops.execute(
        "select status, reason, attempts from renewals.touchpoints where subscription_id = %s and status <> 'skipped'"
        " or (subscription_id = %s and reason not in ('superseded', 'stale'))",
        (subscription_id, subscription_id),
    ).fetchone()


@pytest.mark.parametrize("warehouse_kind", KINDS)
@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"paid_at": datetime.now(UTC)}, "gate_changed"),
        ({"declined_at": datetime.now(UTC)}, "gate_changed"),
        ({"paused": True}, "paused"),
        ({"renewal_date": AS_OF + timedelta(days=380)}, "cycle_changed"),
    ],
)
def test_a_change_recorded_after_classification_stops_the_send(world, resources, mailbox, ops, change, reason):
    world.subscription("S-1", AS_OF + timedelta(days=15))
    run = classified(resources)
    world.update("S-1", **change)

    deliver_all(resources, run)

    assert mailbox.messages == []
    assert status(ops, "S-1") == ("skipped", reason, 0)


def test_temporary_refusals_leave_the_message_pending_for_the_retry(world, resources, mailbox, ops):
    world.subscription("S-1", AS_OF + timedelta(days=15))
    run = classified(resources)
    mailbox.fail_next(451, "4.3.0 Try again later", count=3, stage="DATA")  # the first try and both retries

    assert deliver_all(resources, run) == 1  # its shard raised DeliveryIncomplete: Airflow retries it
    assert mailbox.messages == []
    assert status(ops, "S-1") == ("pending", "451 4.3.0 Try again later", 3)

    deliver_all(resources, run)  # what Airflow's task retry does

    assert [m["X-Renewal-Subscription"] for m in mailbox.messages] == ["S-1"]
    assert status(ops, "S-1") == ("sent", None, 4)
    outcomes = ops.execute("select outcome from renewals.delivery_attempts order by attempt_id").fetchall()
    assert [o for (o,) in outcomes] == ["retry", "retry", "retry", "sent"]


def test_a_permanent_rejection_is_recorded_and_the_others_still_go(world, resources, mailbox, ops):
    world.subscription("S-BAD", AS_OF + timedelta(days=15))
    world.subscription("S-GOOD", AS_OF + timedelta(days=15))
    mailbox.reject_recipient(contact_email("S-BAD", "primary"), 550, "5.1.1 No such user")

    deliver_all(resources, classified(resources))

    assert [m["X-Renewal-Subscription"] for m in mailbox.messages] == ["S-GOOD"]
    bad_status, bad_reason, attempts = status(ops, "S-BAD")
    assert (bad_status, attempts) == ("failed", 1) and "550 5.1.1 No such user" in bad_reason


def test_shards_split_the_work_without_overlap(world, resources, mailbox, ops):
    for n in range(20):
        world.subscription(f"S-{n:02}", AS_OF + timedelta(days=15))
    run = classified(resources)

    per_shard = []
    for shard in range(2):
        before = len(mailbox.messages)
        deliver(resources, run, "upcoming", shard)
        per_shard.append(len(mailbox.messages) - before)

    assert sorted(m["X-Renewal-Subscription"] for m in mailbox.messages) == [f"S-{n:02}" for n in range(20)]
    assert all(count > 0 for count in per_shard), per_shard


def test_two_workers_on_the_same_shard_send_each_message_once(world, resources, mailbox, ops):
    for n in range(30):
        world.subscription(f"S-{n:02}", AS_OF + timedelta(days=15))
    run = classified(resources)

    workers = [threading.Thread(target=deliver_all, args=(resources, run)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    ids = [m["X-Renewal-Subscription"] for m in mailbox.messages]
    assert sorted(ids) == [f"S-{n:02}" for n in range(30)], "every message exactly once"
    assert ops.execute("select count(*) from renewals.touchpoints where status = 'sent'").fetchone()[0] == 30


def test_opted_out_contacts_get_nothing(world, resources, mailbox, ops):
    world.subscription("S-SOME", AS_OF + timedelta(days=30), roles=("primary", "billing"))
    world.update("S-SOME", intent_confirmed_at=datetime(2026, 10, 1, tzinfo=UTC))
    ops_contacts = world.conn
    ops_contacts.execute("update warehouse.contacts set opted_out = true where contact_id = 'C-S-SOME-billing'")
    world.subscription("S-NONE", AS_OF + timedelta(days=15), roles=())
    world.contact("S-NONE", "primary", opted_out=True)

    run = classified(resources)
    deliver_all(resources, run)

    assert [(m["X-Renewal-Subscription"], m["To"].addresses[0].addr_spec) for m in mailbox.messages] == [
        ("S-SOME", contact_email("S-SOME", "primary"))
    ]
    assert status(ops, "S-NONE")[:2] == ("skipped", "opted_out")
    reasons = dict(
        ops.execute(
            "select subscription_id, reason from renewals.decisions where touchpoint is not null "
            "and action <> 'skip' or reason = 'opted_out'"
        ).fetchall()
    )
    assert reasons == {"S-SOME": "opted_out_excluded", "S-NONE": "opted_out"}
