"""Where the pipeline's resources come from inside Airflow: the four connections of the
contract (settable as AIRFLOW_CONN_<ID> environment variables) and the settings."""

from __future__ import annotations

import smtplib
from collections.abc import Callable

from psycopg.conninfo import make_conninfo

from renewals.config import OPS_CONN_ID, SMTP_CONN_ID, UNSUBSCRIBE_CONN_ID, WAREHOUSE_CONN_ID, Settings
from renewals.pipeline import Resources
from renewals.storage.warehouse import Warehouse

# libpq options a postgres connection's extra may carry through to psycopg.
LIBPQ_EXTRAS = ("sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout", "application_name")


def postgres_dsn(conn_id: str) -> str:
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    extras = {key: value for key, value in conn.extra_dejson.items() if key in LIBPQ_EXTRAS}
    return make_conninfo(
        host=conn.host or "", port=conn.port or "", user=conn.login or "", password=conn.password or "",
        dbname=conn.schema or "", **extras,
    )  # fmt: skip


def warehouse_source(conn_id: str) -> Warehouse:
    """The warehouse behind a connection: a postgres one is read with psycopg (COPY); any other kind
    whose hook is a common.sql DbApiHook through that hook's DB-API connection."""
    from airflow.providers.common.sql.hooks.sql import DbApiHook
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    if conn.conn_type in ("postgres", "postgresql"):
        return Warehouse(dsn=postgres_dsn(conn_id))
    hook = conn.get_hook()
    if not isinstance(hook, DbApiHook):
        raise TypeError(
            f"connection {conn_id!r} is of type {conn.conn_type!r}, whose hook {type(hook).__name__} is not a "
            "common.sql DbApiHook: the warehouse must be a SQL database"
        )
    dialects = tuple(dict.fromkeys(name for name in (conn.conn_type, hook.dialect_name) if name and name != "default"))
    return Warehouse(open_dbapi=hook.get_conn, dialects=dialects, placeholder=hook.placeholder)


def smtp_connect(conn_id: str) -> Callable[[], smtplib.SMTP]:
    """Opens an authenticated SMTP session through the SMTP provider's hook.

    We take the hook's client and send ourselves because the hook's send_email_smtp retries on
    any exception, which could hand the same message over twice.
    """

    def connect() -> smtplib.SMTP:
        from airflow.providers.smtp.hooks.smtp import SmtpHook

        hook = SmtpHook(smtp_conn_id=conn_id)
        try:
            hook.get_conn()
        except OSError:
            raise
        except Exception as exc:  # the hook wraps connection failures in AirflowException
            raise ConnectionError(str(exc)) from exc
        return hook._smtp_client

    return connect


def unsubscribe_secret() -> bytes | None:
    """The secret that signs unsubscribe links: the ``renewals_unsubscribe`` connection's password
    (None when the connection is absent: reminders then carry no List-Unsubscribe)."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException, AirflowRuntimeError

    try:
        password = BaseHook.get_connection(UNSUBSCRIBE_CONN_ID).password
    except (AirflowNotFoundException, AirflowRuntimeError):
        return None
    return password.encode() if password else None


def airflow_resources() -> Resources:
    return Resources(
        warehouse=warehouse_source(WAREHOUSE_CONN_ID),
        ops_dsn=postgres_dsn(OPS_CONN_ID),
        smtp_connect=smtp_connect(SMTP_CONN_ID),
        settings=Settings.from_env(),
        unsubscribe_secret=unsubscribe_secret(),
    )
