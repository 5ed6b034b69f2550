"""Runs in any order, through ``airflow dags test`` as an operator meets them: a run dated earlier
(a catch-up run the scheduler starts when the DAG is unpaused, a backfill, a retry of yesterday)
never settles what a later-dated run claimed or held.

- Approvals: tomorrow's run asks about two offboarding deactivations and nobody answers, so the
  scheduler's timeout sweep holds them (as in ``make run``). A catch-up run dated today follows:
  the steps stay held, and the run after asks about them again.
- A claim: tomorrow's run claims a reminder and dies before sending it (its deliver tasks never
  run). A run dated today follows: the claim stays pending, and tomorrow's run, retried, sends it
  exactly once.

And, with the pipeline's steps in-process: an older run's gate re-check and claim leave a later
run's claim alone, and a send an older run releases (``release_unknown``) waits for a run that may
decide it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import closing
from datetime import date, timedelta
from pathlib import Path

import pytest

from devenv.__main__ import dags_test
from renewals.config import PROJECT_ROOT
from renewals.storage import ledger
from renewals.storage.db import connect
from renewals.storage.ledger import LedgerKey
from tests.conftest import moment
from tests.daily import resources_for
from tests.integration.test_concurrency import airflow_env
from tests.reliability import classified, full_run, received, worker

AIRFLOW = str(Path(sys.executable).with_name("airflow"))
TODAY = date(2026, 3, 10)
TOMORROW = TODAY + timedelta(days=1)
CATCH_UP = f"{TODAY.isoformat()}T06:00:00+00:00"  # the scheduled run of today's interval: a run id of its own
APPROVAL_TIMEOUT_S = 5


def run_day(env: dict[str, str], day: str, log: Path, *args: str) -> None:
    """``airflow dags test`` of one day, resolving a timed-out approval request as the scheduler does."""
    metadata = os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("postgresql+psycopg2://", "postgresql://")
    if args:
        result = subprocess.run(
            [AIRFLOW, "dags", "test", "renewals_daily", day, *args],
            env=env,
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        log.write_text(result.stdout + result.stderr)
        code = result.returncode
    else:
        code = dags_test(env, day, log, metadata)
    assert code == 0, f"renewals_daily {day}: exit {code}\n{log.read_text()[-4000:]}"


def decisions(ops, as_of: date, touchpoint: str) -> dict[str, tuple[str, str]]:
    """What the decision log of the latest run dated ``as_of`` says about ``touchpoint``, by subscription."""
    rows = ops.execute(
        "select subscription_id, action, reason from renewals.decisions where touchpoint = %s and run_id ="
        " (select run_id from renewals.runs where as_of = %s order by started_at desc limit 1)",
        (touchpoint, as_of),
    ).fetchall()
    return {sid: (action, reason) for sid, action, reason in rows}


@pytest.mark.slow  # minutes: in make test, not in make test-quick
def test_a_catch_up_run_dated_earlier_leaves_held_steps_held_and_the_next_run_asks_again(
    world, databases, mailbox, ops, tmp_path
):
    for sid in ("S-A", "S-B"):  # declined; leaving the day after their renewal date: tomorrow
        world.subscription(sid, TODAY, declined_at=moment(TODAY - timedelta(days=20)), decline_reason="budget")
    env = {
        **airflow_env(databases, mailbox),
        "RENEWALS_APPROVALS": "membership",
        "RENEWALS_APPROVAL_TIMEOUT": str(APPROVAL_TIMEOUT_S),
    }
    step = "offboarding_deactivation"

    run_day(env, TODAY.isoformat(), tmp_path / "today.log")
    run_day(env, TOMORROW.isoformat(), tmp_path / "tomorrow.log")  # asks; nobody answers; held
    held = {("S-A", "held", "approval_timed_out"), ("S-B", "held", "approval_timed_out")}
    ledger = "select subscription_id, status, reason from renewals.touchpoints where touchpoint = %s"
    assert set(ops.execute(ledger, (step,)).fetchall()) == held

    run_day(env, CATCH_UP, tmp_path / "catch-up.log")  # dated today, after tomorrow's run
    assert set(ops.execute(ledger, (step,)).fetchall()) == held, "a run dated earlier settled the held steps"
    assert decisions(ops, TODAY, step) == dict.fromkeys(("S-A", "S-B"), ("none", "decided_by_later_run"))

    day_after = TOMORROW + timedelta(days=1)
    run_day(env, day_after.isoformat(), tmp_path / "day-after.log")  # asks again; held again
    asked = ops.execute(
        "select r.as_of, a.subscription_id from renewals.approvals a join renewals.runs r using (run_id)"
        " where a.touchpoint = %s and a.decision = 'held' and a.decided_by = 'timeout'",
        (step,),
    ).fetchall()
    assert sorted(asked) == [(TOMORROW, "S-A"), (TOMORROW, "S-B"), (day_after, "S-A"), (day_after, "S-B")]
    assert ops.execute("select count(*) from renewals.deactivations").fetchone()[0] == 0, "held: not carried out"


@pytest.mark.slow
def test_a_run_dated_earlier_leaves_a_later_runs_claim_pending_and_the_retry_sends_it_once(
    world, databases, mailbox, ops, tmp_path
):
    world.subscription("S-1", TOMORROW + timedelta(days=15))  # renewal_reminder_15 due tomorrow
    world.subscription("S-2", TODAY + timedelta(days=15))  # renewal_reminder_15 due today
    env = airflow_env(databases, mailbox)
    reminder = "renewal_reminder_15"
    claim = "select status, reason from renewals.touchpoints where subscription_id = 'S-1' and touchpoint = %s"

    run_day(env, TODAY.isoformat(), tmp_path / "today.log")
    # tomorrow's run claims the reminder and dies before sending it: its deliveries never run
    run_day(env, TOMORROW.isoformat(), tmp_path / "tomorrow.log", "--mark-success-pattern", "deliver_.*")
    assert ops.execute(claim, (reminder,)).fetchone() == ("pending", None)

    run_day(env, CATCH_UP, tmp_path / "catch-up.log")  # dated today, after tomorrow's run
    assert ops.execute(claim, (reminder,)).fetchone() == ("pending", None), "a run dated earlier settled the claim"
    assert decisions(ops, TODAY, reminder)["S-1"] == ("none", "decided_by_later_run")
    assert not [m for m in mailbox.messages if m["X-Renewal-Subscription"] == "S-1"], "sent before its day"

    run_day(env, TOMORROW.isoformat(), tmp_path / "tomorrow-retry.log")  # the same run, retried
    assert ops.execute(claim, (reminder,)).fetchone() == ("sent", None)
    reminded = [m["X-Renewal-Subscription"] for m in mailbox.messages if m["X-Renewal-Touchpoint"] == reminder]
    assert sorted(reminded) == ["S-1", "S-2"], "each reminder exactly once"
    assert max(received(mailbox).values()) == 1, "nothing sent twice"


def test_an_older_runs_recheck_claim_and_release_leave_a_later_runs_send_to_it(world, databases, mailbox, ops):
    world.subscription("S-1", TOMORROW + timedelta(days=15))  # renewal_reminder_15 due tomorrow
    resources = resources_for(databases, mailbox)
    key = LedgerKey("S-1", TOMORROW + timedelta(days=15), "renewal_reminder_15")
    row = "select status, decided_as_of from renewals.touchpoints where subscription_id = 'S-1' and touchpoint = %s"
    tomorrow = classified(resources, "scheduled__tomorrow", TOMORROW)
    older = classified(resources, "scheduled__today", TODAY)

    # what an older run's delivery would do had it read the row: neither claim it nor settle it
    with closing(connect(databases["ops"], autocommit=True)) as conn:
        with ledger.claim(conn, key, older) as claim:
            assert claim is None
        ledger.skip(conn, key, older, "gate_changed")
    assert ops.execute(row, (key.touchpoint,)).fetchone() == ("pending", TOMORROW)

    # tomorrow's worker dies between claim and hand-off: 'unknown'; an older run releases it
    assert worker(databases, mailbox, tomorrow.run_id, "before_handoff", as_of=TOMORROW) == -9
    full_run(resources, "manual__today", TODAY, release_unknown=[f"S-1/{key.touchpoint}"])
    assert ops.execute(row, (key.touchpoint,)).fetchone() == ("pending", TOMORROW)
    assert mailbox.messages == [], "an older run sent a send a later run decided"
    log = "select action, reason from renewals.decisions where run_id = 'manual__today' and subscription_id = 'S-1'"
    assert ("none", "decided_by_later_run") in ops.execute(log).fetchall()

    full_run(resources, tomorrow.run_id, TOMORROW)  # tomorrow's run, retried
    assert ops.execute(row, (key.touchpoint,)).fetchone() == ("sent", TOMORROW)
    assert [m["X-Renewal-Touchpoint"] for m in mailbox.messages] == [key.touchpoint]
