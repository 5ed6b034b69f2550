"""The outbox's rows written once per run (renewals.outbox_ahead, migration 0017): what the one
rule (renewals.decisions.due) puts ahead for the next weeks, so that a page of the outbox reads an
index instead of computing the rule over every member. Members whose facts changed since (staff
actions, the ledger, answers, reply holds, a one-member run's staging) are recomputed live, so the
outbox agrees with the member page at once."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from renewals.config import Settings
from renewals.console.upcoming import count_answers
from renewals.decisions.due import ahead_query, load_rule_tables
from renewals.playbooks import Playbook
from renewals.storage.db import one_row
from renewals.storage.sql_files import WorkTables, sql_text

AHEAD_DAYS = 45  # how far ahead of its date a run writes the outbox's rows (a month's view and more)
KEY = ("subscription_id", "renewal_date", "touchpoint")
ORDER = sql.SQL(" order by due_date, subscription_id, position, touchpoint")


def write_outbox_ahead(
    ops: psycopg.Connection,
    run_id: str,
    as_of: date,
    staged: sql.Composable,
    playbooks: Mapping[str, Playbook],
    settings: Settings,
) -> int:
    """Replace the outbox's rows with the rule's, as of the run's date ``as_of``, over its staged
    subscriptions ``staged``; older runs' rows go. The number of rows written."""
    last = as_of + timedelta(days=AHEAD_DAYS)
    with ops.transaction():
        ops.execute("delete from renewals.outbox_ahead_runs where run_id = %s or as_of <= %s", (run_id, as_of))
        ops.execute(
            "insert into renewals.outbox_ahead_runs (run_id, as_of, first_day, last_day) values (%s, %s, %s, %s)",
            (run_id, as_of, as_of, last),
        )
        load_rule_tables(ops, staged, playbooks, settings.holidays, settings.teams)
        statement = sql.SQL(sql_text("console/outbox_ahead_write.sql")).format(ahead=ahead_query(staged))
        written = ops.execute(statement, {"run_id": run_id, "as_of": as_of, "first": as_of, "last": last})
        ops.execute("analyze renewals.outbox_ahead")
        return written.rowcount


def written_ahead(ops: psycopg.Connection, run_id: str, today: date, first: date, last: date) -> dict[str, Any] | None:
    """The run's outbox rows if they answer for ``first`` to ``last`` judged on ``today``, else None;
    with when they were written and when the run staged its facts (it started)."""
    with ops.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "select w.*, r.started_at as staged_at"
            " from renewals.outbox_ahead_runs w join renewals.runs r using (run_id)"
            " where w.run_id = %s and w.as_of = %s and w.first_day <= %s and w.last_day >= %s",
            (run_id, today, first, last),
        ).fetchone()


def page_keys(
    ops: psycopg.Connection,
    written: Mapping[str, Any],
    staged: sql.Composable,
    playbooks: Mapping[str, Playbook],
    settings: Settings,
    params: Mapping[str, Any],
) -> tuple[list[tuple[Any, ...]], int]:
    """One page of the outbox's keys in its order, and how many match in all: the run's rows, and
    the rule live over the members whose facts changed since they were written."""
    changed, changed_ahead = sql.Identifier("console_changed"), sql.Identifier("console_changed_ahead")
    with ops.transaction():
        changed_members(ops, changed, staged, written["written_at"], written["staged_at"], params["as_of"])
        load_rule_tables(ops, changed, playbooks, settings.holidays, settings.teams)
        ops.execute(
            sql.SQL("create temp table {} on commit drop as {}").format(changed_ahead, ahead_query(changed)), params
        )
        matching = sql.SQL(sql_text("console/outbox_matching.sql")).format(changed=changed, changed_ahead=changed_ahead)
        params = {**params, "run_id": written["run_id"]}
        (total,) = ops.execute(sql.SQL("select count(*) from ({}) m").format(matching), params).fetchone() or (0,)
        page = sql.SQL(
            "select subscription_id, renewal_date, touchpoint from ({}) m{} limit %(limit)s offset %(offset)s"
        )
        keys = ops.execute(page.format(matching, ORDER), params).fetchall()
    return keys, total


def changed_members(
    ops: psycopg.Connection,
    changed: sql.Identifier,
    staged: sql.Composable,
    written_at: datetime | None,
    staged_at: datetime,
    today: date,
) -> int:
    """The temp table ``changed``: the staged rows (of ``staged``, its run started at ``staged_at``)
    of the members whose facts changed since the outbox's rows were written at ``written_at`` (None:
    none written, so only the staged facts can be stale), as their member page reads them: from a
    later one-member run's staging, with the answers given since. How many there are."""
    created = ops.execute(
        sql.SQL(sql_text("console/outbox_changed_since.sql")).format(changed=changed, staged=staged),
        {"written_at": written_at, "staged_at": staged_at},
    )
    as_member_pages(ops, changed, staged_at, today)
    return created.rowcount


def as_member_pages(ops: psycopg.Connection, members: sql.Identifier, staged_at: datetime, today: date) -> None:
    """Make ``members`` (a temp table of staged rows of the full run started at ``staged_at``) the
    facts their member pages read: a later one-member run's staged row, with the answers given since."""
    restage_member_runs(ops, members, staged_at)
    count_answers(ops, members, today)


def restage_member_runs(ops: psycopg.Connection, members: sql.Identifier, since: datetime) -> None:
    """Replace in ``members`` (a temp table of the latest full run's staged rows) the rows of the
    members a one-member run staged anew since that run started (``since``), by the latest such
    run whose staging is still there, as their member page reads them."""
    runs = ops.execute(sql.SQL(sql_text("console/member_runs_since.sql")).format(members=members), {"since": since})
    for run_key, subscription_id in runs.fetchall():
        staged = WorkTables(run_key).identifiers()["subscriptions"]
        if one_row(ops.execute("select to_regclass(%s) is not null", (staged.as_string(ops),)))[0]:
            ops.execute(
                sql.SQL(sql_text("console/restage_member.sql")).format(members=members, staged=staged),
                {"subscription_id": subscription_id},
            )
