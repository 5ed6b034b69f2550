"""Extract the warehouse into the run's staging tables and validate it there, set-based.

The warehouse and the ops schema may be different databases, so rows are streamed with COPY
from one connection to the other (a PostgreSQL warehouse), or read in batches through the
warehouse's DB-API connection and written with COPY (any other kind); validation and
classification then run inside Postgres.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from renewals.playbooks import ROLES, Playbook
from renewals.storage.db import one_row
from renewals.storage.runs import RunContext
from renewals.storage.sql_files import sql_text
from renewals.storage.warehouse import Warehouse, as_text, scoped_query, streaming_cursor

SUBSCRIPTION_COLUMNS = (
    "subscription_id",
    "account_id",
    "account_name",
    "playbook",
    "tier",
    "member_type",
    "renewal_date",
    "term_months",
    "amount",
    "currency",
    "owner_email",
    "intent_confirmed_at",
    "paid_at",
    "invoice_number",
    "declined_at",
    "decline_reason",
    "assigned_at",
    "last_contact_at",
    "next_meeting_at",
    "in_negotiation",
    "hosted_site",
    "paused",
    "timezone",
    "updated_at",
)
# Columns a warehouse may have besides the contract's, read when its subscriptions table has them
# (include/sql/extract/subscription_columns.sql finds them): the CRM records the row names.
OPTIONAL_SUBSCRIPTION_COLUMNS = (
    "salesforce_account_id",
    "salesforce_opportunity_id",
    "hubspot_company_id",
    "hubspot_deal_id",
)
CONTACT_COLUMNS = ("contact_id", "subscription_id", "role", "name", "email", "opted_out")
# Staging columns that keep the warehouse's type when the warehouse has it (COPY reads the
# value, validation need not parse it): column -> (staging type, warehouse types it accepts).
# Only types whose every value COPY reads back into the staging type; the rest stay text.
_TIMESTAMPTZ = ("timestamptz", frozenset({"timestamptz"}))
TYPED_SUBSCRIPTION_COLUMNS = {
    "renewal_date": ("date", frozenset({"date"})),
    "term_months": ("integer", frozenset({"int2", "int4"})),
    "amount": ("numeric", frozenset({"numeric"})),
    "intent_confirmed_at": _TIMESTAMPTZ,
    "paid_at": _TIMESTAMPTZ,
    "declined_at": _TIMESTAMPTZ,
    "last_contact_at": _TIMESTAMPTZ,
    "next_meeting_at": _TIMESTAMPTZ,
    "updated_at": _TIMESTAMPTZ,
    "in_negotiation": ("boolean", frozenset({"bool"})),
    "hosted_site": ("boolean", frozenset({"bool"})),
    "paused": ("boolean", frozenset({"bool"})),
}
FETCH_ROWS = 5000  # rows per fetchmany from a DB-API warehouse
RELAY_BYTES = 1 << 20  # COPY data handed from the warehouse to the ops database in blocks of about this size


@dataclass(frozen=True)
class StageCounts:
    subscriptions_in: int
    subscriptions_processed: int
    subscriptions_quarantined: int
    contacts_in: int
    contacts_processed: int
    contacts_quarantined: int

    def balanced(self) -> bool:
        """Rows in = rows processed + rows quarantined, for both tables."""
        return (
            self.subscriptions_in == self.subscriptions_processed + self.subscriptions_quarantined
            and self.contacts_in == self.contacts_processed + self.contacts_quarantined
        )


def stage_and_validate(
    warehouse: Warehouse,
    ops: psycopg.Connection,
    run: RunContext,
    playbooks: dict[str, Playbook],
    business_timezone: str,
    shards: int,
) -> StageCounts:
    """Copy the extract into fresh work tables, quarantine bad rows, keep the normalised rest.

    The contacts are copied and validated on a second pair of connections while the subscriptions
    are on these (two server processes, so two cores, for the longest statements); only the
    contacts' validation waits for the subscriptions' copy (it checks their ids). The work tables
    and the run's quarantine rows are therefore written in a few transactions, not one: a retried
    extract starts over (fresh work tables, the run's quarantine rows deleted) and nothing reads
    them before the extract succeeded (renewals.runs.extracted_at). A warehouse that is not
    PostgreSQL is staged as text throughout (its driver's types are not PostgreSQL's)."""
    work = run.work
    tables = work.identifiers()
    warehouse = replace(warehouse, optional_columns=optional_columns(warehouse))
    subscription_types = dict.fromkeys(SUBSCRIPTION_COLUMNS + warehouse.optional_columns, "text")
    with ops.transaction():
        ops.execute(work.statement("stage/create_work_tables.sql"))
        if warehouse.is_postgres:
            with closing(warehouse.open()) as source:
                warehouse_types = _warehouse_types(source, warehouse.query("subscriptions.sql"))
            subscription_types = _staging_types(warehouse_types)
            _type_staging_columns(ops, tables["raw_subscriptions"], subscription_types)
        # A retried extract replaces the quarantine rows of its earlier attempt.
        ops.execute("delete from renewals.quarantine where run_id = %s", (run.run_id,))
    params = {
        "run_id": run.run_id,
        "as_of": run.as_of,
        "now": datetime.now(UTC),
        "business_timezone": business_timezone,
        "shards": shards,
        "playbooks": json.dumps({name: pb.validation_rules() for name, pb in playbooks.items()}),
        "roles": list(ROLES),
    }

    def copy_contacts(target: psycopg.Connection) -> int:
        with target.transaction():
            copied = _copy(
                warehouse,
                run.subscription_id,
                target,
                "contacts.sql",
                tables["raw_contacts"],
                dict.fromkeys(CONTACT_COLUMNS, "text"),
            )
            target.execute(sql.SQL("analyze {}").format(tables["raw_contacts"]))
        return copied

    def validate_contacts(target: psycopg.Connection) -> int:
        with target.transaction():
            _tune_bulk_session(target)
            processed = target.execute(work.statement("stage/validate_contacts.sql"), params).rowcount
            target.execute(work.statement("stage/index_contacts.sql"))
        return processed

    with closing(_sibling(ops)) as second_target, ThreadPoolExecutor(max_workers=1) as pool:
        contacts_copied = pool.submit(copy_contacts, second_target)
        with ops.transaction():
            subscriptions_in = _copy(
                warehouse,
                run.subscription_id,
                ops,
                "subscriptions.sql",
                tables["raw_subscriptions"],
                subscription_types,
            )
            ops.execute(sql.SQL("analyze {}").format(tables["raw_subscriptions"]))  # row estimates for the plans
        contacts_in = contacts_copied.result()
        contacts_validated = pool.submit(validate_contacts, second_target)
        with ops.transaction():
            _tune_bulk_session(ops)
            if not run.dry_run:  # answers given since the last run count from this run's day on
                ops.execute(sql_text("stage/count_answers.sql"), params)
            subscriptions_processed = ops.execute(work.statement("stage/validate_subscriptions.sql"), params).rowcount
            ops.execute(work.statement("stage/index_subscriptions.sql"))
        contacts_processed = contacts_validated.result()
    with ops.transaction():
        quarantined: dict[str, int] = dict(
            ops.execute(
                "select source_table, count(*) from renewals.quarantine where run_id = %s group by 1",
                (run.run_id,),
            ).fetchall()
        )
        counts = StageCounts(
            subscriptions_in=subscriptions_in,
            subscriptions_processed=subscriptions_processed,
            subscriptions_quarantined=quarantined.get("subscriptions", 0),
            contacts_in=contacts_in,
            contacts_processed=contacts_processed,
            contacts_quarantined=quarantined.get("contacts", 0),
        )
        ops.execute(
            """
            update renewals.runs
            set extracted_at = now(),
                subscriptions_in = %(subscriptions_in)s,
                subscriptions_processed = %(subscriptions_processed)s,
                subscriptions_quarantined = %(subscriptions_quarantined)s,
                contacts_in = %(contacts_in)s,
                contacts_processed = %(contacts_processed)s,
                contacts_quarantined = %(contacts_quarantined)s
            where run_id = %(run_id)s
            """,
            {**counts.__dict__, "run_id": run.run_id},
        )
    return counts


def optional_columns(warehouse: Warehouse) -> tuple[str, ...]:
    """The optional columns the warehouse's subscriptions table has (read without reading a row)."""
    with closing(warehouse.open()) as conn:
        cursor = conn.cursor()
        cursor.execute(warehouse.query("subscription_columns.sql"))
        names = {str(column[0]).lower() for column in cursor.description or ()}
        cursor.fetchall()
        cursor.close()
        conn.commit()
    return tuple(column for column in OPTIONAL_SUBSCRIPTION_COLUMNS if column in names)


def _warehouse_types(warehouse: psycopg.Connection, query: str) -> dict[str, str]:
    """The type of each column of a PostgreSQL extract query, as the warehouse describes it (no rows read)."""
    with warehouse.cursor() as cursor:
        cursor.execute(sql.SQL("select * from ({}) extract limit 0").format(sql.SQL(query)), {"subscription_id": None})
        described = cursor.description or []
    warehouse.commit()
    types = warehouse.adapters.types
    return {column.name: getattr(types.get(column.type_code), "name", "") for column in described}


def _staging_types(warehouse_types: dict[str, str]) -> dict[str, str]:
    """Each subscription column's staging type: the warehouse's where TYPED_SUBSCRIPTION_COLUMNS allows, else text."""
    types = dict.fromkeys(
        SUBSCRIPTION_COLUMNS + tuple(c for c in OPTIONAL_SUBSCRIPTION_COLUMNS if c in warehouse_types), "text"
    )
    for column, (staging_type, accepted) in TYPED_SUBSCRIPTION_COLUMNS.items():
        if warehouse_types.get(column) in accepted:
            types[column] = staging_type
    return types


def _type_staging_columns(ops: psycopg.Connection, table: sql.Composable, staging_types: dict[str, str]) -> None:
    """Give the (still empty) staging table its columns' staging types (created as text)."""
    changes = [
        sql.SQL("alter column {column} type {type} using {column}::{type}").format(
            column=sql.Identifier(column), type=sql.SQL(staging_type)
        )
        for column, staging_type in staging_types.items()
        if staging_type != "text"
    ]
    if changes:
        ops.execute(sql.SQL("alter table {} {}").format(table, sql.SQL(", ").join(changes)))


def _sibling(conn: psycopg.Connection) -> psycopg.Connection:
    """A second connection with the same parameters (user, database, session options)."""
    return psycopg.connect(make_conninfo(conn.info.dsn, password=conn.info.password or None))


def _tune_bulk_session(conn: psycopg.Connection) -> None:
    """Settings for the set-based statements of this transaction only: no JIT (at a million rows its
    compilation of the long validation expressions costs more than it saves, and it is paid again
    on every run) and sorts for the duplicate checks in memory instead of on disk."""
    conn.execute("set local jit = off")
    conn.execute("set local work_mem = '256MB'")


def _copy(
    warehouse: Warehouse,
    subscription_id: str | None,
    target: psycopg.Connection,
    query_file: str,
    table: sql.Composable,
    columns: dict[str, str],
) -> int:
    """Stream the rows of a warehouse query into a work table (``columns``: name -> staging type), on
    a connection of its own; returns the number of rows.

    From PostgreSQL the rows travel in COPY's binary format, each column cast to its staging type
    by the warehouse: nothing is printed as text and parsed again, and they are relayed in blocks."""
    names = sql.SQL(", ").join(map(sql.Identifier, columns))
    binary = sql.SQL(" (format binary)" if warehouse.is_postgres else "")
    copy_in = sql.SQL("copy {} ({}) from stdin{}").format(table, names, binary)
    with closing(warehouse.open()) as source, target.cursor() as writer, writer.copy(copy_in) as into:
        if warehouse.is_postgres:
            typed = sql.SQL(", ").join(
                sql.SQL("{}::{}").format(sql.Identifier(name), sql.SQL(staging_type))
                for name, staging_type in columns.items()
            )
            copy_out = sql.SQL("copy (select {} from ({}) extract) to stdout{}").format(
                typed, sql.SQL(warehouse.query(query_file)), binary
            )
            with source.cursor() as reader, reader.copy(copy_out, {"subscription_id": subscription_id}) as out:
                _relay(out, into)
        else:
            _copy_dbapi_rows(warehouse, source, query_file, subscription_id, tuple(columns), into)
        source.commit()
    return one_row(target.execute(sql.SQL("select count(*) from {}").format(table)))[0]


def _relay(out: psycopg.Copy, into: psycopg.Copy) -> None:
    """COPY data from one connection to the other in blocks: the warehouse hands it over a row at a
    time, and a write per row would cost more Python than the copy itself."""
    block = bytearray()
    for chunk in out:
        block += chunk
        if len(block) >= RELAY_BYTES:
            into.write(block)
            block = bytearray()
    into.write(block)


def _copy_dbapi_rows(
    warehouse: Warehouse,
    source: object,
    query_file: str,
    subscription_id: str | None,
    columns: tuple[str, ...],
    into: psycopg.Copy,
) -> None:
    """A DB-API warehouse's rows, fetched in batches from a streaming cursor, written as text."""
    query, params = scoped_query(warehouse, query_file, subscription_id)
    cursor = streaming_cursor(source)
    try:
        cursor.execute(query, params)
        described = tuple(column[0].lower() for column in cursor.description or ())
        if described != columns:
            raise ValueError(
                f"the warehouse's {query_file} ({warehouse.name}) returns columns {described}; "
                f"the contract is {columns}"
            )
        id_column = columns.index("subscription_id")
        while rows := cursor.fetchmany(FETCH_ROWS):
            for row in rows:
                # a collation may match ids that differ by case: the scope is exact, as on PostgreSQL
                if subscription_id is None or (as_text(row[id_column]) or "").strip(" ") == subscription_id:
                    into.write_row([as_text(value) for value in row])
    finally:
        cursor.close()
