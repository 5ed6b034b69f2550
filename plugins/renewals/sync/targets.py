"""What every sync target has in common: the connection it is on by, what it answers."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable

from renewals.sync.events import Event

WEBHOOK_CONN_ID = "renewals_webhook"
SALESFORCE_CONN_ID = "renewals_salesforce"
HUBSPOT_CONN_ID = "renewals_hubspot"
GITHUB_CONN_ID = "renewals_github"

R = TypeVar("R")


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


Outcome = Delivered | Exception | None  # of one event in a batch call; None: not in this call


@runtime_checkable
class BatchTarget(Target, Protocol):
    """A target whose API writes many records in one call (Salesforce's sObject Collections,
    HubSpot's batch upsert): one HTTP call per batch instead of one per event."""

    batch_size: int  # the most events one call takes (the vendor's limit)

    def deliver_batch(self, batch: Sequence[tuple[Event, str]]) -> list[Outcome]:
        """Write events of ``batch`` (event, delivery id, oldest first) in one call, the first of
        them always (see :func:`one_call`). Returns what became of each, in the batch's order:
        Delivered, the exception that parks that event alone (Rejected: the vendor refused that
        record), or None for an event left for a later call. Raises Unavailable: every event
        waits for the next run."""


def one_call(
    batch: Sequence[tuple[Event, str]], limit: int, record: Callable[[Event], tuple[str, str, R]]
) -> tuple[str, dict[int, tuple[str, R]]] | Exception:
    """The events of ``batch`` one call takes: up to ``limit`` whose record (``record(event)``:
    its type, our key for it, what the call sends) is of the first event's type and named by no
    earlier one taken, so a record's later change waits for the next call and is written after the
    earlier. Returns that type and, by position in the batch, (key, what record() made); or the
    exception of a first event that cannot be a record (it is parked alone; a later one that cannot
    waits until it is first)."""
    record_type, taken, keys = "", dict[int, tuple[str, R]](), set[str]()
    for position, (event, _) in enumerate(batch):
        try:
            event_type, key, made = record(event)
        except Exception as exc:
            if position == 0:
                return exc
            continue
        if position == 0:
            record_type = event_type
        if event_type != record_type or key in keys:
            continue
        taken[position] = (key, made)
        keys.add(key)
        if len(taken) == limit:
            break
    return record_type, taken


def upsert_in_one_call(
    batch: Sequence[tuple[Event, str]],
    limit: int,
    record: Callable[[Event], tuple[str, str, R]],
    upsert: Callable[[str, dict[str, R]], list[Delivered | Exception]],
) -> list[Outcome]:
    """A batch target's ``deliver_batch``: the events :func:`one_call` takes, written by
    ``upsert(record type, {our key: what record() made})`` (its outcomes in the same order)."""
    chosen = one_call(batch, limit, record)
    if isinstance(chosen, Exception):  # the first event cannot be a record: parked alone
        return [chosen]
    record_type, taken = chosen
    outcomes = dict(zip(taken, upsert(record_type, dict(taken.values())), strict=True))
    return [outcomes.get(position) for position in range(len(batch))]


def deliver_one(target: BatchTarget, event: Event, delivery_id: str) -> Delivered:
    """A batch target's ``deliver``: a batch of one."""
    (outcome,) = target.deliver_batch([(event, delivery_id)])
    if isinstance(outcome, Exception):
        raise outcome
    assert outcome is not None  # the first event of a batch is always in its call
    return outcome


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
