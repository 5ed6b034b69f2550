-- schema.sql for a SQLite warehouse (the tests and the bench): the same two tables; SQLite keeps
-- dates and timestamps as ISO 8601 text and booleans as 0/1. One statement per ';'.
create table if not exists subscriptions (
  subscription_id     text primary key,
  account_id          text not null,
  account_name        text not null,
  playbook            text not null,
  tier                text,
  member_type         text,
  renewal_date        date,
  term_months         integer not null default 12,
  amount              numeric,
  currency            text,
  owner_email         text,
  intent_confirmed_at timestamp,
  paid_at             timestamp,
  invoice_number      text,
  declined_at         timestamp,
  decline_reason      text,
  assigned_at         date,
  last_contact_at     timestamp,
  next_meeting_at     timestamp,
  in_negotiation      boolean not null default 0,
  hosted_site         boolean not null default 0,
  paused              boolean not null default 0,
  timezone            text,
  updated_at          timestamp not null default current_timestamp
);

create table if not exists contacts (
  contact_id      text primary key,
  subscription_id text not null,
  role            text not null,
  name            text,
  email           text,
  opted_out       boolean not null default 0
);

create index if not exists contacts_subscription_id_idx on contacts (subscription_id);
