"""Real parts for the integration tests: PostgreSQL (the local server or an embedded one), fresh
databases per test, and Airflow itself with a metadata database of its own per test session,
migrated once by a session fixture."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from devenv.mailbox import FileMailbox
from devenv.postgres import drop_database, ensure_database, ensure_server
from renewals.pipeline import Resources
from renewals.storage.db import connect
from tests.conftest import STATE_DIR
from tests.dag_file import renewals_dag
from tests.daily import contract_connections, resources_for
from tests.warehouses import Dialect, kind_of, mariadb_answers, mariadb_database, open_writer, sqlite_database
from tests.world import World


def pytest_configure(config: pytest.Config) -> None:
    """Runs when pytest first meets this folder, before its test modules import Airflow: the
    server, and this session's own metadata database (sessions may run side by side) as
    Airflow's database."""
    server = ensure_server(STATE_DIR)
    os.environ["RENEWALS_TEST_PG_SERVER"] = server
    os.environ["RENEWALS_TEST_AIRFLOW_DB"] = f"renewals_test_airflow_{os.getpid()}"
    metadata = ensure_database(server, os.environ["RENEWALS_TEST_AIRFLOW_DB"])
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = metadata.replace("postgresql://", "postgresql+psycopg2://", 1)
    if "airflow.settings" in sys.modules:  # a unit test module collected first imported Airflow: repoint it
        settings = sys.modules["airflow.settings"]
        settings.dispose_orm()
        settings.configure_vars()
        settings.configure_orm()


def pytest_unconfigure(config: pytest.Config) -> None:
    if "RENEWALS_TEST_AIRFLOW_DB" in os.environ:
        if "airflow.settings" in sys.modules:  # close Airflow's pooled connections before the drop
            sys.modules["airflow.settings"].dispose_orm()
        drop_database(os.environ["RENEWALS_TEST_PG_SERVER"], os.environ["RENEWALS_TEST_AIRFLOW_DB"])


@pytest.fixture(scope="session")
def pg_server() -> str:
    return os.environ["RENEWALS_TEST_PG_SERVER"]


@pytest.fixture(scope="session", autouse=True)
def airflow_metadata() -> None:
    """The session's Airflow metadata database, migrated once, before the first integration test."""
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], check=True, capture_output=True)


@pytest.fixture
def warehouse_kind() -> str:
    """The kind of warehouse of a test: PostgreSQL, unless the test parametrises it with
    tests.warehouses.KINDS (the scenarios that run on every kind)."""
    return "postgres"


@pytest.fixture
def databases(
    pg_server: str, warehouse_kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """A fresh warehouse and a fresh ops database for one test. ``warehouse`` is the Airflow
    connection of renewals_warehouse: a PostgreSQL URI (also the DSN), or for MariaDB and SQLite a
    JSON one, then also set as AIRFLOW_CONN_RENEWALS_WAREHOUSE for the in-process runs' hook."""
    suffix = uuid.uuid4().hex[:10]
    ops_name = f"t_ops_{suffix}"
    uris = {"ops": ensure_database(pg_server, ops_name)}
    try:
        if warehouse_kind == "postgres":
            uris["warehouse"] = ensure_database(pg_server, f"t_wh_{suffix}")
            yield uris
            drop_database(pg_server, f"t_wh_{suffix}")
        elif warehouse_kind == "mariadb":
            if reason := mariadb_answers():
                pytest.skip(f"MariaDB warehouse scenario skipped: {reason}")
            with mariadb_database(f"renewals_wh_test_{os.getpid()}_{suffix}") as connection:
                monkeypatch.setenv("AIRFLOW_CONN_RENEWALS_WAREHOUSE", connection)
                yield {**uris, "warehouse": connection}
        else:
            connection = sqlite_database(tmp_path / "warehouse.sqlite")
            monkeypatch.setenv("AIRFLOW_CONN_RENEWALS_WAREHOUSE", connection)
            yield {**uris, "warehouse": connection}
    finally:
        drop_database(pg_server, ops_name)


@pytest.fixture
def world(databases: dict[str, str]) -> Iterator[World]:
    kind = kind_of(databases["warehouse"])
    if kind == "postgres":
        with closing(connect(databases["warehouse"], autocommit=True)) as conn:
            yield World(conn)
    else:
        writer = open_writer(databases["warehouse"])
        with closing(writer.conn):
            yield World(writer, Dialect(kind))


@pytest.fixture
def resources(databases: dict[str, str], mailbox: FileMailbox, tmp_path: Path) -> Resources:
    """The pipeline's resources on this test's databases and SMTP server (run in-process)."""
    return resources_for(databases, mailbox, spreadsheet_path=str(tmp_path / "renewals.xlsx"))


@pytest.fixture
def ops(databases: dict[str, str]) -> Iterator:
    """A connection to the test's ops database (autocommit), for assertions."""
    with closing(connect(databases["ops"], autocommit=True)) as conn:
        yield conn


@dataclass
class AirflowRunner:
    """Runs renewals_daily through Airflow's own dag.test() against the test's parts."""

    def run(self, day: date, **conf) -> str:
        """One DAG run with logical date ``day``; returns the final state of the run."""
        import pendulum

        dag = renewals_dag()
        logical_date = pendulum.datetime(day.year, day.month, day.day, tz="UTC")
        dag_run = dag.test(logical_date=logical_date, run_conf=conf or None)
        return dag_run.state


@pytest.fixture
def airflow(databases: dict[str, str], mailbox: FileMailbox, monkeypatch: pytest.MonkeyPatch) -> AirflowRunner:
    """Airflow connections of the contract, as AIRFLOW_CONN_* variables, for this test."""
    for name, value in contract_connections(databases, mailbox.port).items():
        monkeypatch.setenv(name, value)
    return AirflowRunner()
