-- The sync outbox: changes staff systems should hear of (a CTA opened or moved, a call task due,
-- a message sent, skipped or held, an offboarding started or done, a staff action), each one event with a stable
-- idempotency key, delivered by the run's sync task to every target that is on (Salesforce,
-- HubSpot, GitHub, webhooks), each target's delivery with its own state.

create table renewals.sync_events (
    event_id        bigserial primary key,
    event_key       text not null unique,     -- stable: the same change is always the same event
    kind            text not null,            -- cta.opened, message.sent, ... (renewals.sync.events)
    subscription_id text not null,
    renewal_date    date,
    payload         jsonb not null,
    occurred_at     timestamptz not null,     -- when the change was made (not when it was queued)
    created_at      timestamptz not null default now()
);
create index sync_events_subscription_idx on renewals.sync_events (subscription_id, event_id);

-- Events are derived from the ledger and CTA tables after the deliveries, from the changes made
-- since this point (minus a margin for transactions that committed late); it starts when the
-- outbox is installed, so history is not replayed into a CRM.
create table renewals.sync_cursor (
    singleton     boolean primary key default true check (singleton),
    derived_until timestamptz not null
);
insert into renewals.sync_cursor (derived_until) values (now());
create index touchpoints_updated_idx on renewals.touchpoints (updated_at);
create index cta_events_at_idx on renewals.cta_events (at);
create index cta_tasks_created_idx on renewals.cta_tasks (created_at);
create index renewal_cycles_updated_idx on renewals.renewal_cycles (updated_at);
create index staff_actions_at_idx on renewals.staff_actions (at);
create index sync_events_created_idx on renewals.sync_events (created_at);

-- A target gets the events queued since it was first on (its connection first seen by a sync).
create table renewals.sync_targets (
    target        text primary key,           -- webhook | salesforce | hubspot | github
    enabled_since timestamptz not null default now(),
    planned_until timestamptz not null default now()  -- events queued before this have their delivery row
);

create table renewals.sync_deliveries (
    event_id        bigint not null references renewals.sync_events (event_id),
    target          text not null references renewals.sync_targets (target),
    delivery_id     uuid not null unique default gen_random_uuid(),  -- the same across retries
    status          text not null default 'pending'
                    check (status in ('pending', 'delivered', 'parked', 'dismissed')),
    attempts        integer not null default 0,
    last_status     integer,                  -- HTTP status of the last answer (null: no answer)
    last_answer     text,                     -- its body, shortened, or the network error
    remote_id       text,                     -- the record the target made or updated
    remote_url      text,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    delivered_at    timestamptz,
    primary key (event_id, target)
);
create index sync_deliveries_pending_idx on renewals.sync_deliveries (target, event_id) where status = 'pending';
create index sync_deliveries_parked_idx on renewals.sync_deliveries (updated_at) where status = 'parked';

-- The record each of our objects has in a target (a CTA's Task, an offboarding's issue), so the
-- console links to it and later events update it.
create table renewals.sync_records (
    target      text not null,
    record_key  text not null,                -- cta_id, task key, offboarding key
    remote_id   text not null,
    remote_url  text,
    updated_at  timestamptz not null default now(),
    primary key (target, record_key)
);

-- Staff's retry and dismiss of parked deliveries, from the console.
create table renewals.sync_actions (
    action_id   bigserial primary key,
    event_id    bigint not null,
    target      text not null,
    action      text not null check (action in ('retry', 'dismiss')),
    acted_by    text not null,
    note        text,
    at          timestamptz not null default now()
);
