"""What every sync target has in common: the connection it is on by, what it answers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from renewals.sync.events import Event

WEBHOOK_CONN_ID = "renewals_webhook"
SALESFORCE_CONN_ID = "renewals_salesforce"
HUBSPOT_CONN_ID = "renewals_hubspot"
GITHUB_CONN_ID = "renewals_github"


@dataclass(frozen=True)
class Delivered:
    """The record the target made or updated for an event (when it has one), and our key for it
    (``record_key``: a CTA id, an offboarding), so the console links to it."""

    remote_id: str | None = None
    remote_url: str | None = None
    record_key: str | None = None


class Target(Protocol):
    name: str  # webhook | salesforce | hubspot | github
    kinds: frozenset[str]  # the event kinds it takes

    def deliver(self, event: Event, delivery_id: str) -> Delivered:
        """Write the event; the same call again (a retry) changes nothing more. Raises
        renewals.sync.http.Unavailable (try next run) or Rejected (park it)."""


@dataclass(frozen=True)
class ConnectionInfo:
    """The parts of an Airflow connection a target reads (tests build one directly)."""

    conn_type: str = ""
    host: str = ""
    schema: str = ""
    port: int | None = None
    login: str = ""
    password: str = ""
    extra: Mapping[str, Any] | None = None

    def base_url(self, default_scheme: str = "https") -> str:
        """schema://host:port, as the http provider builds it (a host may carry its scheme)."""
        host = self.host.rstrip("/")
        if "://" not in host:
            host = f"{self.schema or default_scheme}://{host}"
        return f"{host}:{self.port}" if self.port else host


def connection(conn_id: str) -> ConnectionInfo | None:
    """The Airflow connection ``conn_id``, or None when it does not exist (the target is off)."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException, AirflowRuntimeError

    try:
        conn = BaseHook.get_connection(conn_id)
    except (AirflowNotFoundException, AirflowRuntimeError):
        return None
    return ConnectionInfo(
        conn_type=conn.conn_type or "",
        host=conn.host or "",
        schema=conn.schema or "",
        port=conn.port,
        login=conn.login or "",
        password=conn.password or "",
        extra=conn.extra_dejson,
    )
