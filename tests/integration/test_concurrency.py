"""Exactly once when runs overlap or a task is retried, through Airflow itself:

- two runs of the same day at the same time (the scheduled one and a manual one, plus a manual run
  for a single member), as separate ``airflow dags test`` processes on one metadata database, with a
  slow SMTP server so that their deliveries really overlap;
- a deliver task that fails in the middle of its batch (the SMTP server goes down after a few
  messages) and is retried by Airflow: the retry sends only what was left.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest

from renewals.config import PROJECT_ROOT
from tests.conftest import moment
from tests.dag_file import renewals_dag
from tests.daily import contract_connections, resources_for
from tests.reliability import handed_over, received, tally

pytestmark = pytest.mark.slow  # minutes: in make test, not in make test-quick

AS_OF = date(2026, 12, 1)
AIRFLOW = str(Path(sys.executable).with_name("airflow"))


def busy_day(world, n: int = 20) -> None:
    """3n messages due on AS_OF in three cohorts."""
    for i in range(n):
        world.subscription(f"S-UP-{i:02}", AS_OF + timedelta(days=15))
        world.subscription(
            f"S-PAY-{i:02}", AS_OF + timedelta(days=15), intent_confirmed_at=moment(AS_OF - timedelta(days=20))
        )
        world.subscription(f"S-OVER-{i:02}", AS_OF - timedelta(days=15))


def airflow_env(databases, mailbox) -> dict[str, str]:
    return {**os.environ, **contract_connections(databases, mailbox.port, timeout=180)}


def release_when_classified(ops_dsn: str, mailbox, runs: int, deadline: float = 300) -> threading.Thread:
    """Let the held mailbox answer once ``runs`` runs have classified the day: every run is then
    at (or past) its delivery, so they all deliver at once."""

    def watch() -> None:
        end = time.monotonic() + deadline
        with psycopg.connect(ops_dsn, autocommit=True) as conn:
            while time.monotonic() < end:
                exists = conn.execute("select to_regclass('renewals.runs') is not null").fetchone()[0]
                if (
                    exists
                    and conn.execute("select count(*) from renewals.runs where classified_at is not null").fetchone()[0]
                    >= runs
                ):
                    break
                time.sleep(0.2)
        mailbox.release()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_two_runs_of_the_same_day_at_once_send_each_message_once(world, databases, mailbox, ops, tmp_path):
    busy_day(world)
    env = airflow_env(databases, mailbox)
    # The DAG is serialized once up front, as the dag processor would have done, so that the runs
    # below only race on what matters here (the ledger), not on registering the DAG.
    subprocess.run([AIRFLOW, "dags", "reserialize"], env=env, cwd=PROJECT_ROOT, check=True, capture_output=True)
    mailbox.slow_down(0.05)  # every message takes a while ...
    mailbox.hold()  # ... and none is answered before all three runs are delivering
    release = release_when_classified(databases["ops"], mailbox, runs=3)
    runs = {
        "scheduled": ["2026-12-01T06:00:00+00:00"],
        "manual": ["2026-12-01T14:30:00+00:00"],
        "manual_one_member": ["2026-12-01T14:31:00+00:00", "--conf", '{"subscription_id": "S-UP-07"}'],
    }
    logs = {name: (tmp_path / f"{name}.log").open("w") for name in runs}
    processes = {
        name: subprocess.Popen(
            [AIRFLOW, "dags", "test", "renewals_daily", *args],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=logs[name],
            stderr=subprocess.STDOUT,
        )
        for name, args in runs.items()
    }
    codes = {name: process.wait(timeout=600) for name, process in processes.items()}
    release.join(timeout=5)
    for log in logs.values():
        log.close()
    assert codes == dict.fromkeys(runs, 0), {n: (tmp_path / f"{n}.log").read_text()[-3000:] for n in runs}

    settings = resources_for(databases, mailbox).settings
    figures = tally(ops, mailbox, handed_over(ops), settings)
    # which of the three runs sent what: the metadata database knows each run's logical date
    metadata = os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("postgresql+psycopg2://", "postgresql://")
    with psycopg.connect(metadata) as conn:
        logical = {
            run_id: logical_date.strftime("%H:%M")
            for run_id, logical_date in conn.execute(
                "select run_id, logical_date from dag_run where logical_date is not null"  # other tests' too
            )
        }
    names = {"06:00": "scheduled", "14:30": "manual", "14:31": "manual_one_member"}
    senders = Counter(
        names[logical[run_id]]
        for (run_id,) in ops.execute("select last_run_id from renewals.touchpoints where status = 'sent'")
    )
    print(f"\nTWO RUNS AT ONCE: {figures.line()}; sent by run: {dict(senders)}")
    assert (figures.due, figures.delivered, figures.duplicates, figures.losses, figures.unknown) == (60, 60, 0, 0, 0)
    assert figures.unexpected == 0 and max(received(mailbox).values()) == 1
    decided = ops.execute("select count(distinct run_id) from renewals.decisions").fetchone()[0]
    assert decided == 3, "all three runs classified the day"
    assert senders["scheduled"] and senders["manual"], "the two full runs delivered side by side"
    taken = ops.execute("select count(*) from renewals.delivery_attempts where outcome = 'sent'").fetchone()[0]
    assert taken == 60


def test_a_deliver_task_failing_mid_batch_is_retried_by_airflow_and_sends_only_the_rest(
    world, databases, mailbox, ops, airflow
):
    for i in range(20):
        world.subscription(f"S-{i:02}", AS_OF + timedelta(days=15))
    mailbox.shut_down_after(5)  # the SMTP server dies after five messages
    metadata = os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("postgresql+psycopg2://", "postgresql://")
    restarted = threading.Event()

    def bring_smtp_back_once_a_task_failed() -> None:
        deadline = time.monotonic() + 300
        with psycopg.connect(metadata, autocommit=True) as conn:
            while time.monotonic() < deadline:
                failed = conn.execute(
                    "select count(*) from task_instance where dag_id = 'renewals_daily'"
                    " and task_id like 'deliver_%%' and state = 'up_for_retry'"
                ).fetchone()[0]
                if failed:
                    mailbox.restart()
                    restarted.set()
                    return
                time.sleep(0.2)

    watcher = threading.Thread(target=bring_smtp_back_once_a_task_failed, daemon=True)
    watcher.start()
    state, tries = run_with_short_retry_delay(AS_OF)
    watcher.join(timeout=5)

    assert restarted.is_set(), "no deliver task failed: the outage did not happen mid-batch"
    assert state == "success"
    assert max(tries.values()) >= 2 and all(t <= 4 for t in tries.values()), tries  # retried, boundedly
    ids = sorted(m["X-Renewal-Subscription"] for m in mailbox.messages)
    assert ids == [f"S-{i:02}" for i in range(20)], "every message exactly once"
    statuses = dict(
        ops.execute(
            "select status, count(*) from renewals.touchpoints where touchpoint = 'renewal_reminder_15' group by 1"
        ).fetchall()
    )
    assert statuses == {"sent": 20}
    print(f"\nTASK RETRY AFTER A MID-BATCH FAILURE: deliver tries {tries}; 20 due, 20 received once")


def run_with_short_retry_delay(day: date) -> tuple[str, dict[str, int]]:
    """dag.test() of renewals_daily with the deliver tasks' retry delay cut to seconds (the DAG's is
    minutes); returns the run's state and the try number of each deliver task instance."""
    import pendulum

    dag = renewals_dag()
    for task_id, task in dag.task_dict.items():
        if task_id.startswith("deliver_"):
            task.retry_delay = timedelta(seconds=1)
    run = dag.test(logical_date=pendulum.datetime(day.year, day.month, day.day, tz="UTC"))
    metadata = os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("postgresql+psycopg2://", "postgresql://")
    with psycopg.connect(metadata) as conn:
        tries = {
            f"{task_id}[{map_index}]": try_number
            for task_id, map_index, try_number in conn.execute(
                "select task_id, map_index, try_number from task_instance where run_id = %s"
                " and task_id like 'deliver_%%' and state = 'success'",
                (run.run_id,),
            )
        }
    return run.state, tries
