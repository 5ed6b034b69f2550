-- The warehouse input the pipeline reads (docs/configuration.md, "Connections"): the demo warehouse and the
-- tests keep it in these two tables. Idempotent, so it can run before every seeding.
create schema if not exists warehouse;

create table if not exists warehouse.subscriptions (
  subscription_id     text primary key,
  account_id          text not null,
  account_name        text not null,
  playbook            text not null,      -- membership | contract | sales | low_touch
  tier                text,               -- membership: cosai_sponsor | premier | high_value | high_contributing_individual | standard
  member_type         text,               -- membership: TC | OP
  renewal_date        date,               -- end of the current term
  term_months         integer not null default 12,
  amount              numeric(12,2),
  currency            text,
  owner_email         text,               -- account owner / salesperson
  intent_confirmed_at timestamptz,        -- gate 1
  paid_at             timestamptz,        -- gate 2
  invoice_number      text,
  declined_at         timestamptz,        -- gate 3
  decline_reason      text,
  assigned_at         date,               -- sales: day the renewal was handed to the rep
  last_contact_at     timestamptz,        -- sales: last logged two-way contact
  next_meeting_at     timestamptz,        -- sales: a booked future appointment
  in_negotiation      boolean not null default false,
  hosted_site         boolean not null default false,
  paused              boolean not null default false, -- automation paused for this subscription
  timezone            text,               -- IANA name; null = business timezone
  updated_at          timestamptz not null default now()
);

create table if not exists warehouse.contacts (
  contact_id      text primary key,
  subscription_id text not null,
  role            text not null,          -- primary | billing | committee | pgb | tc_chair
  name            text,
  email           text,
  opted_out       boolean not null default false
);

-- No foreign key on purpose: a contact of a missing subscription is bad input to quarantine, not to refuse.
create index if not exists contacts_subscription_id_idx on warehouse.contacts (subscription_id);

-- Optional (RENEWALS_BOUNCES_QUERY): the mail provider's bounces and complaints, read by
-- include/sql/extract/bounces.sql into the suppression list.
create table if not exists warehouse.mail_events (
  address     text not null,
  event       text not null,              -- bounce | complaint (others are ignored)
  occurred_at timestamptz not null default now(),
  detail      text
);
