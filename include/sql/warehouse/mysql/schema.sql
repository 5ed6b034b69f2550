-- schema.sql for a MySQL/MariaDB warehouse (the tests and the bench): the same two tables with
-- MySQL's types, in the connection's database. Timestamps are DATETIME in UTC (no offset kept),
-- booleans TINYINT(1) (0/1), as such warehouses usually have them. One statement per ';'.
create table if not exists subscriptions (
  subscription_id     varchar(64) primary key,
  account_id          varchar(255) not null,
  account_name        varchar(255) not null,
  playbook            varchar(64) not null,
  tier                varchar(64),
  member_type         varchar(16),
  renewal_date        date,
  term_months         integer not null default 12,
  amount              decimal(12,2),
  currency            varchar(16),
  owner_email         varchar(255),
  intent_confirmed_at datetime(6),
  paid_at             datetime(6),
  invoice_number      varchar(64),
  declined_at         datetime(6),
  decline_reason      varchar(255),
  assigned_at         date,
  last_contact_at     datetime(6),
  next_meeting_at     datetime(6),
  in_negotiation      boolean not null default false,
  hosted_site         boolean not null default false,
  paused              boolean not null default false,
  timezone            varchar(64),
  updated_at          datetime(6) not null default current_timestamp(6)
);

create table if not exists contacts (
  contact_id      varchar(64) primary key,
  subscription_id varchar(64) not null,
  role            varchar(32) not null,
  name            varchar(255),
  email           varchar(255),
  opted_out       boolean not null default false,
  index contacts_subscription_id_idx (subscription_id)
);
