"""``python -m devenv run|airflow|reset``: the demo on embedded defaults.

run      seed the demo warehouse (once), run renewals_daily for today through
         ``airflow dags test``, print the run's summary; messages land in .demo/outbox.
         Approvals are on for membership: with no UI to answer in, the request times out
         (DEMO_APPROVAL_TIMEOUT) and the steps are held, as a production run would hold them.
airflow  the Airflow UI (``airflow standalone``) on the same stack, with the SMTP server up.
reset    drop the demo databases and outbox, to start the demo over.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from contextlib import closing
from datetime import UTC, date, datetime
from email.parser import BytesHeaderParser
from pathlib import Path

from devenv.demo_data import seed_warehouse
from devenv.mailbox import FileMailbox
from devenv.postgres import drop_database, ensure_server
from devenv.stack import LocalStack
from renewals.config import PROJECT_ROOT, Settings
from renewals.decisions.dates import as_of_date
from renewals.reports.summary import format_summary, run_summary
from renewals.storage.db import connect

STATE_DIR = PROJECT_ROOT / ".demo"
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
DEMO_APPROVAL_TIMEOUT = 20  # seconds, for `run`; `airflow` (a person in the UI) gets an hour
# `airflow dags test` resolves no timed-out approval request: the scheduler does. One pass of the
# scheduler's own sweep, run beside the test once a request has timed out, stands in for it. It
# runs only once every other task of the run has finished: a sweep in another process while
# `dags test` was finishing a deliver task once left that task "not found" and the run failed.
APPROVAL_TASKS = ("approve_irreversible_steps", "carry_out_approvals")  # the request, what waits on it
FINISHED = ("success", "failed", "skipped", "upstream_failed", "removed")
SWEEP_TIMED_OUT_REQUESTS = (
    "from airflow.jobs.job import Job; from airflow.jobs.scheduler_job_runner import SchedulerJobRunner;"
    " SchedulerJobRunner(job=Job()).check_awaiting_input_timeouts()"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devenv", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["run", "airflow", "reset"])
    parser.add_argument(
        "--date", type=_iso_date, help="as-of date of the run, YYYY-MM-DD (default: today in the business timezone)"
    )
    parser.add_argument("--subscriptions", type=int, default=3000, help="demo warehouse size (first seed)")
    args = parser.parse_args(argv)
    stack = LocalStack(STATE_DIR)
    if args.command == "reset":
        return reset(stack)
    settings = Settings.from_env()
    today = args.date or as_of_date(datetime.now(UTC), settings.business_timezone).isoformat()
    databases = stack.start_databases()
    seeded = seed_if_empty(databases[stack.warehouse_db], today, args.subscriptions)
    if seeded:
        print(f"Demo warehouse seeded for {today}: {seeded}")
    with FileMailbox(stack.outbox) as mailbox:
        timeout = DEMO_APPROVAL_TIMEOUT if args.command == "run" else 3600
        env = {**os.environ, **stack.airflow_env(databases, mailbox.port, settings.business_timezone, timeout)}
        # `airflow standalone` starts its components as `airflow ...`: the venv's bin must be on PATH.
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        airflow(env, ["db", "migrate"], stack.state_dir / "logs" / "db-migrate.log")
        if args.command == "airflow":
            print("Airflow UI on http://localhost:8080 (every user is admin locally); Ctrl-C stops it.")
            return subprocess.call([AIRFLOW, "standalone"], env=env)
        return run_today(stack, databases, env, today, mailbox)


def _iso_date(value: str) -> str:
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def seed_if_empty(warehouse_uri: str, as_of: str, subscriptions: int) -> dict[str, int] | None:
    """The demo warehouse is seeded once, so that later days see the same world move on."""
    with closing(connect(warehouse_uri)) as conn:
        exists = conn.execute("select to_regclass('warehouse.subscriptions') is not null").fetchone()[0]
        if exists and conn.execute("select exists (select from warehouse.subscriptions)").fetchone()[0]:
            return None
        counts = seed_warehouse(conn, date.fromisoformat(as_of), subscriptions=subscriptions)
        conn.commit()
        return counts


def run_today(stack: LocalStack, databases: dict[str, str], env: dict[str, str], today: str, mailbox) -> int:
    before = set(stack.outbox.glob("*.eml"))
    log = stack.state_dir / "logs" / f"renewals_daily-{today}.log"
    print(f"Running renewals_daily for {today} through `airflow dags test` (log: {log}) ...")
    code = dags_test(env, today, log, databases[stack.airflow_db])
    if code != 0:
        print(log.read_text()[-6000:], file=sys.stderr)
        print(f"renewals_daily failed (exit {code}); full log: {log}", file=sys.stderr)
        return code
    with closing(connect(databases[stack.ops_db], autocommit=True)) as ops:
        run_id = ops.execute(
            "select run_id from renewals.runs where as_of = %s order by finished_at desc nulls last limit 1", (today,)
        ).fetchone()[0]
        print(format_summary(run_summary(ops, run_id)))
    after = set(stack.outbox.glob("*.eml"))
    print(outbox_line(sorted(after - before), len(after), stack.outbox))
    return 0


def outbox_line(new: list[Path], total: int, outbox: Path) -> str:
    """The run's new .eml files: its emails carry X-Renewal-Touchpoint (the summary counts their
    messages: a reminder with links goes as one copy per recipient); notices about the run itself
    (an approval request, a task's failure) do not."""
    headers = [BytesHeaderParser().parsebytes(path.read_bytes()) for path in new]
    ours = [h for h in headers if h["X-Renewal-Touchpoint"] is not None]
    messages = len({(h["X-Renewal-Subscription"], h["X-Renewal-Date"], h["X-Renewal-Touchpoint"]) for h in ours})
    return (
        f"Outbox: {len(new)} new .eml file(s): {len(ours)} email(s) of the {messages} customer and staff"
        " message(s) counted above (a reminder with links goes as one copy per recipient),"
        f" {len(new) - len(ours)} notice(s) about the run (approval request, failure); {total} in all, in {outbox}"
    )


def dags_test(env: dict[str, str], today: str, log: Path, metadata_uri: str) -> int:
    """``airflow dags test``; while an approval request waits, say so and, once it has timed out,
    resolve it as the scheduler would (hold all)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        test = subprocess.Popen(
            [AIRFLOW, "dags", "test", "renewals_daily", today],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=PROJECT_ROOT,
        )
        told = False
        while test.poll() is None:
            time.sleep(3)
            waiting, timed_out = approval_requests(run_tasks(metadata_uri))
            if waiting and not told:
                print(
                    f"  The run asks staff to approve irreversible steps (Required Actions). No UI runs in "
                    f"`make run`: after {env['RENEWALS_APPROVAL_TIMEOUT']} s they are held, as nobody answered; "
                    "`make airflow` lets you answer."
                )
                told = True
            if timed_out:  # the sweep imports Airflow: only once there is something for it to do
                subprocess.run(
                    [sys.executable, "-c", SWEEP_TIMED_OUT_REQUESTS],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=PROJECT_ROOT,
                )
        return test.returncode


def run_tasks(metadata_uri: str) -> list[tuple[str, str | None, bool]]:
    """(task id, state, past its approval timeout) of each task instance of the newest run."""
    with closing(connect(metadata_uri, autocommit=True)) as metadata:
        return metadata.execute(
            """
            select task_id, state, coalesce(state = 'awaiting_input' and trigger_timeout < now(), false)
            from task_instance
            where dag_id = 'renewals_daily'
              and run_id = (select run_id from dag_run where dag_id = 'renewals_daily' order by id desc limit 1)
            """
        ).fetchall()


def approval_requests(tasks: list[tuple[str, str | None, bool]]) -> tuple[bool, bool]:
    """Whether the run's approval request waits, and whether it is due to be resolved: past its
    timeout, with every other task of the run finished (so that nothing else is running)."""
    waiting = any(state == "awaiting_input" for _task, state, _late in tasks)
    others_done = all(state in FINISHED for task, state, _late in tasks if task not in APPROVAL_TASKS)
    return waiting, others_done and any(late for _task, _state, late in tasks)


def airflow(env: dict[str, str], args: list[str], log: Path, check: bool = True) -> int:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        code = subprocess.call([AIRFLOW, *args], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT)
    if check and code != 0:
        raise SystemExit(f"`airflow {' '.join(args)}` failed (exit {code}); see {log}")
    return code


def reset(stack: LocalStack) -> int:
    server = ensure_server(stack.state_dir)
    for name in (stack.warehouse_db, stack.ops_db, stack.airflow_db):
        drop_database(server, name)
    shutil.rmtree(stack.outbox, ignore_errors=True)
    print("Demo databases and outbox removed.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
