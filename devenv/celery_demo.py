"""renewals_daily on Airflow's CeleryExecutor with two workers, on this machine (``make celery-demo``,
and the slow test tests/integration/test_celery_cluster.py, which runs it with databases and a folder
of its own).

It starts everything itself and stops what it started at the end:

* its own databases on the local PostgreSQL: a demo warehouse (seeded with the demo data), an ops
  database and an Airflow metadata database (``renewals_celery_<checkout>_*``, recreated on every run);
* an SMTP server keeping every message as a file (``.demo/celery/outbox``);
* Airflow 3 components with ``CeleryExecutor``: api-server (the workers' task SDK talks to its
  execution API), scheduler, dag-processor and two ``airflow celery worker`` processes with distinct
  names (``worker-a``, ``worker-b``); the broker is the local Redis (``redis://127.0.0.1:6379/N``, a
  queue of this run's own), the result backend the metadata database (``db+postgresql``).

Then it triggers renewals_daily (``RENEWALS_SHARDS=4``), waits for the run, and shows from the
metadata database which worker ran each task instance (``task_instance.hostname``): the run passes
only if the deliver shards ran on both workers, every task succeeded, and no email was sent twice
(every Message-ID in the outbox once, as many as the ledger's sends).

``airflow dags test`` would not do here: it runs the tasks in its own process without an executor
(``--use-executor`` hands them to the executor but still needs everything else); the scheduler is
what sends task instances to Celery.
"""

from __future__ import annotations

import argparse
import email
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import closing, suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from devenv.demo_data import seed_warehouse
from devenv.postgres import drop_database, ensure_database, ensure_server
from devenv.stack import LocalStack
from renewals.config import PROJECT_ROOT
from renewals.storage.db import connect

BIN = Path(sys.executable).parent
ROLES = ("warehouse", "ops", "airflow")
EXECUTOR = "CeleryExecutor"
WORKERS = ("worker-a", "worker-b")
WORKER_ENV = "RENEWALS_DEMO_WORKER"


class ClusterError(RuntimeError):
    """A component exited early or did not get ready in time; the message names its log."""


@dataclass(frozen=True)
class Cluster:
    """Where one run keeps what it makes: a folder (logs, outbox, AIRFLOW_HOME), its three databases
    (``<prefix>_warehouse``, ``_ops``, ``_airflow``) and its Redis database as broker."""

    state: Path
    database_prefix: str
    broker: str = "redis://127.0.0.1:6379/11"

    def database(self, role: str) -> str:
        return f"{self.database_prefix}_{role}"

    def drop_databases(self, server: str) -> None:
        for role in ROLES:
            drop_database(server, self.database(role))


@dataclass(frozen=True)
class Outcome:
    """What the run did, read back from the metadata database, the ledger and the outbox."""

    state: str
    task_instances: list[tuple[str, int, str, str]]  # task_id, map_index, state, hostname
    message_ids: list[str]
    sent: int  # emails the ledger sent (touchpoints with a Message-ID, or their copies)

    @property
    def deliver_hosts(self) -> set[str]:
        return {
            host
            for task_id, _index, state, host in self.task_instances
            if task_id.startswith("deliver_") and state == "success"
        }

    @property
    def sent_twice(self) -> int:
        return len(self.message_ids) - len(set(self.message_ids))

    @property
    def ok(self) -> bool:
        return (
            self.state == "success"
            and all(state in ("success", "skipped") for _task, _index, state, _host in self.task_instances)
            and set(WORKERS) <= self.deliver_hosts
            and self.sent_twice == 0
            and len(self.message_ids) == self.sent
        )


def worker_hostname() -> str:
    """``[core] hostname_callable`` of the demo: both workers run on this machine, so each reports
    the name it was started with (what task_instance.hostname records), not the machine's name."""
    return os.environ.get(WORKER_ENV) or socket.getfqdn()


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Processes:
    """The processes this script started, each in its own process group, stopped at the end."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = (self.logs / f"{name}.log").open("w")
        process = subprocess.Popen(
            args, env=env, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.started.append((name, process))
        return process

    def check(self) -> None:
        for name, process in self.started:
            if process.poll() is not None:
                raise ClusterError(f"{name} exited early ({process.returncode}); see {self.logs / (name + '.log')}")

    def stop(self) -> None:
        for _name, process in reversed(self.started):
            if process.poll() is None:
                with suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for _name, process in self.started:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def wait_for(what: str, condition, timeout: float, processes: Processes, every: float = 2.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        processes.check()
        result = condition()
        if result:
            return result
        time.sleep(every)
    raise ClusterError(f"timed out after {timeout:.0f}s waiting for {what}; logs in {processes.logs}")


def api_up(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/version", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def query(uri: str, sql: str, params: tuple = ()) -> list[tuple]:
    with closing(connect(uri, autocommit=True)) as conn:
        return conn.execute(sql, params).fetchall()


def run_demo(
    cluster: Cluster, server: str, as_of: date, *, shards: int = 4, subscriptions: int = 3000, timeout: float = 900
) -> Outcome:
    """Recreate the cluster's databases and folder, seed the warehouse, start the components, run
    renewals_daily for ``as_of`` and read back what happened; stops what it started, whatever happens."""
    shutil.rmtree(cluster.state, ignore_errors=True)
    (cluster.state / "logs").mkdir(parents=True)
    cluster.drop_databases(server)
    uris = {role: ensure_database(server, cluster.database(role)) for role in ROLES}
    with closing(connect(uris["warehouse"])) as conn:
        counts = seed_warehouse(conn, as_of, subscriptions=subscriptions)
        conn.commit()
    print(f"demo warehouse for {as_of}: {counts['subscriptions']} subscriptions, {counts['contacts']} contacts")

    processes = Processes(cluster.state / "logs")
    try:
        return run(cluster, as_of, uris, processes, shards=shards, timeout=timeout)
    finally:
        processes.stop()
        print(f"stopped the {len(processes.started)} processes this demo started")


def run(
    cluster: Cluster, as_of: date, uris: dict[str, str], processes: Processes, *, shards: int, timeout: float
) -> Outcome:
    state_dir = cluster.state
    python = sys.executable
    python_path = os.pathsep.join([str(PROJECT_ROOT / "plugins"), str(PROJECT_ROOT)])  # renewals and devenv
    mailbox = subprocess.Popen(
        [python, "-m", "devenv.mailbox", "--outbox", str(state_dir / "outbox"), "--port", "0"],
        env={**os.environ, "PYTHONPATH": python_path},
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    processes.started.append(("mailbox", mailbox))
    assert mailbox.stdout is not None
    smtp_port = int(mailbox.stdout.readline())
    api_port = free_port()
    queue = f"renewals_demo_{os.getpid()}_{secrets.token_hex(3)}"
    metadata = uris["airflow"]
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(BIN), os.environ.get("PATH", "")]),
        "PYTHONPATH": python_path,
        "AIRFLOW_HOME": str(state_dir / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__EXECUTOR": EXECUTOR,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "devenv.celery_demo.worker_hostname",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata.replace("postgresql://", "postgresql+psycopg2://", 1),
        "AIRFLOW__CELERY__BROKER_URL": cluster.broker,
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + metadata,
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
        "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queue,
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(state_dir / "airflow" / "logs"),
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        "AIRFLOW_CONN_RENEWALS_WAREHOUSE": uris["warehouse"],
        "AIRFLOW_CONN_RENEWALS_OPS": uris["ops"],
        "AIRFLOW_CONN_RENEWALS_SMTP": json.dumps(
            {
                "conn_type": "smtp",
                "host": "127.0.0.1",
                "port": smtp_port,
                "extra": {"disable_ssl": True, "disable_tls": True},
            }
        ),
        # signs the reminders' unsubscribe links (prepare_run refuses List-Unsubscribe without it)
        "AIRFLOW_CONN_RENEWALS_UNSUBSCRIBE": json.dumps({"conn_type": "generic", "password": secrets.token_hex(32)}),
        "RENEWALS_SHARDS": str(shards),
        # Only the run triggered below: the schedule's next date is years away (29 February).
        "RENEWALS_SCHEDULE": "0 6 29 2 *",
        "RENEWALS_SPREADSHEET_PATH": (state_dir / "renewals.xlsx").as_uri(),
    }
    airflow = str(BIN / "airflow")
    print("airflow db migrate ...")
    subprocess.run(
        [airflow, "db", "migrate"],
        env=env,
        check=True,
        cwd=PROJECT_ROOT,
        stdout=(state_dir / "logs" / "db-migrate.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    processes.start("api-server", [airflow, "api-server", "--host", "127.0.0.1", "--port", str(api_port)], env)
    processes.start("scheduler", [airflow, "scheduler"], env)
    processes.start("dag-processor", [airflow, "dag-processor"], env)
    for name in WORKERS:
        processes.start(
            name,
            [airflow, "celery", "worker", "--celery-hostname", f"{name}@%h", "--queues", queue, "--skip-serve-logs"],
            {**env, WORKER_ENV: name},
        )
    print(
        f"started api-server (:{api_port}), scheduler, dag-processor, {', '.join(WORKERS)} "
        f"(CeleryExecutor, broker {cluster.broker}, queue {queue})"
    )
    wait_for("the api-server", lambda: api_up(api_port), 180, processes)
    wait_for(
        "renewals_daily to be parsed",
        lambda: query(metadata, "select 1 from dag where dag_id = 'renewals_daily' and not is_stale"),
        240,
        processes,
    )
    wait_for(
        "both Celery workers",
        lambda: all("ready" in (state_dir / "logs" / f"{name}.log").read_text() for name in WORKERS),
        180,
        processes,
    )
    run_id = f"celery_demo__{as_of.isoformat()}"
    logical_date = f"{as_of.isoformat()}T06:00:00+00:00"
    with (state_dir / "logs" / "trigger.log").open("w") as log:
        trigger = [airflow, "dags", "trigger", "renewals_daily", "--run-id", run_id, "--logical-date", logical_date]
        subprocess.run(trigger, env=env, check=True, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT)
    print(f"triggered renewals_daily run {run_id}; waiting for it ...")
    started = time.monotonic()
    state = wait_for(
        "the run to finish",
        lambda: next(
            (
                s
                for (s,) in query(metadata, "select state from dag_run where run_id = %s", (run_id,))
                if s in ("success", "failed")
            ),
            None,
        ),
        timeout,
        processes,
        every=3,
    )
    print(f"run {state} in {time.monotonic() - started:.0f}s")
    return outcome(metadata, uris["ops"], state_dir / "outbox", run_id, state)


def outcome(metadata: str, ops: str, outbox: Path, run_id: str, state: str) -> Outcome:
    rows = query(
        metadata,
        """
        select task_id, map_index, state, hostname from task_instance
        where dag_id = 'renewals_daily' and run_id = %s order by start_date nulls last, task_id, map_index
        """,
        (run_id,),
    )
    messages = sorted(outbox.glob("*.eml"))
    # emails the ledger sent: a message per touchpoint, or each copy of one sent a copy per recipient
    ((sent,),) = query(
        ops,
        """
        select count(coalesce(c.message_id, t.message_id)) from renewals.touchpoints t
        left join renewals.message_copies c using (subscription_id, renewal_date, touchpoint)
        where t.status = 'sent' and t.message_id <> ''
        """,
    )
    return Outcome(
        state=state,
        task_instances=[(task_id, index, str(ti_state), host or "") for task_id, index, ti_state, host in rows],
        message_ids=[email.message_from_bytes(path.read_bytes())["Message-ID"] for path in messages],
        sent=sent,
    )


def print_report(result: Outcome) -> None:
    print(f"\n{'task':28} {'map':>5} {'state':10} {'worker (task_instance.hostname)'}")
    for task_id, map_index, ti_state, hostname in result.task_instances:
        shard = "" if map_index < 0 else str(map_index)
        print(f"{task_id:28} {shard:>5} {ti_state:10} {hostname}")
    print(f"\ndeliver shards ran on: {', '.join(sorted(h for h in result.deliver_hosts if h))}")
    print(
        f"emails: {len(result.message_ids)} received, {len(set(result.message_ids))} distinct Message-IDs, "
        f"{result.sent} sent in the ledger; sent twice: {result.sent_twice}"
    )
    print("celery_demo=" + ("ok" if result.ok else "FAILED"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--date", default=datetime.now(UTC).date().isoformat(), help="as-of date of the run")
    parser.add_argument("--shards", type=int, default=4, help="RENEWALS_SHARDS")
    parser.add_argument("--subscriptions", type=int, default=3000, help="demo warehouse size")
    parser.add_argument("--redis", default=Cluster.broker, help="Celery broker")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for the run")
    args = parser.parse_args(argv)
    # databases named for this checkout, as the other demo databases (devenv.stack.LocalStack)
    checkout = LocalStack(PROJECT_ROOT / ".demo").checkout
    cluster = Cluster(PROJECT_ROOT / ".demo" / "celery", f"renewals_celery_{checkout}", broker=args.redis)
    server = ensure_server(PROJECT_ROOT / ".demo")
    try:
        result = run_demo(
            cluster,
            server,
            date.fromisoformat(args.date),
            shards=args.shards,
            subscriptions=args.subscriptions,
            timeout=args.timeout,
        )
    except ClusterError as error:
        print(f"celery_demo=FAILED: {error}")
        return 1
    print_report(result)
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
