-- The run's staging tables in renewals_work, named after the run key. Unlogged: they are
-- rebuilt from the warehouse whenever the extract task runs again. Keys and indexes are built
-- once the tables are filled (stage/index_*.sql): faster than row by row.
drop table if exists {raw_subscriptions}, {raw_contacts}, {subscriptions}, {contacts};

create unlogged table {raw_subscriptions} (
    row_no bigint generated always as identity,
    subscription_id text, account_id text, account_name text, playbook text, tier text,
    member_type text, renewal_date text, term_months text, amount text, currency text,
    owner_email text, intent_confirmed_at text, paid_at text, invoice_number text,
    declined_at text, decline_reason text, assigned_at text, last_contact_at text,
    next_meeting_at text, in_negotiation text, hosted_site text, paused text, timezone text,
    updated_at text,
    -- optional extract columns (null when the warehouse has none): renewals.storage.staging
    salesforce_account_id text, salesforce_opportunity_id text, hubspot_company_id text, hubspot_deal_id text
);

create unlogged table {raw_contacts} (
    row_no bigint generated always as identity,
    contact_id text, subscription_id text, role text, name text, email text, opted_out text
);

create unlogged table {subscriptions} (
    subscription_id     text not null,
    account_id          text not null,
    account_name        text not null,
    playbook            text not null,
    tier                text,
    member_type         text,
    renewal_date        date not null,
    term_months         integer not null,
    amount              numeric(12, 2),
    currency            text,
    owner_email         text,
    invoice_number      text,
    decline_reason      text,
    intent_confirmed_at timestamptz,
    paid_at             timestamptz,
    declined_at         timestamptz,
    intent_on           date,
    paid_on             date,
    declined_on         date,
    assigned_on         date,
    last_contact_at     timestamptz,
    next_meeting_at     timestamptz,
    in_negotiation      boolean not null,
    hosted_site         boolean not null,
    paused              boolean not null,
    timezone            text not null,
    gate                text not null,
    days_to_renewal     integer not null,
    cohort              text not null,
    shard               integer not null,
    source_id           text not null, -- the id as the warehouse holds it (the gate re-check looks it up)
    salesforce_account_id     text,
    salesforce_opportunity_id text,
    hubspot_company_id        text,
    hubspot_deal_id           text
);

create unlogged table {contacts} (
    contact_id      text not null,
    subscription_id text not null,
    role            text not null,
    name            text,
    email           text not null,
    opted_out       boolean not null
);
