"""A run of the pipeline as the storage layer sees it: its id, as-of date, scope and work tables."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

import psycopg
from psycopg import sql

from renewals.storage.db import one_row
from renewals.storage.sql_files import WORK_SCHEMA, WorkTables

FIRST_RUN_LOOKBACK_DAYS = 366  # a first run settles a year of history (as stale or superseded)
WORK_TABLE_RETENTION_DAYS = 3  # staging tables are kept this long for retries and inspection


@dataclass(frozen=True)
class RunContext:
    run_id: str
    as_of: date
    dry_run: bool = False
    subscription_id: str | None = None

    @property
    def run_key(self) -> str:
        return hashlib.sha256(self.run_id.encode()).hexdigest()[:16]

    @property
    def work(self) -> WorkTables:
        return WorkTables(self.run_key)

    def to_xcom(self) -> dict[str, Any]:
        return {**asdict(self), "as_of": self.as_of.isoformat()}

    @classmethod
    def from_xcom(cls, value: dict[str, Any]) -> RunContext:
        return cls(**{**value, "as_of": date.fromisoformat(value["as_of"])})


def register_run(conn: psycopg.Connection, run: RunContext) -> None:
    """Record the run (again, on a retry) and drop work tables of runs past retention."""
    with conn.transaction():
        conn.execute(
            """
            insert into renewals.runs (run_id, run_key, as_of, dry_run, subscription_id)
            values (%s, %s, %s, %s, %s)
            on conflict (run_id) do update
            set as_of = excluded.as_of, dry_run = excluded.dry_run,
                subscription_id = excluded.subscription_id
            """,
            (run.run_id, run.run_key, run.as_of, run.dry_run, run.subscription_id),
        )
        expired = conn.execute(
            "select run_key from renewals.runs where started_at < now() - make_interval(days => %s)",
            (WORK_TABLE_RETENTION_DAYS,),
        ).fetchall()
        for (run_key,) in expired:
            tables = WorkTables(run_key).identifiers().values()
            conn.execute(sql.SQL("drop table if exists {}").format(sql.SQL(", ").join(tables)))


def record_refusal(conn: psycopg.Connection, run_id: str, refusal: str) -> None:
    """Why the run was refused, in one sentence (the run's note and its Renewals tab show it)."""
    with conn.transaction():
        conn.execute("update renewals.runs set refusal = %s where run_id = %s", (refusal, run_id))


def lookback_start(conn: psycopg.Connection, run: RunContext, catch_up_days: int) -> date:
    """First due date a run looks at: back to the previous real run, plus the catch-up window.

    Touchpoints that fell due in a gap between runs are decided (sent, superseded or stale)
    by the first run after the gap; a first-ever run looks back a year.
    """
    previous = one_row(
        conn.execute(
            """
            select max(as_of) from renewals.runs
            where as_of < %s and not dry_run and classified_at is not null and run_id <> %s
            """,
            (run.as_of, run.run_id),
        )
    )[0]
    if previous is None:
        return run.as_of - timedelta(days=FIRST_RUN_LOOKBACK_DAYS)
    return min(previous, run.as_of) - timedelta(days=catch_up_days)


def work_schema_exists(conn: psycopg.Connection) -> bool:
    return one_row(conn.execute("select to_regnamespace(%s) is not null", (WORK_SCHEMA,)))[0]
