"""No secret in the logs, the audit tables, XComs or the messages of a real Airflow run (the
repository scan, templates and SQL checks: tests/unit/test_security.py)."""

from __future__ import annotations

import json
import os
import secrets
from datetime import date, timedelta

import psycopg
import pytest
from psycopg import sql

from devenv.mailbox import FileMailbox

# --- no secret in logs, audit tables, XComs or messages -----------------------------------------


@pytest.fixture
def guarded_smtp(tmp_path):
    """An SMTP server that requires AUTH with a password only this test knows."""
    password = "smtp-" + secrets.token_urlsafe(18)
    with FileMailbox(tmp_path / "outbox", credentials=("renewals", password)) as box:
        yield box, password


@pytest.mark.integration
def test_connection_passwords_never_reach_logs_tables_xcoms_or_messages(
    world, databases, airflow, guarded_smtp, monkeypatch, capfd
):
    from tests.conftest import TEST_AIRFLOW_HOME

    mailbox, smtp_password = guarded_smtp
    db_password = "pg-" + secrets.token_urlsafe(18)  # the local server trusts; the value is carried along
    for role, name in (("warehouse", "RENEWALS_WAREHOUSE"), ("ops", "RENEWALS_OPS")):
        uri = databases[role].replace("postgresql://postgres@", f"postgresql://postgres:{db_password}@", 1)
        monkeypatch.setenv(f"AIRFLOW_CONN_{name}", uri)
    monkeypatch.setenv(
        "AIRFLOW_CONN_RENEWALS_SMTP",
        json.dumps(
            {
                "conn_type": "smtp",
                "host": "127.0.0.1",
                "port": mailbox.port,
                "login": "renewals",
                "password": smtp_password,
                "extra": {"disable_ssl": True, "disable_tls": True},
            }
        ),
    )
    as_of = date(2026, 12, 1)
    world.subscription("S-SEC", as_of + timedelta(days=15))
    world.subscription("S-BAD", None)  # a quarantined row: its raw JSON lands in the audit schema

    assert airflow.run(as_of) == "success"
    assert [m["X-Renewal-Subscription"] for m in mailbox.messages] == ["S-SEC"], "sent through the AUTH relay"

    out, err = capfd.readouterr()
    places = {"task output": out + err}
    places |= {
        str(path.relative_to(TEST_AIRFLOW_HOME)): path.read_text(errors="replace")
        for path in TEST_AIRFLOW_HOME.rglob("*")
        if path.is_file() and path.suffix in (".log", ".json", ".txt", "")
    }
    places |= {f"outbox/{path.name}": path.read_bytes().decode(errors="replace") for path in mailbox.outbox.iterdir()}
    with psycopg.connect(databases["ops"], autocommit=True) as ops:
        tables = [t for (t,) in ops.execute("select tablename from pg_tables where schemaname = 'renewals'")]
        for table in tables:
            rows = ops.execute(sql.SQL("select t::text from {} t").format(sql.Identifier("renewals", table))).fetchall()
            places[f"renewals.{table}"] = "\n".join(r for (r,) in rows)
    metadata = os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("+psycopg2", "")
    with psycopg.connect(metadata, autocommit=True) as meta:
        for table in ("xcom", "rendered_task_instance_fields", "task_instance", "dag_run", "log"):
            rows = meta.execute(sql.SQL("select t::text from {} t").format(sql.Identifier(table))).fetchall()
            places[f"airflow.{table}"] = "\n".join(r for (r,) in rows)
    assert len(places["task output"]) > 1000, "the run's log was captured"
    leaks = [place for place, text in places.items() if smtp_password in text or db_password in text]
    assert leaks == []
