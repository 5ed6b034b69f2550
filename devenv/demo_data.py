"""Synthetic warehouse data for the demo and the tests, spread around an as-of date.

Generated inside PostgreSQL, set-based: one ``random()`` draw table from ``generate_series`` under
``setseed``, then one INSERT ... SELECT per table, so the same seed and as-of date give the same rows
and a million subscriptions take well under a minute. A handful of deliberately bad rows (ids
``S-BAD-..``, ``C-BAD-..``) make the demo show quarantine.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import psycopg
from psycopg import sql

from renewals.config import INCLUDE_DIR

SCHEMA_SQL = INCLUDE_DIR / "sql" / "warehouse" / "schema.sql"


def schema_statements(dialect: str) -> list[str]:
    """The statements of ``include/sql/warehouse/<dialect>/schema.sql`` (mysql, sqlite), one by one:
    the same warehouse tables for the tests and the bench on a database that is not PostgreSQL."""
    text = (SCHEMA_SQL.parent / dialect / "schema.sql").read_text()
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    return [statement for statement in code.split(";") if statement.strip()]


# Days to renewal (renewal_date - as_of) on which a membership touchpoint is due: bizdev outreach,
# review, confirmation, reminders 15/1/0, risk CTA, overdue notices +1/+15/+30/+60.
MEMBERSHIP_TOUCHPOINT_OFFSETS = (180, 90, 30, 15, 14, 1, 0, -1, -15, -30, -60)
# The contract, low-touch and site-takedown offsets not already in the membership list.
OTHER_TOUCHPOINT_OFFSETS = (60, 7, -7)
_HOT_SHARE = 0.45  # share of subscriptions placed exactly on a touchpoint offset; the rest spread -70..+200

_CREATE_DRAWS = """
create temp table seed_draws as
select n,
       'S-' || lpad(n::text, greatest(6, length(n::text)), '0') as subscription_id,
       ceil(n * 0.9)::int as account_number,  -- about one account in ten holds two subscriptions
       random() as r_playbook, random() as r_hot, random() as r_offset, random() as r_tier,
       random() as r_member_type, random() as r_gate, random() as r_gate_at, random() as r_also_intent,
       random() as r_reason, random() as r_amount, random() as r_currency, random() as r_term,
       random() as r_owner, random() as r_assigned, random() as r_contact, random() as r_meeting,
       random() as r_negotiation, random() as r_hosted, random() as r_paused, random() as r_timezone,
       random() as r_billing, random() as r_committee, random() as r_pgb, random() as r_chair,
       random() as r_opt_out
from generate_series(1, {count}) as n
"""

# Membership tier, member type and the tier's fee, from the draws d.r_tier and d.r_member_type of
# a row p with a playbook (shared with the benchmark's warehouse, bench/warehouse.py).
MEMBERSHIP_TIERS_SQL = """
cross join lateral (
  select
    case when p.playbook = 'membership' then
      case when d.r_tier < 0.05 then 'cosai_sponsor' when d.r_tier < 0.20 then 'premier'
           when d.r_tier < 0.40 then 'high_value' when d.r_tier < 0.55 then 'high_contributing_individual'
           else 'standard' end
    end as tier,
    case when p.playbook = 'membership' then case when d.r_member_type < 0.4 then 'TC' else 'OP' end
    end as member_type,
    case when p.playbook = 'membership' then
      case when d.r_tier < 0.05 then 100000 when d.r_tier < 0.20 then 50000 when d.r_tier < 0.40 then 25000
           when d.r_tier < 0.55 then 1000 else 5000 end
    end as tier_amount
) as m
"""


def insert_subscriptions_sql(draws: str, placement: str, assignment: str) -> str:
    """INSERT ... SELECT of warehouse.subscriptions, one row per row ``d`` of the table ``draws``
    (``subscription_id``, ``account_number``, ``n`` and uniform draws ``r_*`` in [0, 1)), shared
    with the benchmark's warehouse (bench/warehouse.py), which draws and places rows its own way.

    ``placement``: a lateral subquery ``p`` giving ``playbook``, ``renewal_date``, ``gate``
    (none | intent_confirmed | paid | declined), ``gate_at`` and ``as_of_ts``; ``assignment``: a
    lateral subquery ``s`` giving a sales renewal's ``assigned_at`` (date) and ``assigned_ts``.
    Parameter: ``%(snapshot_at)s``, the extract's snapshot time of every row."""
    return (
        """
insert into warehouse.subscriptions (
  subscription_id, account_id, account_name, playbook, tier, member_type, renewal_date, term_months,
  amount, currency, owner_email, intent_confirmed_at, paid_at, invoice_number, declined_at,
  decline_reason, assigned_at, last_contact_at, next_meeting_at, in_negotiation, hosted_site, paused,
  timezone, updated_at
)
select
  d.subscription_id,
  'A-' || lpad(d.account_number::text, greatest(6, length(d.account_number::text)), '0'),
  (array['Acme', 'Globex', 'Initech', 'Umbrella', 'Stark', 'Wayne', 'Hooli', 'Vandelay', 'Soylent', 'Tyrell',
         'Cyberdyne', 'Wonka', 'Aperture', 'Oscorp', 'Nakatomi', 'Massive'])[1 + mod(d.account_number, 16)]
    || ' ' || (array['Analytics', 'Systems', 'Labs', 'Foundation', 'Networks', 'Robotics', 'Health',
                     'Capital', 'Logistics', 'Media'])[1 + mod(d.account_number * 7, 10)]
    || ' ' || lpad(d.account_number::text, greatest(4, length(d.account_number::text)), '0'),
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
       -- half the payers confirmed their intent first
       when p.gate = 'paid' and d.r_also_intent < 0.5
         then p.gate_at - (1 + d.r_also_intent * 40) * interval '1 day'
  end,
  case when p.gate = 'paid' then p.gate_at end,
  case when p.gate = 'paid' then 'INV-' || substr(d.subscription_id, 3) end,
  case when p.gate = 'declined' then p.gate_at end,
  case when p.gate = 'declined' then
    (array['budget cut', 'no longer using the service', 'moved to a competitor', 'organisation merged',
           'other'])[1 + floor(d.r_reason * 5)::int]
  end,
  s.assigned_at,
  case when s.assigned_at is not null and d.r_contact < 0.35 then
    -- between the hand-over and the as-of date
    s.assigned_ts + (p.as_of_ts - s.assigned_ts) * (d.r_contact / 0.35)
  end,
  case when s.assigned_at is not null and d.r_meeting < 0.10 then
    p.as_of_ts + (1 + floor(d.r_meeting * 200)) * interval '1 day' + interval '14 hours'
  end,
  s.assigned_at is not null and d.r_negotiation < 0.08,
  s.assigned_at is not null and d.r_hosted < 0.30,
  d.r_paused < 0.01,
  case when d.r_timezone < 0.03 then 'America/New_York' when d.r_timezone < 0.05 then 'Europe/London'
       when d.r_timezone < 0.06 then 'Asia/Tokyo' end,
  %(snapshot_at)s
"""
        + f"from {draws} as d\n"
        + placement
        + MEMBERSHIP_TIERS_SQL
        + assignment
    )


def insert_contacts_sql(draws: str) -> str:
    """INSERT ... SELECT of warehouse.contacts for the subscriptions of ``draws`` (see above)."""
    return (
        """
insert into warehouse.contacts (contact_id, subscription_id, role, name, email, opted_out)
select
  'C-' || substr(d.subscription_id, 3) || '-' || r.role,
  d.subscription_id,
  r.role,
  (array['Ada', 'Ben', 'Chloe', 'Dev', 'Emma', 'Farid', 'Grace', 'Hiro', 'Ines', 'Jonas', 'Kemi', 'Luis',
         'Maya', 'Nils', 'Olga', 'Priya', 'Quentin', 'Rosa', 'Sven', 'Tara'])[1 + mod(d.n * 3 + r.rank, 20)]
    || ' ' || (array['Adams', 'Baker', 'Costa', 'Dubois', 'Evans', 'Fischer', 'Garcia', 'Haddad', 'Ito',
                     'Jensen', 'Kowalski', 'Lee', 'Moreau', 'Nakamura', 'Olsen', 'Patel', 'Rossi',
                     'Schmidt', 'Tanaka', 'Weber'])[1 + mod(d.n + r.rank * 7, 20)],
  replace(r.role, '_', '-') || '.' || lower(replace(d.subscription_id, '-', '')) || '@members.example.com',
  -- each contact opted out with a 2 percent chance, at most one per subscription
  floor(d.r_opt_out * 50) = r.rank - 1
"""
        + f"from {draws} as d\n"
        + """join warehouse.subscriptions as s using (subscription_id)
cross join lateral (
  values (1, 'primary', true),
         (2, 'billing', d.r_billing < 0.85),
         (3, 'committee', s.playbook = 'membership' and d.r_committee < 0.40),
         (4, 'pgb', s.playbook = 'membership' and d.r_pgb < 0.25),
         (5, 'tc_chair', s.playbook = 'membership' and d.r_chair < 0.05)
) as r(rank, role, wanted)
where r.wanted
"""
    )


# The demo's placement: 45 % of the rows exactly on a touchpoint offset, the rest spread over
# -70..+200 days; a gate reached between 40 and 1 days before the as-of date.
_DEMO_PLACEMENT = """cross join lateral (
  select q.*,
    %(as_of)s::date + q.days_to_renewal as renewal_date,
    (%(as_of)s::date::timestamp at time zone 'UTC') - (1 + d.r_gate_at * 39) * interval '1 day' as gate_at,
    %(as_of)s::date::timestamp at time zone 'UTC' as as_of_ts
  from (select
    case when d.r_playbook < 0.55 then 'membership' when d.r_playbook < 0.70 then 'contract'
         when d.r_playbook < 0.85 then 'sales' else 'low_touch' end as playbook,
    case when d.r_hot < %(hot_share)s
         then (%(hot)s::int[])[1 + floor(d.r_offset * cardinality(%(hot)s::int[]))::int]
         else -70 + floor(d.r_offset * 271)::int end as days_to_renewal,
    case when d.r_gate < 0.70 then 'none' when d.r_gate < 0.82 then 'intent_confirmed'
         when d.r_gate < 0.94 then 'paid' else 'declined' end as gate) as q
) as p
"""
# A sales renewal was handed to its rep on one of the last 41 days.
_DEMO_ASSIGNMENT = """cross join lateral (
  select a.assigned_at, a.assigned_at::timestamp at time zone 'UTC' as assigned_ts
  from (select case when p.playbook = 'sales' then %(as_of)s::date - floor(d.r_assigned * 41)::int end
        as assigned_at) as a
) as s
"""

# One reason each, on rows otherwise fine, so the quarantine shows exactly what it catches.
_INSERT_BAD_SUBSCRIPTIONS = """
insert into warehouse.subscriptions (
  subscription_id, account_id, account_name, playbook, tier, member_type, renewal_date, amount, currency,
  owner_email, assigned_at, timezone, updated_at
)
values
  ('S-BAD-01', 'A-BAD-01', 'Bogus Enterprise 0001', 'enterprise', null, null,
   %(as_of)s::date + 30, 12000, 'USD', 'alex.morgan@example.org', null, null, %(snapshot_at)s),
  ('S-BAD-02', 'A-BAD-02', 'Bogus Dates 0002', 'membership', 'standard', 'OP',
   null, 5000, 'USD', 'blair.chen@example.org', null, null, %(snapshot_at)s),
  ('S-BAD-03', 'A-BAD-03', 'Bogus Zones 0003', 'contract', null, null,
   %(as_of)s::date + 30, 8000, 'EUR', 'casey.okafor@example.org', null, 'Mars/Olympus', %(snapshot_at)s),
  ('S-BAD-04', 'A-BAD-04', 'Bogus Credit 0004', 'contract', null, null,
   %(as_of)s::date + 30, -500, 'GBP', 'dana.novak@example.org', null, null, %(snapshot_at)s),
  ('S-BAD-05', 'A-BAD-05', 'Bogus Owners 0005', 'sales', null, null,
   %(as_of)s::date + 30, 9000, 'USD', 'not-an-email', %(as_of)s::date - 3, null, %(snapshot_at)s),
  ('S-BAD-06', 'A-BAD-06', 'Bogus Tiers 0006', 'membership', 'platinum', 'TC',
   %(as_of)s::date + 30, 5000, 'USD', 'eli.sato@example.org', null, null, %(snapshot_at)s),
  ('S-BAD-07', 'A-BAD-07', 'Bogus Members 0007', 'membership', 'premier', 'XX',
   %(as_of)s::date + 30, 50000, 'USD', 'fran.dubois@example.org', null, null, %(snapshot_at)s)
"""

# A valid primary for each bad subscription, and bad contacts: on a good subscription or on none.
_INSERT_BAD_CONTACTS = """
insert into warehouse.contacts (contact_id, subscription_id, role, name, email)
select 'C-' || substr(subscription_id, 3) || '-primary', subscription_id, 'primary', 'Pat Bogus',
       'primary.' || lower(replace(subscription_id, '-', '')) || '@members.example.com'
from warehouse.subscriptions
where subscription_id like 'S-BAD-%'
union all
values
  ('C-BAD-EMAIL', 'S-000001', 'billing', 'Mal Formed', 'not-an-email'),
  ('C-BAD-ORPHAN', 'S-MISSING-01', 'primary', 'Noah Where', 'primary.smissing01@members.example.com'),
  ('C-BAD-ROLE', 'S-000001', 'ceo', 'Rex Unknown', 'ceo.s000001@members.example.com')
"""


def seed_warehouse(
    conn: psycopg.Connection,
    as_of: date,
    subscriptions: int = 3000,
    seed: int = 42,
) -> dict[str, int]:
    """(Re)create the warehouse tables and fill them with ``subscriptions`` well-formed subscriptions
    (ids S-000001...) plus the bad demo rows; returns the row counts of both tables.

    Runs in one transaction (a savepoint when the caller has one open); the same ``seed`` and
    ``as_of`` always give the same rows.
    """
    if subscriptions < 1:
        raise ValueError("subscriptions must be at least 1 (the bad demo contacts refer to S-000001)")
    params = {
        "as_of": as_of,
        "hot": list(MEMBERSHIP_TOUCHPOINT_OFFSETS + OTHER_TOUCHPOINT_OFFSETS),
        "hot_share": _HOT_SHARE,
        # The extract's snapshot time, fixed (not now()) so that reruns give identical rows.
        "snapshot_at": datetime.combine(as_of, time(), UTC) - timedelta(hours=6),
    }
    with conn.transaction():
        conn.execute(SCHEMA_SQL.read_text())
        conn.execute("truncate warehouse.subscriptions, warehouse.contacts")
        # setseed wants a value in [-1, 1]; distinct seeds below 2**31 map to distinct values.
        conn.execute("select setseed(%s)", ((seed % 2**31) / 2**31,))
        # CREATE TABLE AS takes no bind parameters, hence the literal.
        conn.execute(sql.SQL(_CREATE_DRAWS).format(count=sql.Literal(subscriptions)))
        conn.execute(insert_subscriptions_sql("seed_draws", _DEMO_PLACEMENT, _DEMO_ASSIGNMENT), params)
        conn.execute(insert_contacts_sql("seed_draws"))
        conn.execute("drop table seed_draws")
        conn.execute(_INSERT_BAD_SUBSCRIPTIONS, params)
        conn.execute(_INSERT_BAD_CONTACTS)
        counts = conn.execute(
            "select (select count(*) from warehouse.subscriptions), (select count(*) from warehouse.contacts)"
        ).fetchone()
    assert counts is not None
    return {"subscriptions": counts[0], "contacts": counts[1]}
