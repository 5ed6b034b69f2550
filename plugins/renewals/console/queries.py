"""The console's reads and its one write, on the ops schema (SQL in include/sql/console/)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from datetime import date
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from renewals.config import Settings
from renewals.console.upcoming import member_ahead, upcoming
from renewals.dates import days_to_renewal
from renewals.delivery.render import Renderer
from renewals.playbooks import Playbook
from renewals.reports.summary import run_summary  # the one import of the run summary
from renewals.storage import ledger, suppressions
from renewals.storage.sql_files import WorkTables, sql_text

TIMELINE_LIMIT = 1000
LIST_LIMIT = 500
# The pseudo run id of a verdict given in the console (delivery_attempts.run_id is required).
CONSOLE_RUN_ID = "console"


class NotFound(LookupError):
    """The id names nothing the console knows; the API answers 404 with this message."""


def _rows(ops: psycopg.Connection, name: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    with ops.cursor(row_factory=dict_row) as cur:
        return cur.execute(sql_text(f"console/{name}"), params).fetchall()


# the member's staged row, its contacts, the run that staged them and its staging table
Staged = tuple[dict[str, Any], list[dict[str, Any]], str, sql.Composable]
FACT_COLUMNS = ("account_name", "playbook", "tier", "member_type", "renewal_date", "gate", "amount", "currency",
                "owner_email", "invoice_number")  # fmt: skip


def staged_member(ops: psycopg.Connection, subscription_id: str) -> Staged | None:
    """The member's current facts and contacts from the latest run that staged them, and that run."""
    params = {"subscription_id": subscription_id}
    for run in _rows(ops, "staged_runs.sql", params):
        work = WorkTables(run["run_key"])
        table = work.identifiers()["subscriptions"]
        exists = ops.execute("select to_regclass(%s) is not null", (table.as_string(ops),)).fetchone()[0]
        if not exists:
            continue
        with ops.cursor(row_factory=dict_row) as cur:
            staged = cur.execute(work.statement("console/staged_subscription.sql"), params).fetchone()
            if staged is None:
                continue
            contacts = cur.execute(work.statement("console/staged_contacts.sql"), params).fetchall()
        return staged, contacts, run["run_id"], table
    return None


def member(
    ops: psycopg.Connection,
    subscription_id: str,
    playbooks: Mapping[str, Playbook],
    settings: Settings,
    renderer: Renderer,
    today: date,
) -> dict[str, Any]:
    """Everything the member page shows: facts, contacts, the timeline (newest first) and what
    comes next, with previews."""
    params = {"subscription_id": subscription_id, "limit": TIMELINE_LIMIT}
    cycles = _rows(ops, "cycles.sql", params)
    staged = staged_member(ops, subscription_id)
    timeline = _rows(ops, "timeline.sql", params)
    if not cycles and staged is None and not timeline:
        raise NotFound(f"no member {subscription_id!r}: no run has seen this subscription id")
    facts: dict[str, Any] = {"subscription_id": subscription_id}
    contacts: list[dict[str, Any]] = []
    ahead: list[dict[str, Any]] = []
    if cycles:
        latest = cycles[0]
        facts.update({key: latest[key] for key in FACT_COLUMNS})
    if staged is not None:
        row, contacts, run_id, table = staged
        facts.update({key: row[key] for key in (*FACT_COLUMNS, "paused", "timezone")})
        facts["facts_from_run"] = run_id
        playbook = playbooks.get(row["playbook"])
        if playbook is not None:
            due_rows = member_ahead(ops, table, subscription_id, playbooks, settings, today)
            ahead = upcoming(row, contacts, due_rows, playbook, settings, renderer)
            if ahead:
                facts["gate"] = ahead[0]["gate"]
    if "renewal_date" in facts:
        facts["days_to_renewal"] = days_to_renewal(facts["renewal_date"], today)
    facts["as_of"] = today
    addresses = sorted({suppressions.normalise(c["email"]) for c in contacts if c["email"]})
    suppressed = _rows(ops, "suppressions.sql", {"addresses": addresses}) if addresses else []
    return {"facts": facts, "contacts": contacts, "suppressions": suppressed, "cycles": cycles, "timeline": timeline,
            "upcoming": ahead}  # fmt: skip


def search(ops: psycopg.Connection, q: str, limit: int = 50) -> list[dict[str, Any]]:
    q = q.strip()
    if not q:
        return []
    escaped = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return _rows(ops, "search.sql", {"q": q, "prefix": escaped + "%", "email": q.lower(), "limit": limit})


def run(ops: psycopg.Connection, run_id: str) -> dict[str, Any]:
    """A run's summary, and for a dry run the messages it would have sent, rendered."""
    params = {"run_id": run_id, "limit": LIST_LIMIT}
    found = _rows(ops, "run.sql", params)
    if not found:
        raise NotFound(
            f"no renewals run {run_id!r}: it did not get as far as registering, or is not a renewals_daily run"
        )
    summary = run_summary(ops, run_id)
    return {
        "run": found[0],
        "summary": {
            # not dataclasses.asdict: it rebuilds a Counter from its (key, count) pairs, counting
            # the pairs; and JSON wants string keys
            **{
                name: {_key(k): v for k, v in value.items()} if isinstance(value, dict) else value
                for name, value in ((f.name, getattr(summary, f.name)) for f in fields(summary))
            },
            "failed": [{"touchpoint": tp, "reason": reason} for tp, reason in summary.failed],
            "quarantined": summary.quarantined,
        },
        "quarantine_reasons": _rows(ops, "quarantine_reasons.sql", params),
        "previews": _rows(ops, "run_previews.sql", params) if found[0]["dry_run"] else [],
    }


def _key(key: Any) -> str:
    if isinstance(key, tuple):
        return " / ".join(map(str, key))
    return "" if key is None else str(key)


def unknown_sends(ops: psycopg.Connection) -> list[dict[str, Any]]:
    return _rows(ops, "unknown.sql", {"limit": LIST_LIMIT})


def settle_unknown(ops: psycopg.Connection, subscription_id: str, touchpoint: str, delivered: bool, user: str) -> None:
    """The operator's verdict, exactly as the DAG's confirm_unknown / release_unknown apply it,
    with the operator's name on the audit row."""
    unmatched = ledger.resolve_unknown(ops, CONSOLE_RUN_ID, [f"{subscription_id}/{touchpoint}"], delivered, user)
    if unmatched:
        raise NotFound(f"no unknown send {subscription_id}/{touchpoint}: it is settled already, or never existed")


def quarantine(ops: psycopg.Connection, run_id: str | None = None) -> dict[str, Any]:
    params = {"run_id": run_id, "limit": LIST_LIMIT}
    return {"reasons": _rows(ops, "quarantine_reasons.sql", params), "rows": _rows(ops, "quarantine.sql", params)}
