"""Resources for tests that run the pipeline in-process (devenv.inprocess) on the test's own
databases and SMTP server: two shards and no waiting between SMTP retries."""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path
from typing import Any

from devenv.inprocess import local_resources
from devenv.mailbox import FileMailbox
from renewals.config import PROJECT_ROOT, WAREHOUSE_CONN_ID
from renewals.pipeline import Resources
from tests.warehouses import kind_of


def resources_for(databases: dict[str, str], mailbox: FileMailbox, **settings: Any) -> Resources:
    """A PostgreSQL warehouse by its DSN; any other through its Airflow connection's hook, as the DAG
    reads it (the databases fixture set AIRFLOW_CONN_RENEWALS_WAREHOUSE)."""
    warehouse = databases["warehouse"]
    if kind_of(warehouse) != "postgres":
        from renewals.airflow_resources import warehouse_source

        warehouse = warehouse_source(WAREHOUSE_CONN_ID)
    return local_resources(
        warehouse, databases["ops"], mailbox.port, **{"shards": 2, "smtp_retry_delays": (0.0,), **settings}
    )


def unsubscribe_connection() -> str:
    """The renewals_unsubscribe connection of a test's Airflow (AIRFLOW_CONN_RENEWALS_UNSUBSCRIBE):
    a secret made up per call; prepare_run refuses List-Unsubscribe (on by default) without one."""
    return json.dumps({"conn_type": "generic", "password": secrets.token_hex(32)})


def contract_connections(databases: dict[str, str], smtp_port: int, **smtp_extra: Any) -> dict[str, str]:
    """The contract's Airflow connections (AIRFLOW_CONN_* variables) on the test's own databases and
    SMTP server (plain, no TLS; ``smtp_extra`` adds to the SMTP connection's extra)."""
    smtp = {"conn_type": "smtp", "host": "127.0.0.1", "port": smtp_port}
    return {
        "AIRFLOW_CONN_RENEWALS_WAREHOUSE": databases["warehouse"],
        "AIRFLOW_CONN_RENEWALS_OPS": databases["ops"],
        "AIRFLOW_CONN_RENEWALS_UNSUBSCRIBE": unsubscribe_connection(),
        "AIRFLOW_CONN_RENEWALS_SMTP": json.dumps(
            {**smtp, "extra": {"disable_ssl": True, "disable_tls": True, **smtp_extra}}
        ),
    }


def scheduler_env(api_port: int, logs: Path) -> dict[str, str]:
    """What a test's own scheduler and api-server share (run as subprocesses): the LocalExecutor,
    the execution API on ``api_port``, one JWT secret, no scheduled runs (only those the test
    makes), task logs under ``logs``, and this checkout's plugins and virtual environment."""
    return {
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(logs),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT / "plugins"), os.environ.get("PYTHONPATH")])),
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    }
