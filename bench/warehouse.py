"""The benchmark's warehouse: N synthetic subscriptions generated inside PostgreSQL.

One INSERT ... SELECT over ``generate_series`` per table, with draws from ``hashint8extended`` (no
``random()``), so the same N and as-of date always give the same rows. Same tables as
include/sql/warehouse/schema.sql. Renewal dates are spread evenly over two years around the as-of
date and the gates follow the renewal date (far renewals mostly without response, past ones mostly
paid or declined), so that a day has a realistic share of due touchpoints (about 1-3 %).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import psycopg
from psycopg import sql

from devenv.demo_data import SCHEMA_SQL, insert_contacts_sql, insert_subscriptions_sql

# u(k): a uniform draw in [0, 1) for the row n and the draw number k.
_U = "((hashint8extended(g.n, {k}) & 9223372036854775807)::float8 / 9223372036854775807.0)"

_DRAWS = """
create unlogged table bench_draws as
select g.n,
       'S-' || lpad(g.n::text, 7, '0') as subscription_id,
       ceil(g.n * 0.9)::bigint as account_number,
       {u1} as r_playbook, {u2} as r_days, {u3} as r_tier, {u4} as r_member_type, {u5} as r_gate,
       {u6} as r_gate_at, {u7} as r_also_intent, {u8} as r_reason, {u9} as r_amount, {u10} as r_currency,
       {u11} as r_term, {u12} as r_owner, {u13} as r_contact, {u14} as r_meeting, {u15} as r_negotiation,
       {u16} as r_hosted, {u17} as r_paused, {u18} as r_timezone, {u19} as r_billing, {u20} as r_committee,
       {u21} as r_pgb, {u22} as r_chair, {u23} as r_opt_out
from generate_series(1, {count}) as g(n)
"""

# Renewal dates evenly over two years around the as-of date; the further a renewal date has
# passed, the likelier its renewal was decided; a gate reached on one of the last 120 days.
_PLACEMENT = """cross join lateral (
  select q.*, %(as_of)s::date + q.days_to_renewal as renewal_date,
    %(as_of)s::date::timestamp at time zone 'UTC' as as_of_ts,
    (%(as_of)s::date - floor(d.r_gate_at * 120)::int)::timestamp at time zone 'UTC' + interval '9 hours' as gate_at,
    case when q.days_to_renewal > 60 then
           case when d.r_gate < 0.95 then 'none' when d.r_gate < 0.98 then 'intent_confirmed' else 'paid' end
         when q.days_to_renewal >= 0 then
           case when d.r_gate < 0.60 then 'none' when d.r_gate < 0.80 then 'intent_confirmed'
                when d.r_gate < 0.97 then 'paid' else 'declined' end
         when q.days_to_renewal >= -60 then
           case when d.r_gate < 0.40 then 'none' when d.r_gate < 0.55 then 'intent_confirmed'
                when d.r_gate < 0.90 then 'paid' else 'declined' end
         else
           case when d.r_gate < 0.25 then 'none' when d.r_gate < 0.30 then 'intent_confirmed'
                when d.r_gate < 0.80 then 'paid' else 'declined' end
    end as gate
  from (select
    case when d.r_playbook < 0.55 then 'membership' when d.r_playbook < 0.70 then 'contract'
         when d.r_playbook < 0.85 then 'sales' else 'low_touch' end as playbook,
    -365 + floor(d.r_days * 730)::int as days_to_renewal) as q
) as p
"""
# A sales renewal is handed to the rep 60 days before its renewal date.
_ASSIGNMENT = """cross join lateral (
  select a.assigned_at, a.assigned_at::timestamp at time zone 'UTC' as assigned_ts
  from (select case when p.playbook = 'sales' then p.renewal_date - 60 end as assigned_at) as a
) as s
"""


def generate(conn: psycopg.Connection, subscriptions: int, as_of: date) -> dict[str, int]:
    """(Re)create the warehouse tables with ``subscriptions`` rows (and their contacts)."""
    draws = {f"u{k}": sql.SQL(_U.format(k=k)) for k in range(1, 24)}
    with conn.transaction():
        conn.execute("drop schema if exists warehouse cascade")
        conn.execute(SCHEMA_SQL.read_text())
        conn.execute("drop index warehouse.contacts_subscription_id_idx")
        conn.execute("drop table if exists bench_draws")
        conn.execute(sql.SQL(_DRAWS).format(count=sql.Literal(subscriptions), **draws))
        params = {"as_of": as_of, "snapshot_at": datetime.combine(as_of, time(), UTC) - timedelta(hours=6)}
        conn.execute(insert_subscriptions_sql("bench_draws", _PLACEMENT, _ASSIGNMENT), params)
        conn.execute(insert_contacts_sql("bench_draws"))
        conn.execute("drop table bench_draws")
        conn.execute("create index contacts_subscription_id_idx on warehouse.contacts (subscription_id)")
        counts = conn.execute(
            "select (select count(*) from warehouse.subscriptions), (select count(*) from warehouse.contacts)"
        ).fetchone()
    conn.execute("analyze warehouse.subscriptions")
    conn.execute("analyze warehouse.contacts")
    assert counts is not None
    return {"subscriptions": counts[0], "contacts": counts[1]}
