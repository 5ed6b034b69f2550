"""Classify every staged subscription in SQL: due touchpoints, decisions, ledger claims.

Python only supplies the playbooks and the business calendar as small temp tables; the
per-subscription work happens inside Postgres, in the files under include/sql/classify/.
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from datetime import date

import psycopg
from psycopg import sql

from renewals.decisions.due import due_query, load_rule_tables
from renewals.playbooks import Playbook
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
        subscriptions = work.identifiers()["subscriptions"]
        load_rule_tables(ops, subscriptions, playbooks, holidays, team_addresses, approvals)
        ops.execute(
            sql.SQL("create temp table due_touchpoints on commit drop as {}").format(due_query(subscriptions)),
            {**params, "first": window_start, "last": run.as_of},
        )
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
