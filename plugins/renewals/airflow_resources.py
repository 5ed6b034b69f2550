"""Where the pipeline's resources come from inside Airflow: the four connections of the
contract (settable as AIRFLOW_CONN_<ID> environment variables) and the settings."""

from __future__ import annotations

import imaplib
import importlib.util
import json
import smtplib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

from airflow.sdk.exceptions import AirflowFailException
from psycopg.conninfo import make_conninfo

from renewals.config import (
    INBOX_CONN_ID,
    OPS_CONN_ID,
    SMTP_CONN_ID,
    UNSUBSCRIBE_CONN_ID,
    WAREHOUSE_CONN_ID,
    ConfigError,
    Settings,
)
from renewals.delivery import unsubscribe
from renewals.pipeline import Resources
from renewals.storage.warehouse import Warehouse

# libpq options a postgres connection's extra may carry through to psycopg.
LIBPQ_EXTRAS = ("sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout", "application_name")


def postgres_dsn(conn_id: str) -> str:
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    extras = {key: value for key, value in conn.extra_dejson.items() if key in LIBPQ_EXTRAS}
    return make_conninfo(
        host=conn.host or "",
        port=conn.port or "",
        user=conn.login or "",
        password=conn.password or "",
        dbname=conn.schema or "",
        **extras,
    )


def warehouse_source(conn_id: str) -> Warehouse:
    """The warehouse behind a connection: a postgres one is read with psycopg (COPY); any other kind
    whose hook is a common.sql DbApiHook through that hook's DB-API connection."""
    from airflow.providers.common.sql.hooks.sql import DbApiHook
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    if conn.conn_type in ("postgres", "postgresql"):
        return Warehouse(dsn=postgres_dsn(conn_id))
    hook_params = None
    if conn.conn_type == "mysql" and "client" not in conn.extra_dejson and not _installed("MySQLdb"):
        # The provider's default client, mysqlclient, is a C build the lock leaves out (Makefile:
        # install); a connection that names no client is read with the one installed.
        conn.extra = json.dumps({**conn.extra_dejson, "client": "mysql-connector-python"})
        hook_params = {"connection": conn}
    hook = conn.get_hook(hook_params=hook_params)
    if not isinstance(hook, DbApiHook):
        raise TypeError(
            f"connection {conn_id!r} is of type {conn.conn_type!r}, whose hook {type(hook).__name__} is not a "
            "common.sql DbApiHook: the warehouse must be a SQL database"
        )
    dialects = tuple(dict.fromkeys(name for name in (conn.conn_type, hook.dialect_name) if name and name != "default"))
    return Warehouse(open_dbapi=hook.get_conn, dialects=dialects, placeholder=hook.placeholder)


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


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
        client = hook._smtp_client
        if not isinstance(client, smtplib.SMTP):  # the hook's async client is never asked for here
            raise ConnectionError(f"the SMTP hook opened no smtplib session ({type(client).__name__})")
        return client

    return connect


def unsubscribe_secrets() -> tuple[bytes, ...]:
    """The secrets of unsubscribe links, newest first: the ``renewals_unsubscribe`` connection's
    password signs them; its extra's ``previous_password``, set while a secret is rotated, still
    reads the links signed before. Empty when the connection is absent (reminders then carry no
    List-Unsubscribe); a secret too short to sign with is refused, naming the connection."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException, AirflowRuntimeError

    try:
        conn = BaseHook.get_connection(UNSUBSCRIBE_CONN_ID)
    except (AirflowNotFoundException, AirflowRuntimeError):
        return ()
    if not conn.password:
        return ()
    named = {"password": conn.password, "previous_password": conn.extra_dejson.get("previous_password")}
    for field, value in named.items():
        why = value and unsubscribe.weak_secret(value.encode())
        if why:
            raise ConfigError(f"connection {UNSUBSCRIBE_CONN_ID!r}: its {field} {why}")
    return tuple(value.encode() for value in named.values() if value)


def unsubscribe_secret() -> bytes | None:
    """The secret that signs new unsubscribe links (None: no connection)."""
    secrets = unsubscribe_secrets()
    return secrets[0] if secrets else None


class SetupRefused(AirflowFailException):
    """A setting or connection the pipeline cannot work with: the task fails at once with the
    message naming it, without retries (a retry would meet the same setup)."""


def inbox_session(conn_id: str) -> Callable[[], AbstractContextManager[imaplib.IMAP4]] | None:
    """Opens a logged-in IMAP session through the imap provider's hook (TLS, or plain with
    ``"use_ssl": false`` in the connection's extra); None when the connection is absent."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException, AirflowRuntimeError

    try:
        BaseHook.get_connection(conn_id)
    except (AirflowNotFoundException, AirflowRuntimeError):
        return None

    @contextmanager
    def session() -> Iterator[imaplib.IMAP4]:
        from airflow.providers.imap.hooks.imap import ImapHook

        with ImapHook(imap_conn_id=conn_id) as hook:  # logs out on leaving
            assert hook.mail_client is not None
            yield hook.mail_client

    return session


def airflow_resources() -> Resources:
    """The resources of a task; its first, prepare_run, refuses a setup the run cannot work with."""
    try:
        settings = Settings.from_env()
        secret = unsubscribe_secret()
        if settings.list_unsubscribe and secret is None:
            raise ConfigError(
                f"RENEWALS_LIST_UNSUBSCRIBE is on but there is no connection {UNSUBSCRIBE_CONN_ID!r} with a "
                "password to sign the links: reminders would go out without the List-Unsubscribe headers bulk "
                "senders must carry. Add the connection (a password of at least 32 random bytes) or set "
                "RENEWALS_LIST_UNSUBSCRIBE=false"
            )
    except ConfigError as exc:
        raise SetupRefused(str(exc)) from exc
    return Resources(
        warehouse=warehouse_source(WAREHOUSE_CONN_ID),
        ops_dsn=postgres_dsn(OPS_CONN_ID),
        smtp_connect=smtp_connect(SMTP_CONN_ID),
        settings=settings,
        unsubscribe_secret=secret,
        inbox=inbox_session(INBOX_CONN_ID),
    )
