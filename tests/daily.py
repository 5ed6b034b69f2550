"""Resources for tests that run the pipeline in-process (devenv.inprocess) on the test's own
databases and SMTP server: two shards and no waiting between SMTP retries."""

from __future__ import annotations

import json
import secrets
from typing import Any

from devenv.inprocess import local_resources
from devenv.mailbox import FileMailbox
from renewals.config import WAREHOUSE_CONN_ID
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
