"""The benchmark's warehouse: N synthetic subscriptions generated inside PostgreSQL.

One INSERT ... SELECT over ``generate_series`` per table, with draws from ``hashint8extended`` (no
``random()``), so the same N and as-of date always give the same rows. Same tables as
include/sql/warehouse/schema.sql. Renewal dates are spread evenly over two years around the as-of
date and the gates follow the renewal date (far renewals mostly without response, past ones mostly
paid or declined), so that a day has a realistic share of due touchpoints (about 1-3 %).
"""

from __future__ import annotations

from datetime import date

import psycopg
from psycopg import sql

from devenv.demo_data import MEMBERSHIP_TIERS_SQL, SCHEMA_SQL

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

_SUBSCRIPTIONS = (
    """
insert into warehouse.subscriptions (
  subscription_id, account_id, account_name, playbook, tier, member_type, renewal_date, term_months,
  amount, currency, owner_email, intent_confirmed_at, paid_at, invoice_number, declined_at,
  decline_reason, assigned_at, last_contact_at, next_meeting_at, in_negotiation, hosted_site, paused,
  timezone, updated_at
)
select
  d.subscription_id,
  'A-' || lpad(d.account_number::text, 7, '0'),
  (array['Acme', 'Globex', 'Initech', 'Umbrella', 'Stark', 'Wayne', 'Hooli', 'Vandelay'])[1 + mod(d.account_number, 8)]
    || ' ' || (array['Analytics', 'Systems', 'Labs', 'Foundation', 'Networks'])[1 + mod(d.account_number * 7, 5)]
    || ' ' || lpad(d.account_number::text, 7, '0'),
  p.playbook,
  m.tier,
  m.member_type,
  p.renewal_date,
  case when d.r_term < 0.1 then 24 else 12 end,
  coalesce(m.tier_amount, round((500 + d.r_amount * 49500)::numeric, -1)),
  case when d.r_currency < 0.6 then 'USD' when d.r_currency < 0.85 then 'EUR' else 'GBP' end,
  (array['alex.morgan', 'blair.chen', 'casey.okafor', 'dana.novak', 'eli.sato', 'fran.dubois',
         'gray.silva', 'harper.kim'])[1 + floor(d.r_owner * 8)::int] || '@example.org',
  case when p.gate = 'intent_confirmed' then p.gate_at
       when p.gate = 'paid' and d.r_also_intent < 0.5 then p.gate_at - (1 + d.r_also_intent * 40) * interval '1 day'
  end,
  case when p.gate = 'paid' then p.gate_at end,
  case when p.gate = 'paid' then 'INV-' || substr(d.subscription_id, 3) end,
  case when p.gate = 'declined' then p.gate_at end,
  case when p.gate = 'declined' then
    (array['budget cut', 'no longer using the service', 'moved to a competitor', 'other'])
      [1 + floor(d.r_reason * 4)::int]
  end,
  s.assigned_at,
  case when s.assigned_at < %(as_of)s::date and d.r_contact < 0.35 then
    s.assigned_at + ((%(as_of)s::date - s.assigned_at) * d.r_contact / 0.35) * interval '1 day'
  end,
  case when s.assigned_at is not null and d.r_meeting < 0.10 then
    %(as_of)s::date + (1 + floor(d.r_meeting * 200)) * interval '1 day' + interval '14 hours'
  end,
  s.assigned_at is not null and d.r_negotiation < 0.08,
  p.playbook = 'sales' and d.r_hosted < 0.30,
  d.r_paused < 0.01,
  case when d.r_timezone < 0.03 then 'America/New_York' when d.r_timezone < 0.05 then 'Europe/London'
       when d.r_timezone < 0.06 then 'Asia/Tokyo' end,
  %(as_of)s::date - interval '6 hours'
from bench_draws as d
cross join lateral (
  select
    case when d.r_playbook < 0.55 then 'membership' when d.r_playbook < 0.70 then 'contract'
         when d.r_playbook < 0.85 then 'sales' else 'low_touch' end as playbook,
    -- evenly over two years around the as-of date
    %(as_of)s::date - 365 + floor(d.r_days * 730)::int as renewal_date,
    -365 + floor(d.r_days * 730)::int as days_to_renewal
) as q
cross join lateral (
  select q.playbook, q.renewal_date,
    -- the further a renewal date has passed, the likelier its renewal was decided
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
    end as gate,
    -- reached on one of the last 120 days (today included), in the morning
    (%(as_of)s::date - floor(d.r_gate_at * 120)::int)::timestamp at time zone 'UTC' + interval '9 hours' as gate_at
) as p
"""
    + MEMBERSHIP_TIERS_SQL
    + """cross join lateral (
  -- a sales renewal is handed to the rep 60 days before its renewal date
  select case when p.playbook = 'sales' then p.renewal_date - 60 end as assigned_at
) as s
"""
)

_CONTACTS = """
insert into warehouse.contacts (contact_id, subscription_id, role, name, email, opted_out)
select
  'C-' || substr(d.subscription_id, 3) || '-' || r.role,
  d.subscription_id,
  r.role,
  (array['Ada', 'Ben', 'Chloe', 'Dev', 'Emma', 'Farid', 'Grace', 'Hiro', 'Ines', 'Jonas'])
    [1 + mod(d.n * 3 + r.rank, 10)]
    || ' ' || (array['Adams', 'Baker', 'Costa', 'Dubois', 'Evans', 'Fischer', 'Garcia', 'Haddad', 'Ito',
                     'Jensen'])[1 + mod(d.n + r.rank * 7, 10)],
  replace(r.role, '_', '-') || '.' || lower(replace(d.subscription_id, '-', '')) || '@members.example.com',
  floor(d.r_opt_out * 50) = r.rank - 1  -- 2 %% of subscriptions have one opted-out contact
from bench_draws as d
cross join lateral (
  select case when d.r_playbook < 0.55 then 'membership' else 'other' end as kind
) as k
cross join lateral (
  values (1, 'primary', true),
         (2, 'billing', d.r_billing < 0.85),
         (3, 'committee', k.kind = 'membership' and d.r_committee < 0.40),
         (4, 'pgb', k.kind = 'membership' and d.r_pgb < 0.25),
         (5, 'tc_chair', k.kind = 'membership' and d.r_chair < 0.05)
) as r(rank, role, wanted)
where r.wanted
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
        conn.execute(_SUBSCRIPTIONS, {"as_of": as_of})
        conn.execute(_CONTACTS)
        conn.execute("drop table bench_draws")
        conn.execute("create index contacts_subscription_id_idx on warehouse.contacts (subscription_id)")
        counts = conn.execute(
            "select (select count(*) from warehouse.subscriptions), (select count(*) from warehouse.contacts)"
        ).fetchone()
    conn.execute("analyze warehouse.subscriptions")
    conn.execute("analyze warehouse.contacts")
    assert counts is not None
    return {"subscriptions": counts[0], "contacts": counts[1]}
