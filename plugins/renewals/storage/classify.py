"""Classify every staged subscription in SQL: due touchpoints, decisions, ledger claims.

Python only supplies the playbooks and the business calendar as small temp tables; the
per-subscription work happens inside Postgres, in the files under include/sql/classify/.
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from datetime import date

import psycopg
from psycopg import sql

from renewals.dates import months_between, notice_day
from renewals.playbooks import Playbook
from renewals.playbooks.model import OFFBOARDING_GROUP, OWNER
from renewals.storage.runs import RunContext, lookback_start


def classify(
    ops: psycopg.Connection,
    run: RunContext,
    playbooks: Mapping[str, Playbook],
    team_addresses: Mapping[str, str],
    catch_up_days: int,
    holidays: Container[date],
    approvals: frozenset[str] = frozenset(),
) -> dict[str, dict[int, int]]:
    """Decide today's touchpoints for the run's subscriptions; returns open work by cohort and shard."""
    work = run.work
    with ops.transaction():
        # No JIT (its compile time exceeds what it saves on these plans) and room for the sorts
        # and hashes over every staged subscription, for this transaction only.
        ops.execute("set local jit = off")
        ops.execute("set local work_mem = '128MB'")
        window_start = lookback_start(ops, run, catch_up_days)
        params = {
            "run_id": run.run_id,
            "as_of": run.as_of,
            "dry_run": run.dry_run,
            "window_start": window_start,
            "catch_up_days": catch_up_days,
            "offboarding_tc": team_addresses["offboarding_tc"],
            "offboarding_op": team_addresses["offboarding_op"],
        }
        load_touchpoint_defs(ops, playbooks, team_addresses, approvals)
        load_notice_days(ops, work.statement("classify/renewal_months.sql"), playbooks, holidays)
        ops.execute(work.statement("classify/due_touchpoints.sql"), params)
        ops.execute("analyze due_touchpoints")  # temp tables get no statistics unless asked
        ops.execute(work.statement("classify/decide.sql"), params)
        ops.execute("analyze decided")  # the sweep's anti-join must hash it, not loop over it
        # A retried classification replaces the decision log rows of its earlier attempt.
        ops.execute("delete from renewals.decisions where run_id = %s", (run.run_id,))
        ops.execute(work.statement("classify/record_ledger.sql"), params)
        if not run.dry_run:
            ops.execute(work.statement("classify/sweep_pending.sql"), params)
        ops.execute(work.statement("classify/record_decisions.sql"), params)
        ops.execute("update renewals.runs set classified_at = now() where run_id = %s", (run.run_id,))
        rows = ops.execute(work.statement("classify/open_work_by_cohort.sql"), params).fetchall()
    open_work: dict[str, dict[int, int]] = {}
    for cohort, shard, count in rows:
        open_work.setdefault(cohort, {})[shard] = count
    return open_work


def load_touchpoint_defs(
    ops: psycopg.Connection,
    playbooks: Mapping[str, Playbook],
    team_addresses: Mapping[str, str],
    approvals: frozenset[str] = frozenset(),
) -> None:
    """The playbooks as a temp table; ``needs_approval`` only where approvals are on for the playbook."""
    ops.execute(
        """
        create temp table touchpoint_defs (
            playbook text, touchpoint text, position int, sequence text, channel text,
            anchor text, days int, months_before int, gates text[], roles text[],
            staff text[], to_owner boolean, offboarding_group boolean, cc text[], cc_owner boolean,
            tiers text[], member_types text[], hosted_site boolean, contact_logged boolean, engaged boolean,
            needs_approval boolean
        ) on commit drop
        """
    )
    with ops.cursor().copy("copy touchpoint_defs from stdin") as copy:
        for playbook in playbooks.values():
            for tp in playbook.touchpoints:
                copy.write_row((
                    playbook.name, tp.key, tp.position, tp.sequence, tp.channel, tp.due.anchor,
                    tp.due.days, tp.due.months_before, list(tp.gates), list(tp.to),
                    [team_addresses[team] for team in tp.to_staff if team in team_addresses],
                    OWNER in tp.to_staff, OFFBOARDING_GROUP in tp.to_staff,
                    [team_addresses[team] for team in tp.cc_teams], tp.cc_owner,
                    optional_list(tp.when.tiers), optional_list(tp.when.member_types), tp.when.hosted_site,
                    tp.when.contact_logged, tp.when.engaged, tp.needs_approval and playbook.name in approvals,
                ))  # fmt: skip


def optional_list(values: tuple[str, ...] | None) -> list[str] | None:
    """A playbook's optional tuple as a SQL array parameter (None stays null)."""
    return list(values) if values is not None else None


def load_notice_days(
    ops: psycopg.Connection,
    renewal_months_query: sql.Composable,
    playbooks: Mapping[str, Playbook],
    holidays: Container[date],
    table: str = "notice_days",
) -> None:
    """The temp table ``table``: the notice day of every renewal month present (the query gives
    the first and last), computed by renewals.dates."""
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
    first, last = ops.execute(renewal_months_query).fetchone()
    if not offsets or first is None:
        return
    with ops.cursor().copy(sql.SQL("copy {} from stdin").format(name)) as copy:
        for month in months_between(first, last):
            for months_before in offsets:
                copy.write_row((month, months_before, notice_day(month, months_before, holidays)))
