"""The console's reads and its one write, on the ops schema (SQL in include/sql/console/)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import fields
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from renewals.config import Settings
from renewals.console import steering
from renewals.console.outbox import KEY, as_member_pages, changed_members, page_keys, written_ahead
from renewals.console.upcoming import brief_preview, member_ahead, recipients_of, upcoming
from renewals.decisions.dates import days_to_renewal
from renewals.decisions.due import ahead_query, load_rule_tables
from renewals.delivery.render import Renderer
from renewals.delivery.shard_delivery import Composer, Edit
from renewals.playbooks import Playbook
from renewals.reports.summary import run_summary  # the one import of the run summary
from renewals.storage import ledger, suppressions
from renewals.storage.db import one_row
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
FACT_COLUMNS = (
    "account_name",
    "playbook",
    "tier",
    "member_type",
    "renewal_date",
    "gate",
    "amount",
    "currency",
    "owner_email",
    "invoice_number",
)


def _staged_tables(ops: psycopg.Connection, subscription_id: str | None) -> Iterator[tuple[dict[str, Any], WorkTables]]:
    """The latest runs (of the member, or of everyone) whose staging tables are still there, newest first."""
    for run in _rows(ops, "staged_runs.sql", {"subscription_id": subscription_id}):
        work = WorkTables(run["run_key"])
        table = work.identifiers()["subscriptions"]
        if one_row(ops.execute("select to_regclass(%s) is not null", (table.as_string(ops),)))[0]:
            yield run, work


def staged_member(ops: psycopg.Connection, subscription_id: str) -> Staged | None:
    """The member's current facts and contacts from the latest run that staged them, and that run."""
    params = {"subscription_id": subscription_id}
    for run, work in _staged_tables(ops, subscription_id):
        table = work.identifiers()["subscriptions"]
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
            # the member's own playbook only: a quarter of the rule's targets
            due_rows = member_ahead(ops, table, subscription_id, {playbook.name: playbook}, settings, today)
            ahead = upcoming(row, contacts, due_rows, playbook, settings, renderer)
            if ahead:
                facts["gate"] = ahead[0]["gate"]
    if "renewal_date" in facts:
        facts["days_to_renewal"] = days_to_renewal(facts["renewal_date"], today)
    facts["as_of"] = today
    facts["hold"] = steering.current_hold(ops, subscription_id)
    addresses = sorted({suppressions.normalise(c["email"]) for c in contacts if c["email"]})
    suppressed = _rows(ops, "suppressions.sql", {"addresses": addresses}) if addresses else []
    held = _rows(ops, "reply_hold.sql", params)
    return {
        "facts": facts,
        "contacts": contacts,
        "suppressions": suppressed,
        "cycles": cycles,
        "timeline": timeline,
        "upcoming": ahead,
        "reply_hold": held[0] if held else None,
    }


def search(ops: psycopg.Connection, q: str, limit: int = 50, by_contacts: bool = True) -> list[dict[str, Any]]:
    """Members by the start of their subscription id, the start of the account name, and (with
    ``by_contacts``) a contact's email, or part of a contact's name or email."""
    q = q.strip()
    if not q:
        return []
    escaped = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    contacts = staged_contact_hits(ops, f"%{escaped}%") if by_contacts else []
    params = {
        "id_prefix": escaped.upper() + "%",
        "prefix": escaped + "%",
        "email": q.lower() if by_contacts else "",
        "contact_ids": [hit["subscription_id"] for hit in contacts],
        "contact_matched": [hit["matched"] for hit in contacts],
        "limit": limit,
    }
    return _rows(ops, "search.sql", params)


def staged_contact_hits(ops: psycopg.Connection, contains: str) -> list[dict[str, Any]]:
    """Contacts whose name or email contains the pattern, in the latest full run's staging."""
    for run in _rows(ops, "staged_runs.sql", {"subscription_id": None}):
        work = WorkTables(run["run_key"])
        table = work.identifiers()["contacts"]
        if one_row(ops.execute("select to_regclass(%s) is not null", (table.as_string(ops),)))[0]:
            with ops.cursor(row_factory=dict_row) as cur:
                return cur.execute(work.statement("console/search_contacts.sql"), {"contains": contains}).fetchall()
    return []


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


def settle_unknown(
    ops: psycopg.Connection, subscription_id: str, touchpoint: str, renewal_date: date, delivered: bool, user: str
) -> None:
    """The operator's verdict on the send of one renewal cycle, as the DAG's confirm_unknown /
    release_unknown apply it, with the operator's name on the audit row."""
    if not ledger.settle_unknown_send(ops, CONSOLE_RUN_ID, subscription_id, touchpoint, delivered, user, renewal_date):
        raise NotFound(
            f"no unknown send {subscription_id}/{touchpoint} of the renewal of {renewal_date.isoformat()}: "
            "it is settled already, or never existed"
        )


def quarantine(ops: psycopg.Connection, run_id: str | None = None) -> dict[str, Any]:
    params = {"run_id": run_id, "limit": LIST_LIMIT}
    return {"reasons": _rows(ops, "quarantine_reasons.sql", params), "rows": _rows(ops, "quarantine.sql", params)}


OUTBOX_FILTERS = ("playbook", "touchpoint", "state", "owner", "team")
PREVIEW_CHARS = 240


def outbox(
    ops: psycopg.Connection,
    playbooks: Mapping[str, Playbook],
    settings: Settings,
    renderer: Renderer,
    today: date,
    first: date,
    last: date,
    filters: Mapping[str, str | None],
    limit: int,
    offset: int = 0,
) -> dict[str, Any]:
    """What goes out from ``first`` to ``last`` across members (the rule over the latest run's
    staged subscriptions, judged as of ``today``), one page, each with its recipients, subject
    and a preview of its text as it would be sent."""
    page: dict[str, Any] = {
        "from": first,
        "to": last,
        "as_of": today,
        "limit": limit,
        "offset": offset,
        "filters": {k: v for k, v in filters.items() if v is not None},
    }
    staged = next(_staged_tables(ops, None), None)
    if staged is None:
        return {**page, "total": 0, "items": [], "facts_from_run": None}
    run, work = staged
    tables = work.identifiers()
    params = {
        "first": first,
        "last": last,
        "as_of": today,
        "limit": limit,
        "offset": offset,
        **{name: filters.get(name) for name in OUTBOX_FILTERS},
    }
    written = written_ahead(ops, run["run_id"], today, first, last)
    if written is None:
        steered_only = filters.get("state") not in (None, "scheduled")
        rows = _live_rows(ops, tables["subscriptions"], run["started_at"], playbooks, settings, params, steered_only)
        total = rows[0]["total"] if rows else 0
    else:
        keys, total = page_keys(ops, written, tables["subscriptions"], playbooks, settings, params)
        rows = _page_rows(ops, tables["subscriptions"], keys, playbooks, settings, params, written["staged_at"])
    contacts: dict[str, list[dict[str, Any]]] = {}
    ids = sorted({row["subscription_id"] for row in rows})
    if ids:
        with ops.cursor(row_factory=dict_row) as cur:
            found = cur.execute(
                sql.SQL("select * from {} where subscription_id = any(%s) order by contact_id").format(
                    tables["contacts"]
                ),
                (ids,),
            )
            for contact in found:
                contacts.setdefault(contact["subscription_id"], []).append(contact)
    items = [_outbox_item(row, contacts.get(row["subscription_id"], []), playbooks, settings, renderer) for row in rows]
    return {**page, "total": total, "items": items, "facts_from_run": run["run_id"]}


def _live_rows(
    ops: psycopg.Connection,
    staged: sql.Composable,
    staged_at: datetime,
    playbooks: Mapping[str, Playbook],
    settings: Settings,
    params: Mapping[str, Any],
    steered_only: bool,
) -> list[dict[str, Any]]:
    """The rule live over every staged member (their run started at ``staged_at``), one page with
    its total; the members whose staged facts changed since (answers, a later one-member run) as
    their member page reads them."""
    fresh = sql.Identifier("console_fresh")
    with ops.transaction():
        if changed_members(ops, fresh, staged, None, staged_at, params["as_of"]):
            staged = sql.SQL(sql_text("console/fresh_staged.sql")).format(staged=staged, fresh=fresh)
        return _outbox_rows(ops, staged, staged, playbooks, settings, params, steered_only)


def _outbox_rows(
    ops: psycopg.Connection,
    subscriptions: sql.Composable,
    staged: sql.Composable,
    playbooks: Mapping[str, Playbook],
    settings: Settings,
    params: Mapping[str, Any],
    steered_only: bool = False,
) -> list[dict[str, Any]]:
    """The rule live over ``subscriptions`` (staged rows), one page of the outbox with its total."""
    with ops.transaction(), ops.cursor(row_factory=dict_row) as cur:
        if steered_only:
            # only members staff steered can be held, skipped, moved or edited: the rule over them
            # alone (their staged rows by key), not over everyone
            subscriptions = sql.Identifier("console_steered")
            cur.execute(sql.SQL(sql_text("console/steered.sql")).format(steered=subscriptions, staged=staged))
        load_rule_tables(ops, subscriptions, playbooks, settings.holidays, settings.teams)
        query = sql.SQL(sql_text("console/outbox.sql")).format(ahead=ahead_query(subscriptions), subscriptions=staged)
        return cur.execute(query, params).fetchall()


def _page_rows(
    ops: psycopg.Connection,
    staged: sql.Composable,
    keys: list[tuple[Any, ...]],
    playbooks: Mapping[str, Playbook],
    settings: Settings,
    params: Mapping[str, Any],
    staged_at: datetime,
) -> list[dict[str, Any]]:
    """The rule's whole rows of one page's keys, live over the page's members only (with their
    facts as the page's keys count them: of a later one-member run, and the answers given since
    the run that staged them started at ``staged_at``)."""
    if not keys:
        return []
    members = sql.Identifier("console_page")
    with ops.transaction():
        ops.execute(
            sql.SQL("create temp table {} on commit drop as select * from {} where subscription_id = any(%s)").format(
                members, staged
            ),
            (sorted({key[0] for key in keys}),),
        )
        as_member_pages(ops, members, staged_at, params["as_of"])
        found = _outbox_rows(ops, members, members, playbooks, settings, {**params, "limit": None, "offset": 0})
    by_key = {tuple(row[column] for column in KEY): row for row in found}
    return [by_key[key] for key in keys if key in by_key]


def _outbox_item(
    row: dict[str, Any],
    contacts: list[dict[str, Any]],
    playbooks: Mapping[str, Playbook],
    settings: Settings,
    renderer: Renderer,
) -> dict[str, Any]:
    touchpoint = playbooks[row["playbook"]].touchpoint(row["touchpoint"])
    recipients = recipients_of(touchpoint, row, contacts, settings)
    item = {
        key: row[key]
        for key in (
            "subscription_id",
            "account_name",
            "playbook",
            "renewal_date",
            "touchpoint",
            "channel",
            "due_date",
            "playbook_due_date",
            "state",
            "owner_email",
            "audience",
            "skip_reason",
            "move_to",
            "held_until",
            "hold_reason",
            "held",
            "replied",
        )
    }
    item.update(recipients=recipients, subject=None, preview=None)
    if touchpoint.channel in ("email", "staff_email") and touchpoint.template is not None and recipients:
        composer = Composer(settings, renderer, row["due_date"])
        message = brief_preview(touchpoint, row, contacts, recipients, composer, Edit.of(row))
        item["subject"] = message["subject"]
        item["preview"] = {"subject": message["subject"], "text": _snippet(message["body"]), "cc": message["cc"]}
    elif touchpoint.cta is not None:
        item["subject"] = f"CTA {touchpoint.cta.type}: {touchpoint.cta.stage} ({touchpoint.cta.priority})"
    return item


def _snippet(text: str) -> str:
    words = " ".join(text.split())
    return words if len(words) <= PREVIEW_CHARS else words[: PREVIEW_CHARS - 1].rstrip() + "…"
