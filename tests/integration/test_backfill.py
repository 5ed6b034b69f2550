"""A 30-day backfill after the daily runs already happened sends nothing twice, run the way an
operator runs it: ``airflow backfill create`` and Airflow's own scheduler (LocalExecutor) with the
execution API server, on the test session's metadata database.

The daily runs of the 30 days are the pipeline's steps called in order, one run id per day as the
scheduler names them (fast: no Airflow in between); the backfill then re-runs every one of those
days through Airflow. Everything due in the window was already settled, so the backfill's runs all
succeed, decide the same things, and hand nothing to SMTP: the mailbox and the ledger stay as the
daily runs left them.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import suppress
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from renewals.config import PROJECT_ROOT
from tests.conftest import moment
from tests.daily import contract_connections, resources_for, scheduler_env
from tests.reliability import full_run, handed_over, received, tally

AIRFLOW = str(Path(sys.executable).with_name("airflow"))
TODAY = datetime.now(UTC).date()
# A backfill only creates runs whose interval has ended; the DAG starts on 2026-01-01.
FIRST_DAY = TODAY - timedelta(days=40)
DAYS = [FIRST_DAY + timedelta(days=n) for n in range(30)]
BACKFILL_TIMEOUT = float(os.environ.get("RENEWALS_BACKFILL_TIMEOUT", "900"))

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(date(2026, 1, 2) > FIRST_DAY, reason="the DAG's start date is 2026-01-01"),
]


def month_of_work(world) -> None:
    """Something due on every day of the window, in every customer cohort, and gates that change."""
    for n, day in enumerate(DAYS):
        world.subscription(f"S-UP-{n:02}", day + timedelta(days=15))  # reminder_15 on `day`, reminder_1 later
        world.subscription(f"S-OVER-{n:02}", day - timedelta(days=1))  # overdue_notice_1 on `day`
        if n % 3 == 0:
            world.subscription(
                f"S-PAY-{n:02}", day + timedelta(days=30), intent_confirmed_at=moment(day - timedelta(days=2))
            )
    # paid in the middle of the window: reminders stop from that day, in the daily runs and the backfill
    world.update("S-UP-05", paid_at=moment(DAYS[12]), invoice_number="INV-5")
    world.update("S-OVER-20", declined_at=moment(DAYS[22]))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop(process: subprocess.Popen) -> None:
    """End a process this test started, and its children (its own session)."""
    if process.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


def test_a_backfill_over_30_days_after_the_daily_runs_sends_nothing_twice(
    world, databases, mailbox, ops, tmp_path, pg_server
):
    month_of_work(world)
    resources = resources_for(databases, mailbox)
    for day in DAYS:
        full_run(resources, f"scheduled__{day.isoformat()}T06:00:00+00:00", day)
    daily_received = received(mailbox)
    daily_attempts = ops.execute("select count(*) from renewals.delivery_attempts").fetchone()[0]
    ledger_before = ops.execute(
        "select subscription_id, renewal_date, touchpoint, status, reason, sent_at from renewals.touchpoints"
        " order by 1, 2, 3"
    ).fetchall()
    assert len(daily_received) > 60 and max(daily_received.values()) == 1

    api_port = free_port()
    env = {
        **os.environ,
        **scheduler_env(api_port, tmp_path / "logs"),
        **contract_connections(databases, mailbox.port),
        "AIRFLOW__CORE__PARALLELISM": "8",
    }

    def airflow(*args: str) -> str:
        result = subprocess.run(
            [AIRFLOW, *args], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, f"airflow {' '.join(args)}: {result.stdout[-2000:]}{result.stderr[-3000:]}"
        return result.stdout

    airflow("dags", "reserialize")
    airflow("dags", "unpause", "renewals_daily")
    started = time.monotonic()
    airflow(
        "backfill",
        "create",
        "--dag-id",
        "renewals_daily",
        "--from-date",
        DAYS[0].isoformat(),
        "--to-date",
        (DAYS[-1] + timedelta(days=1)).isoformat(),
        "--max-active-runs",
        "8",
        "--reprocess-behavior",
        "completed",
    )
    metadata = os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("postgresql+psycopg2://", "postgresql://")
    with psycopg.connect(metadata, autocommit=True) as conn:
        backfill_id = conn.execute("select max(id) from backfill where dag_id = 'renewals_daily'").fetchone()[0]
        planned = conn.execute(
            "select count(*) from backfill_dag_run where backfill_id = %s and dag_run_id is not null", (backfill_id,)
        ).fetchone()[0]
    assert planned == 30, f"the backfill planned {planned} runs"

    processes = [
        subprocess.Popen(
            [AIRFLOW, "api-server", "--apps", "execution", "--workers", "1", "--port", str(api_port)],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=(tmp_path / "api.log").open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        ),
        subprocess.Popen(
            [AIRFLOW, "scheduler", "--skip-serve-logs"],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=(tmp_path / "scheduler.log").open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        ),
    ]
    try:
        states: dict[str, int] = {}
        with psycopg.connect(metadata, autocommit=True) as conn:
            while time.monotonic() - started < BACKFILL_TIMEOUT:
                states = dict(
                    conn.execute(
                        "select coalesce(state, 'none'), count(*) from dag_run where backfill_id = %s group by 1",
                        (backfill_id,),
                    ).fetchall()
                )
                completed = conn.execute("select completed_at from backfill where id = %s", (backfill_id,))
                if completed.fetchone()[0] is not None:
                    break
                assert all(p.poll() is None for p in processes), (tmp_path / "scheduler.log").read_text()[-3000:]
                time.sleep(2)
    finally:
        for process in processes:
            stop(process)
        subprocess.run([AIRFLOW, "dags", "pause", "renewals_daily"], env=env, cwd=PROJECT_ROOT, capture_output=True)
    elapsed = time.monotonic() - started

    settings = resources.settings
    figures = tally(ops, mailbox, handed_over(ops), settings)
    backfill_runs = ops.execute("select count(*) from renewals.runs where run_id like 'backfill__%%'").fetchone()[0]
    new_messages = sum(received(mailbox).values()) - sum(daily_received.values())
    print(
        f"\nBACKFILL of 30 days after the daily runs: airflow runs {states} in {elapsed:.0f}s;"
        f" pipeline runs recorded {backfill_runs}; messages before {sum(daily_received.values())},"
        f" new {new_messages}; {figures.line()}"
    )
    assert states == {"success": 30}, f"backfill runs did not all succeed: {states} (log in {tmp_path})"
    assert backfill_runs == 30
    assert new_messages == 0 and figures.duplicates == 0 and figures.losses == 0 and figures.unknown == 0
    # every row handed over had each of its emails (one, or a copy per recipient) received once; nothing else
    assert figures.unexpected == 0 and figures.delivered == figures.due
    assert ops.execute("select count(*) from renewals.delivery_attempts").fetchone()[0] == daily_attempts
    ledger_after = ops.execute(
        "select subscription_id, renewal_date, touchpoint, status, reason, sent_at from renewals.touchpoints"
        " order by 1, 2, 3"
    ).fetchall()
    assert ledger_after == ledger_before, "the backfill changed what the daily runs settled"
    # the backfill decided the same sends and found them settled; the paid member was not reminded
    settled = ops.execute(
        "select count(*) from renewals.decisions where run_id like 'backfill__%%' and reason like 'already_%%'"
    ).fetchone()[0]
    assert settled > 0
    paid_reminders = [
        m
        for m in mailbox.messages
        if m["X-Renewal-Subscription"] == "S-UP-05" and "reminder" in m["X-Renewal-Touchpoint"]
    ]
    assert all(m["X-Renewal-Touchpoint"] == "renewal_reminder_15" for m in paid_reminders)
