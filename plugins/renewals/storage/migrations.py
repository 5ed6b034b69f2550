"""Versioned, idempotent migrations of the ops schema.

Each file in include/sql/migrations is applied once, in name order, inside a transaction, and
recorded with its checksum; an applied file that was edited afterwards is an error. An advisory
lock makes concurrent runs (two DAG runs starting together) wait for each other.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import psycopg

from renewals.storage.sql_files import migration_files

MIGRATION_LOCK = 0x52454E57  # "RENW": the advisory lock key of ops-schema migrations


class MigrationError(RuntimeError):
    """The ops schema does not match the migration files."""


def migrate(conn: psycopg.Connection, directory: Path | None = None) -> list[str]:
    """Apply the migrations not yet applied; returns the names applied now."""
    applied_now = []
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        conn.execute("create schema if not exists renewals")
        conn.execute(
            """
            create table if not exists renewals.schema_migrations (
                version    text primary key,
                checksum   text not null,
                applied_at timestamptz not null default now()
            )
            """
        )
        applied: dict[str, str] = dict(
            conn.execute("select version, checksum from renewals.schema_migrations").fetchall()
        )
        for path in migration_files(directory):
            text = path.read_text()
            checksum = hashlib.sha256(text.encode()).hexdigest()
            if path.name in applied:
                if applied[path.name] != checksum:
                    raise MigrationError(
                        f"migration {path.name} was changed after it was applied; add a new migration instead"
                    )
                continue
            conn.execute(text)
            conn.execute(
                "insert into renewals.schema_migrations (version, checksum) values (%s, %s)",
                (path.name, checksum),
            )
            applied_now.append(path.name)
    return applied_now
