"""The warehouse: where it is, its queries, and its reads outside the bulk extract (the current
facts of a batch, re-checked right before it is sent).

A PostgreSQL warehouse is read with psycopg (the extract streams it with COPY). Any other is a
DB-API connection from a common.sql hook (MySQL, SQLite, Snowflake, BigQuery, ...): its queries
are ``include/sql/extract/<dialect>/<name>`` where the dialect needs its own, else
``include/sql/extract/ansi/<name>``, and every value it returns goes through ``as_text`` so that
the ops database validates it exactly like a text-typed PostgreSQL warehouse.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql

from renewals.storage.db import connect
from renewals.storage.sql_files import SQL_DIR, sql_text


@dataclass(frozen=True)
class CurrentFacts:
    renewal_date: date | None
    paused: bool
    intent_confirmed_at: datetime | None
    paid_at: datetime | None
    declined_at: datetime | None


OPTIONAL_COLUMNS_SLOT = "/* optional columns */"


@dataclass(frozen=True)
class Warehouse:
    """Where the subscriptions are read from: a PostgreSQL ``dsn``, or else ``open_dbapi`` (a
    common.sql hook's ``get_conn``) with its ``dialects`` (the connection type first; they name
    the query folders) and the driver's positional ``placeholder``."""

    dsn: str | None = None
    open_dbapi: Callable[[], Any] | None = None
    dialects: tuple[str, ...] = ()
    placeholder: str = "%s"
    optional_columns: tuple[str, ...] = ()  # of the subscriptions table, added to its extract query

    @property
    def is_postgres(self) -> bool:
        return self.dsn is not None

    @property
    def name(self) -> str:
        return "postgres" if self.is_postgres else (self.dialects or ("ansi",))[0]

    def query(self, name: str) -> str:
        """The text of extract query ``name`` for this warehouse (see the module's doc), with the
        optional columns where it has the comment ``/* optional columns */``."""
        columns = "".join(f", {column}" for column in self.optional_columns)
        return self._query_text(name).replace(OPTIONAL_COLUMNS_SLOT, columns + OPTIONAL_COLUMNS_SLOT)

    def _query_text(self, name: str) -> str:
        if self.is_postgres:
            return sql_text(f"extract/{name}")
        for folder in (*self.dialects, "ansi"):
            if (SQL_DIR / "extract" / folder / name).is_file():
                return sql_text(f"extract/{folder}/{name}")
        raise FileNotFoundError(f"include/sql/extract/ansi/{name}")

    def session_statements(self) -> list[str]:
        """Statements a dialect runs first on each connection (``session.sql``, one per line)."""
        for folder in self.dialects:
            if (SQL_DIR / "extract" / folder / "session.sql").is_file():
                text = sql_text(f"extract/{folder}/session.sql")
                return [line for line in text.splitlines() if line.strip() and not line.startswith("--")]
        return []

    def open(self) -> Any:
        """A new connection: psycopg for PostgreSQL, else the hook's DB-API connection with the
        dialect's session statements applied."""
        if self.dsn is not None:
            return connect(self.dsn)
        if self.open_dbapi is None:
            raise ValueError("a warehouse needs a PostgreSQL dsn or a DB-API connection factory")
        conn = self.open_dbapi()
        cursor = conn.cursor()
        for statement in self.session_statements():
            cursor.execute(statement)
        cursor.close()
        return conn

    def placeholders(self, count: int) -> str:
        return ", ".join([self.placeholder] * count)


def as_text(value: object) -> str | None:
    """A warehouse value as the text a PostgreSQL warehouse's COPY would give validation: ISO dates
    and timestamps (a naive timestamp is read as UTC by the ops session), 'true'/'false' for
    booleans, 0/1 ints unchanged (validation reads them as flags where a flag is expected)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (date, int, Decimal)):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def streaming_cursor(conn: Any) -> Any:
    """A cursor whose fetchmany reads from the server as it goes: MySQLdb buffers a whole result
    unless asked for its server-side cursor; mysql-connector, sqlite3 and the cloud drivers'
    default cursors already stream."""
    if type(conn).__module__.startswith("MySQLdb"):
        from MySQLdb.cursors import SSCursor

        return conn.cursor(SSCursor)
    return conn.cursor()


def scoped_query(warehouse: Warehouse, name: str, subscription_id: str | None) -> tuple[str, list[str]]:
    """A DB-API warehouse's extract query ``name`` and its parameters: all rows, or those of one
    subscription (a manual run) matched on the id trimmed of spaces."""
    query = warehouse.query(name)
    if subscription_id is None:
        return query, []
    wrapper = warehouse.query("scoped.sql").format(query=query.strip().rstrip(";"), placeholder=warehouse.placeholder)
    return wrapper, [subscription_id]


def has_subscription(warehouse: Warehouse, subscription_id: str) -> bool:
    """Whether the extract, restricted to this id (as a run's scope: trimmed), returns a row."""
    wanted = subscription_id.strip()
    conn = warehouse.open()
    try:
        if warehouse.is_postgres:
            extract_query = sql.SQL(warehouse.query("subscriptions.sql"))  # a file of ours, composed, not formatted
            scoped = sql.SQL("select 1 from ({}) scoped limit 1").format(extract_query)
            row = conn.execute(scoped, {"subscription_id": wanted}).fetchone()
            return row is not None
        query, params = scoped_query(warehouse, "subscriptions.sql", wanted)
        cursor = streaming_cursor(conn)
        cursor.execute(query, params)
        # exact, whatever the collation
        found = any((as_text(row[0]) or "").strip(" ") == wanted for row in cursor.fetchall())
        cursor.close()
        return found
    finally:
        conn.close()


# The parameters of deliver/normalise_recheck.sql, in the column order of extract/recheck_gates.sql.
_RECHECK_ARRAYS = (
    "source_ids",
    "renewal_dates",
    "intent_confirmed_ats",
    "paid_ats",
    "declined_ats",
    "pauseds",
    "updated_ats",
)


def _recheck_rows(warehouse: Warehouse, conn: Any, source_ids: Sequence[str]) -> list[tuple]:
    """The recheck columns of these subscriptions, as text, in one round trip: by primary key (an
    IN list of bound parameters on a DB-API warehouse, ``= any(array)`` on PostgreSQL)."""
    if warehouse.is_postgres:
        rows = conn.execute(warehouse.query("recheck_gates.sql"), {"source_ids": list(source_ids)}).fetchall()
    elif not source_ids:
        rows = []
    else:
        query = warehouse.query("recheck_gates.sql").format(source_ids=warehouse.placeholders(len(source_ids)))
        cursor = conn.cursor()
        cursor.execute(query, list(source_ids))
        wanted = set(source_ids)
        # the id exactly as staged: a case- or pad-insensitive collation (MySQL's) may match more
        rows = [texts for texts in ([as_text(v) for v in row] for row in cursor.fetchall()) if texts[0] in wanted]
        cursor.close()
    conn.commit()  # end the read transaction so the next batch sees fresh facts
    return rows


def current_facts(
    warehouse: Warehouse, conn: Any, ops: psycopg.Connection, source_ids: Sequence[str]
) -> dict[str, CurrentFacts]:
    """The gate facts of these subscriptions as the warehouse holds them now, keyed by the
    normalised subscription id. ``source_ids`` are the ids as the warehouse spells them (the
    staged ``source_id``); the values go through the extract's normalisation on ``ops``, so a
    text-typed warehouse, a typed one and any other kind give the same facts."""
    columns = _recheck_rows(warehouse, conn, source_ids)
    params = {name: [row[i] for row in columns] for i, name in enumerate(_RECHECK_ARRAYS)}
    rows = ops.execute(sql_text("deliver/normalise_recheck.sql"), params).fetchall()
    return {
        subscription_id: CurrentFacts(
            renewal_date=renewal_date,
            paused=paused,
            intent_confirmed_at=intent_at,
            paid_at=paid_at,
            declined_at=declined_at,
        )
        for subscription_id, renewal_date, paused, intent_at, paid_at, declined_at in rows
    }
