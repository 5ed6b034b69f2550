"""The one rule of what is due and applies (include/sql/rule/due_touchpoints.sql), and the small
temp tables it reads: the playbooks and the business calendar.

Classification (the days a run looks back over), the spreadsheet's forecast, the console's outbox
and a member's "what comes next" all ask :func:`due_query`; none decides what is due on its own.
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from datetime import date

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from renewals.decisions.dates import months_between, notice_day
from renewals.playbooks import Playbook, Touchpoint
from renewals.playbooks.model import OFFBOARDING_GROUP, OWNER
from renewals.storage.db import one_row
from renewals.storage.sql_files import sql_text

RENEWAL_MONTHS = "select min(renewal_date), max(renewal_date) from {} s"  # a table or a subquery
# the temp table touchpoint_defs: the playbooks' touchpoints, as the rule reads them
TOUCHPOINT_DEFS = """playbook text, touchpoint text, position int, sequence text, channel text,
    anchor text, days int, months_before int, gates text[], roles text[],
    staff text[], to_owner boolean, offboarding_group boolean, cc text[], cc_owner boolean,
    tiers text[], member_types text[], hosted_site boolean, contact_logged boolean, engaged boolean,
    needs_approval boolean, audience text, is_reminder boolean"""
TOUCHPOINT_DEF_NAMES = [column.split()[0] for column in TOUCHPOINT_DEFS.split(",")]


def due_query(subscriptions: sql.Composable) -> sql.Composed:
    """The rule over the staged subscriptions table ``subscriptions``: parameters ``first`` and
    ``last`` (the days, inclusive) and ``as_of`` (the day it is judged on)."""
    return sql.SQL(sql_text("rule/due_touchpoints.sql")).format(subscriptions=subscriptions)


def ahead_query(subscriptions: sql.Composable) -> sql.Composed:
    """The rule's touchpoints still ahead (include/sql/rule/ahead.sql), same parameters."""
    return sql.SQL(sql_text("rule/ahead.sql")).format(due=due_query(subscriptions))


def load_rule_tables(
    ops: psycopg.Connection,
    subscriptions: sql.Composable,
    playbooks: Mapping[str, Playbook],
    holidays: Container[date],
    team_addresses: Mapping[str, str] | None = None,
    approvals: frozenset[str] = frozenset(),
) -> None:
    """The temp tables the rule needs (dropped at commit: call it in a transaction), for the
    renewal months of ``subscriptions``."""
    load_touchpoint_defs(ops, playbooks, team_addresses or {}, approvals)
    load_notice_days(ops, sql.SQL(RENEWAL_MONTHS).format(subscriptions), playbooks, holidays)


def audience(touchpoint: Touchpoint) -> str | None:
    """Who a touchpoint goes to, in words (the spreadsheet's and the outbox's column)."""
    words = ", ".join([*touchpoint.to, *touchpoint.to_staff])
    if touchpoint.cc_teams:
        words += f" (cc {', '.join(touchpoint.cc_teams)})"
    return words or None


def load_touchpoint_defs(
    ops: psycopg.Connection,
    playbooks: Mapping[str, Playbook],
    team_addresses: Mapping[str, str],
    approvals: frozenset[str] = frozenset(),
) -> None:
    """The playbooks as a temp table; ``needs_approval`` only where approvals are on for the playbook."""
    rows = [
        (
            playbook.name,
            tp.key,
            tp.position,
            tp.sequence,
            tp.channel,
            tp.due.anchor,
            tp.due.days,
            tp.due.months_before,
            list(tp.gates),
            list(tp.to),
            [team_addresses[team] for team in tp.to_staff if team in team_addresses],
            OWNER in tp.to_staff,
            OFFBOARDING_GROUP in tp.to_staff,
            [team_addresses[team] for team in tp.cc_teams if team in team_addresses],
            tp.cc_owner,
            optional_list(tp.when.tiers),
            optional_list(tp.when.member_types),
            tp.when.hosted_site,
            tp.when.contact_logged,
            tp.when.engaged,
            tp.needs_approval and playbook.name in approvals,
            audience(tp),
            tp.is_reminder,
        )
        for playbook in playbooks.values()
        for tp in playbook.touchpoints
    ]
    # One JSON parameter (dumped in C), not a COPY: psycopg's array dumper is pure Python, and this
    # table is loaded on every member page and outbox page.
    ops.execute(
        sql.SQL(
            "create temp table touchpoint_defs on commit drop as select * from jsonb_to_recordset(%s) as d({})"
        ).format(sql.SQL(TOUCHPOINT_DEFS)),
        (Jsonb([dict(zip(TOUCHPOINT_DEF_NAMES, row, strict=True)) for row in rows]),),
    )


def optional_list(values: tuple[str, ...] | None) -> list[str] | None:
    """A playbook's optional tuple as a SQL array parameter (None stays null)."""
    return list(values) if values is not None else None


def load_notice_days(
    ops: psycopg.Connection,
    renewal_months_query: sql.Composed,
    playbooks: Mapping[str, Playbook],
    holidays: Container[date],
    table: str = "notice_days",
) -> None:
    """The temp table ``table``: the notice day of every renewal month present (the query gives
    the first and last), computed by renewals.decisions.dates."""
    name = sql.Identifier(table)
    ops.execute(
        sql.SQL("create temp table {} (renewal_month date, months_before int, notice_day date) on commit drop").format(
            name
        )
    )
    offsets = {
        tp.due.months_before
        for playbook in playbooks.values()
        for tp in playbook.touchpoints
        if tp.due.anchor == "notice_month"
    }
    first, last = one_row(ops.execute(renewal_months_query))
    if not offsets or first is None:
        return
    with ops.cursor().copy(sql.SQL("copy {} from stdin").format(name)) as copy:
        for month in months_between(first, last):
            for months_before in offsets:
                copy.write_row((month, months_before, notice_day(month, months_before, holidays)))
