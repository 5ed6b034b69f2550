"""The local stack behind ``make run``, ``make airflow`` and the tests: which PostgreSQL, which
databases, which SMTP server, and the Airflow environment pointing at them."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from devenv.postgres import ensure_database, ensure_server
from renewals.config import PROJECT_ROOT

DEMO_SENDER = "Membership Services <renewals@example.org>"


@dataclass(frozen=True)
class LocalStack:
    """Databases on one server: the demo warehouse, the ops schema and Airflow's metadata, named
    for this checkout (its state folder): two checkouts on one machine share the system PostgreSQL,
    and one's `make reset` must not drop the other's databases mid-run."""

    state_dir: Path

    @property
    def checkout(self) -> str:
        return hashlib.sha256(str(self.state_dir.resolve()).encode()).hexdigest()[:10]

    @property
    def warehouse_db(self) -> str:
        return f"renewals_warehouse_{self.checkout}"

    @property
    def ops_db(self) -> str:
        return f"renewals_ops_{self.checkout}"

    @property
    def airflow_db(self) -> str:
        return f"renewals_airflow_{self.checkout}"

    @property
    def outbox(self) -> Path:
        return self.state_dir / "outbox"

    @property
    def airflow_home(self) -> Path:
        return self.state_dir / "airflow"

    def start_databases(self) -> dict[str, str]:
        server = ensure_server(self.state_dir)
        return {name: ensure_database(server, name) for name in (self.warehouse_db, self.ops_db, self.airflow_db)}

    def unsubscribe_secret(self) -> str:
        """Made up once and kept in the state folder (never in the repository), so that `make run`
        signs the unsubscribe links that `make airflow` serves."""
        path = self.state_dir / "unsubscribe-secret"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_hex(32))
            path.chmod(0o600)
        return path.read_text().strip()

    def airflow_env(
        self, databases: dict[str, str], smtp_port: int, business_timezone: str, approval_timeout: int = 3600
    ) -> dict[str, str]:
        """Environment for Airflow commands: connections as AIRFLOW_CONN_* variables, nothing by hand.
        The demo shows approvals on for one playbook (membership: the offboarding's deactivation)."""
        metadata = databases[self.airflow_db].replace("postgresql://", "postgresql+psycopg2://", 1)
        env = {
            "AIRFLOW_HOME": str(self.airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DEFAULT_TIMEZONE": business_timezone,
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata,
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.airflow_home / "logs"),
            "AIRFLOW_CONN_RENEWALS_WAREHOUSE": databases[self.warehouse_db],
            "AIRFLOW_CONN_RENEWALS_OPS": databases[self.ops_db],
            "AIRFLOW_CONN_RENEWALS_SMTP": json.dumps(
                {
                    "conn_type": "smtp",
                    "host": "127.0.0.1",
                    "port": smtp_port,
                    "extra": {"disable_ssl": True, "disable_tls": True, "from_email": DEMO_SENDER},
                }
            ),
            "AIRFLOW_CONN_RENEWALS_UNSUBSCRIBE": json.dumps(
                {"conn_type": "generic", "password": self.unsubscribe_secret()}
            ),
            "RENEWALS_BUSINESS_TIMEZONE": business_timezone,
            "RENEWALS_APPROVALS": "membership",
            "RENEWALS_APPROVAL_TIMEOUT": str(approval_timeout),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT / "plugins"), os.environ.get("PYTHONPATH")])),
        }
        # A setting the user already exported (a real warehouse, SMTP relay, Slack) wins.
        return {key: os.environ.get(key, value) for key, value in env.items()}
