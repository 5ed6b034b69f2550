"""``python -m bench.console [N]``: the console's member page, search and outbox at N subscriptions.

Builds a throwaway ops database (``renewals_bench_console``) in SQL: N renewal cycles, a year of
ledger (8 rows a subscription, two delivery attempts for half of them), CTAs with events and
tasks and health scores for one in five, quarantine rows, 365 runs, and the latest run's staging
tables (N subscriptions, 2N contacts). Then times ``renewals.console.queries.member`` (what
``GET /renewals/api/members/{id}`` does, without HTTP) and ``search`` for random members, and
shows the member queries' plans, which must use indexes only. With 10,000 staff actions in place
(skips, moves, edits, holds), times the outbox (``queries.outbox``, what ``GET /renewals/api/outbox``
does) over a month: its first page, a later page, and one state across the month, read from the
rows the latest run writes for it, with 100 members each steered, with a ledger change and
answering since (recomputed live). Prints median and worst times.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from contextlib import closing
from datetime import UTC, date, datetime, timedelta

from devenv.postgres import drop_database, ensure_database, ensure_server
from renewals.config import PROJECT_ROOT, Settings
from renewals.console import queries
from renewals.console.outbox import write_outbox_ahead
from renewals.delivery.render import Renderer
from renewals.playbooks import load_playbooks
from renewals.storage.db import connect, one_row
from renewals.storage.migrations import migrate
from renewals.storage.sql_files import WorkTables, sql_text

DATABASE = "renewals_bench_console"
TOUCHPOINTS = [
    "renewal_review",
    "bizdev_outreach",
    "renewal_notice",
    "renewal_confirmation",
    "renewal_reminder_15",
    "risk_cta",
    "renewal_reminder_1",
    "renewal_reminder_0",
]

FILL = """
insert into renewals.runs (run_id, run_key, as_of, dry_run, started_at, classified_at, finished_at)
select 'scheduled__' || d::date, 'k' || to_char(d, 'YYYYMMDD'), d::date, false, d, d, d
from generate_series(now() - interval '364 days', now(), interval '1 day') d;

insert into renewals.renewal_cycles
    (subscription_id, renewal_date, account_id, account_name, playbook, tier, member_type, amount, currency,
     owner_email, gate, first_seen_as_of, changed_as_of, first_run_id, last_run_id)
select 'S-' || lpad(i::text, 7, '0'), current_date + (i %% 365) - 60, 'A-' || i, 'Account ' || md5(i::text),
       'membership', 'standard', 'TC', 1200, 'USD', 'owner@example.org', 'no_response',
       current_date - 300, current_date, 'r', 'r'
from generate_series(1, %(n)s) i;

insert into renewals.touchpoints
    (subscription_id, renewal_date, touchpoint, playbook, channel, cohort, due_date, status, recipients,
     subject, message_id, first_run_id, last_run_id, decided_as_of, attempts, sent_at, updated_at)
select 'S-' || lpad(i::text, 7, '0'), current_date + (i %% 365) - 60, tp, 'membership', 'email', 'upcoming',
       current_date - (i %% 300), 'sent',
       array['primary.' || i || '@members.example.com', 'billing.' || i || '@members.example.com'],
       'Subject ' || i, '<' || md5(i::text || tp) || '@example.org>', 'r', 'r', current_date, 1,
       now() - make_interval(days => i %% 300), now() - make_interval(days => i %% 300)
from generate_series(1, %(n)s) i cross join unnest(%(touchpoints)s::text[]) tp;

insert into renewals.delivery_attempts (subscription_id, renewal_date, touchpoint, run_id, outcome, at)
select 'S-' || lpad(i::text, 7, '0'), current_date + (i %% 365) - 60, tp, 'r', 'sent', now()
from generate_series(1, %(n)s, 2) i cross join unnest(%(touchpoints)s::text[]) tp;

insert into renewals.ctas (cta_id, subscription_id, renewal_date, account_name, playbook, type, stage, priority,
                           owner_team, owner_email, status)
select 'CTA-' || i, 'S-' || lpad(i::text, 7, '0'), current_date + (i %% 365) - 60, 'Account', 'membership',
       'renewal_risk', 'at_risk', 'medium', 'membership_staff', 'm@example.org', 'open'
from generate_series(1, %(n)s, 5) i;
insert into renewals.cta_events (cta_id, run_id, kind, to_value)
select cta_id, 'r', k, 'x' from renewals.ctas cross join unnest(array['opened', 'stage']) k;
insert into renewals.cta_tasks (cta_id, touchpoint, title, assignee_email)
select cta_id, 'risk_cta', 'Call the member', 'm@example.org' from renewals.ctas;
insert into renewals.health_scores (subscription_id, renewal_date, score, label, reason, touchpoint, run_id)
select subscription_id, renewal_date, 40, 'at_risk', 'no response', 'risk_cta', 'r' from renewals.ctas;

-- 10,000 staff actions: a skip, a move or an edit of the next reminder for 7,500 members, 2,500 holds
insert into renewals.touchpoint_overrides
    (subscription_id, renewal_date, touchpoint, skip_reason, move_to, edit_subject, edit_text, updated_by)
select 'S-' || lpad(i::text, 7, '0'), current_date + (i %% 365) - 60, 'renewal_reminder_1',
       case when i %% 3 = 0 then 'bench' end, case when i %% 3 = 1 then current_date + (i %% 30) end,
       case when i %% 3 = 2 then 'Edited ' || i end, case when i %% 3 = 2 then 'Edited text ' || i end, 'bench'
from generate_series(1, %(n)s, greatest(%(n)s / 7500, 1)) i;
insert into renewals.member_holds (subscription_id, held_until, reason, held_by)
-- ends spread over the next 20 days by the hold's number, not by i (at 300k and 1M the step is a
-- multiple of 20: every hold ended on the same day, before any of the month's touchpoints)
select 'S-' || lpad(i::text, 7, '0'), current_date + (i / greatest(%(n)s / 2500, 1)) %% 20, 'bench', 'bench'
from generate_series(2, %(n)s, greatest(%(n)s / 2500, 1)) i
on conflict do nothing;

insert into renewals.quarantine (run_id, as_of, source_table, record_id, subscription_id, reasons, raw)
select 'r', current_date, 'subscriptions', 'S-' || lpad(i::text, 7, '0'), 'S-' || lpad(i::text, 7, '0'),
       array['bad_date'], '{}'::jsonb
from generate_series(1, %(n)s, 100) i;
"""


def build(dsn: str, n: int) -> WorkTables:
    """The ops schema at scale, and the latest run's staging tables."""
    with closing(connect(dsn, autocommit=True)) as ops:
        migrate(ops)
        for statement in filter(str.strip, FILL.split(";\n")):
            ops.execute(statement, {"n": n, "touchpoints": TOUCHPOINTS})
        (run_key,) = ops.execute("select run_key from renewals.runs order by started_at desc limit 1").fetchone()
        work = WorkTables(run_key)
        ops.execute(work.statement("stage/create_work_tables.sql"))
        ids = work.identifiers()
        ops.execute(
            f"""
            insert into {ids["subscriptions"].as_string(ops)}
                (subscription_id, account_id, account_name, playbook, tier, member_type, renewal_date, term_months,
                 amount, currency, owner_email, in_negotiation, hosted_site, paused, timezone, gate,
                 days_to_renewal, cohort, shard, source_id)
            select 'S-' || lpad(i::text, 7, '0'), 'A-' || i, 'Account ' || md5(i::text), 'membership', 'standard',
                   'TC', current_date + (i % 365) - 60, 12, 1200, 'USD', 'owner@example.org', false, false, false,
                   'UTC', 'no_response', (i % 365) - 60, 'upcoming', i % 4, 'S-' || lpad(i::text, 7, '0')
            from generate_series(1, {n}) i
            """
        )
        ops.execute(
            f"""
            insert into {ids["contacts"].as_string(ops)}
            select 'C-' || i || '-' || role, 'S-' || lpad(i::text, 7, '0'), role, initcap(role) || ' ' || i,
                   role || '.' || i || '@members.example.com', false
            from generate_series(1, {n}) i cross join unnest(array['primary', 'billing']) role
            """
        )
        ops.execute(work.statement("stage/index_subscriptions.sql"))
        ops.execute(work.statement("stage/index_contacts.sql"))
        ops.execute("analyze")
        return work


def timed(n: int, runs: int = 30) -> None:
    server = ensure_server(PROJECT_ROOT / ".demo")
    drop_database(server, DATABASE)
    dsn = ensure_database(server, DATABASE)
    try:
        started = time.perf_counter()
        build(dsn, n)
        print(f"built {n:,} subscriptions in {time.perf_counter() - started:.0f} s", flush=True)
        settings = Settings.from_env()
        playbooks, renderer = (
            load_playbooks(settings.playbook_dir, settings.template_dir),
            Renderer(settings.template_dir),
        )
        today = datetime.now(UTC).date()
        rng = random.Random(12)
        with closing(connect(dsn, autocommit=True)) as ops:
            member_ms, search_ms = [], []
            for _ in range(runs):
                subscription_id = f"S-{rng.randint(1, n):07d}"
                t0 = time.perf_counter()
                page = queries.member(ops, subscription_id, playbooks, settings, renderer, today)
                member_ms.append((time.perf_counter() - t0) * 1000)
                assert page["timeline"] and page["facts"]["account_name"], subscription_id
                t0 = time.perf_counter()
                assert queries.search(ops, f"primary.{int(subscription_id[2:])}@members.example.com")
                search_ms.append((time.perf_counter() - t0) * 1000)
            print("plan of the timeline query:")
            for (line,) in ops.execute(
                "explain " + sql_text("console/timeline.sql"), {"subscription_id": "S-0000042", "limit": 1000}
            ):
                if "Scan" in line:
                    print("   ", line.strip())
        print(
            f"member page (queries.member, {runs} random members, {len(page['timeline'])} events and "
            f"{len(page['upcoming'])} previews each): median {statistics.median(member_ms):.1f} ms, "
            f"worst {max(member_ms):.1f} ms"
        )
        print(f"search by contact email: median {statistics.median(search_ms):.1f} ms, worst {max(search_ms):.1f} ms")
        write_ahead(dsn, playbooks, settings)
        outbox_timed(dsn, playbooks, settings, renderer, today)
    finally:
        drop_database(server, DATABASE)


def write_ahead(dsn: str, playbooks: dict, settings: Settings, changed_since: int = 100) -> None:
    """What the publish step of the latest run writes for the outbox (renewals.console.outbox), then
    changes after it whose members the outbox recomputes live: ``changed_since`` staff actions,
    ledger rows and members' answers, each of other members."""
    with closing(connect(dsn, autocommit=True)) as ops:
        run_id, run_key, as_of = one_row(
            ops.execute("select run_id, run_key, as_of from renewals.runs order by started_at desc limit 1")
        )
        started = time.perf_counter()
        rows = write_outbox_ahead(
            ops, run_id, as_of, WorkTables(run_key).identifiers()["subscriptions"], playbooks, settings
        )
        print(f"outbox rows written by the run: {rows:,} in {time.perf_counter() - started:.1f} s", flush=True)
        for statement in filter(str.strip, CHANGES_SINCE.split(";\n")):
            ops.execute(statement, {"n": changed_since})


# After the outbox's rows are written: staff steer some members, a one-member run or a verdict
# changes others' ledger, others answer.
CHANGES_SINCE = """
insert into renewals.staff_actions (subscription_id, action, reason, actor)
select subscription_id, 'note', 'bench', 'bench' from renewals.touchpoint_overrides
order by subscription_id limit %(n)s;

update renewals.touchpoints set updated_at = now()
where subscription_id in (
    select subscription_id from renewals.renewal_cycles order by subscription_id desc limit %(n)s);

insert into renewals.member_answers
    (subscription_id, renewal_date, answer, recipient, touchpoint, sent_on, token_digest)
select subscription_id, renewal_date, 'intent', 'bench@example.org', 'renewal_notice', current_date,
       md5(subscription_id)
from renewals.renewal_cycles
order by subscription_id offset %(n)s limit %(n)s
"""


def outbox_timed(dsn: str, playbooks: dict, settings: Settings, renderer: Renderer, today: date, runs: int = 5) -> None:
    """The outbox over a month: its first page, a page further on, and the held ones only."""
    last = today + timedelta(days=30)
    cases = {"first page": ({}, 0), "page 100": ({}, 99 * 50), "state=held": ({"state": "held"}, 0)}
    with closing(connect(dsn, autocommit=True)) as ops:
        for name, (filters, offset) in cases.items():
            times = []
            for _ in range(runs):
                t0 = time.perf_counter()
                page = queries.outbox(ops, playbooks, settings, renderer, today, today, last, filters, 50, offset)
                times.append((time.perf_counter() - t0) * 1000)
            print(
                f"outbox {today}..{last}, {name}: {page['total']:,} in all, {len(page['items'])} shown: "
                f"median {statistics.median(times):.0f} ms, worst {max(times):.0f} ms",
                flush=True,
            )


if __name__ == "__main__":
    timed(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
