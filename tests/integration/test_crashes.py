"""Exactly once when the worker dies: SIGKILL at each point of a send, many times, then reruns.

A worker (tests/crash_worker.py, a separate process) delivers the day's messages and kills itself
with SIGKILL the n-th time it reaches one point of a send, n random. Workers are started again and
again, as Airflow's task retries would, each killed at the same point at a new random position,
then one finishes normally (the task's last retry) and a new run of the same day follows (a rerun).
Between one of the crashes (a random one) and its retry, a run dated a random older day comes in
(a backfill, a catch-up run): it must leave the crashed run's claims to that run.
Then the mailbox and the ledger are counted:

- a duplicate is a Message-ID the mailbox received twice;
- a loss is a due message neither received nor left 'unknown' (or 'sent' in the ledger without
  having been received);
- 'unknown' is expected exactly for the crashes between the claim's commit and the record
  (before_handoff: not received; after_handoff: received), and nowhere else.

Finally the operator settles the unknown sends with the documented params (confirm what the relay's
log shows, release the rest) and a manual run delivers what was released: every due message is
then received exactly once. ``RENEWALS_CRASHES_PER_POINT`` (default 12) and ``RENEWALS_CRASH_SEED``
change how many crashes and which positions; ``pytest -s`` prints the figures.
"""

from __future__ import annotations

import os
import random
from collections import Counter
from datetime import timedelta

import pytest

from devenv.inprocess import deliver_all
from renewals.reports.summary import format_summary, run_summary
from tests.crash_worker import POINTS
from tests.daily import resources_for
from tests.reliability import (
    CRASH_DAY,
    classified,
    crash_world,
    due_messages,
    full_run,
    older_day_run,
    settle_unknown_from_mail_log,
    tally,
    worker,
)

pytestmark = pytest.mark.slow  # minutes: in make test, not in make test-quick

AS_OF = CRASH_DAY
CRASHES_PER_POINT = int(os.environ.get("RENEWALS_CRASHES_PER_POINT", "12"))
SEED = int(os.environ.get("RENEWALS_CRASH_SEED", "20261201"))
TOTALS: Counter = Counter()


@pytest.fixture(scope="module", autouse=True)
def print_totals():
    yield
    if TOTALS:
        print(
            f"\nCRASH TOTALS crashes={TOTALS['crashes']} older_runs={TOTALS['older_runs']}"
            f" duplicates={TOTALS['duplicates']} losses={TOTALS['losses']}"
            f" unknown={TOTALS['unknown']} due={TOTALS['due']}"
            f" after operator verdicts: duplicates={TOTALS['final_duplicates']} losses={TOTALS['final_losses']}"
        )


@pytest.mark.parametrize("point", POINTS)
def test_sigkill_at_each_point_of_a_send_never_sends_twice_and_never_loses(world, databases, mailbox, ops, point):
    crash_world(world)
    resources = resources_for(databases, mailbox)
    settings = resources.settings
    run = classified(resources, "scheduled__2026-12-01", AS_OF)
    due = due_messages(ops)
    assert len(due) >= 40  # one customer email per subscription (staff notices, if any, count too)

    rng = random.Random(f"{SEED}-{point}")
    crashes = 0
    older_after = rng.randint(1, min(CRASHES_PER_POINT, 6))  # the crash an older day's run follows
    older = None
    for _attempt in range(CRASHES_PER_POINT * 3):
        if crashes == CRASHES_PER_POINT:
            break
        pending = len(due_messages(ops))
        if pending == 0:
            break
        # a worker killed at the hit-th time it reaches the point (a position in the remaining work)
        if worker(databases, mailbox, run.run_id, point, hit=rng.randint(1, min(pending, 4))) == -9:
            crashes += 1
            if crashes == older_after:
                older = older_day_run(resources, databases, mailbox, rng, point)
    assert crashes >= min(CRASHES_PER_POINT, 6), f"only {crashes} crashes injected at {point}"
    assert older is not None

    assert worker(databases, mailbox, run.run_id, None) == 0  # the task's last retry finishes
    rerun = full_run(resources, "manual__2026-12-01T15:00", AS_OF)  # and a new run of the same day

    figures = tally(ops, mailbox, due, settings)
    expected_unknown = crashes if point in ("before_handoff", "after_handoff") else 0
    summary = run_summary(ops, rerun.run_id)
    print(
        f"\nSIGKILL at {point}: crashes={crashes}, a run as of {older.as_of} after crash {older_after};"
        f" {figures.line()}"
    )
    TOTALS.update(
        crashes=crashes,
        older_runs=1,
        duplicates=figures.duplicates,
        losses=figures.losses,
        unknown=figures.unknown,
        due=figures.due,
    )
    assert figures.duplicates == 0, "a Message-ID was received twice"
    assert figures.losses == 0, figures.lost
    assert figures.unexpected == 0
    assert figures.unknown == expected_unknown, "exactly the sends between claim and record are unknown"
    # before_handoff: the relay never got it; after_handoff: it did (only the relay's log can tell)
    assert figures.unknown_received == (crashes if point == "after_handoff" else 0)
    assert summary.unknown_open == expected_unknown
    if expected_unknown:
        assert f"{expected_unknown} touchpoint(s) in status 'unknown'" in format_summary(summary)

    # The operator settles each unknown send from the relay's log, with the documented params.
    release, confirm = settle_unknown_from_mail_log(ops, mailbox, settings)
    verdict_run = full_run(
        resources, "manual__2026-12-01T17:00", AS_OF, release_unknown=release, confirm_unknown=confirm
    )
    final = tally(ops, mailbox, due, settings)
    print(f"  after release_unknown={len(release)} confirm_unknown={len(confirm)}: {final.line()}")
    TOTALS.update(final_duplicates=final.duplicates, final_losses=final.losses)
    assert (final.delivered, final.duplicates, final.losses, final.unknown) == (len(due), 0, 0, 0)
    assert final.statuses == Counter(sent=len(due))
    assert run_summary(ops, verdict_run.run_id).unknown_open == 0
    verdicts = Counter(
        outcome
        for (outcome,) in ops.execute(
            "select outcome from renewals.delivery_attempts where run_id = %s", (verdict_run.run_id,)
        )
    )
    assert verdicts["released"] == len(release) and verdicts["confirmed"] == len(confirm)


def test_a_worker_killed_while_holding_the_claim_does_not_block_the_next_one(world, databases, mailbox, ops):
    """The row lock of a killed worker goes with its connection: the next worker sends at once."""
    world.subscription("S-1", AS_OF + timedelta(days=15))
    resources = resources_for(databases, mailbox)
    run = classified(resources, "scheduled__2026-12-01", AS_OF)

    assert worker(databases, mailbox, run.run_id, "after_claim") == -9
    assert ops.execute(
        "select status, attempts from renewals.touchpoints where subscription_id = 'S-1'"
        " and touchpoint = 'renewal_reminder_15'"
    ).fetchone() == ("pending", 0)
    deliver_all(resources, run)
    assert [m["X-Renewal-Subscription"] for m in mailbox.messages] == ["S-1"]
