-- Staff-facing actions: CTAs carried through their stages, their timeline and tasks, the
-- renewal-risk health score history, offboarding records and contacts to deactivate.

-- One CTA per (subscription, renewal date, type), never a second one for the same purpose.
create table renewals.ctas (
    cta_id          text primary key,        -- deterministic: CTA-<hash of the key>
    subscription_id text not null,
    renewal_date    date not null,
    account_name    text,
    playbook        text not null,
    type            text not null,           -- renewal_risk, bizdev_opportunity, checkin_call, ...
    stage           text not null,           -- the type's stage names, e.g. opened, overdue, termination
    priority        text not null check (priority in ('low', 'medium', 'high')),
    owner_team      text not null,
    owner_email     text not null,
    status          text not null check (status in ('open', 'closed')),
    outcome         text,                    -- when closed: renewed, churned, won, lost, moved_out, ...
    due_date        date,
    opened_at       timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    closed_at       timestamptz,
    unique (subscription_id, renewal_date, type)
);
create index ctas_open_idx on renewals.ctas (status, owner_team) where status = 'open';

-- The timeline: every change to a CTA, with the touchpoint (ledger row) that caused it.
create table renewals.cta_events (
    event_id   bigserial primary key,
    cta_id     text not null references renewals.ctas (cta_id),
    touchpoint text,
    run_id     text not null,
    kind       text not null,   -- opened, stage, priority, owner, status, task, note
    from_value text,
    to_value   text,
    detail     text,
    at         timestamptz not null default now()
);
create index cta_events_cta_idx on renewals.cta_events (cta_id, at);

create table renewals.cta_tasks (
    task_id        bigserial primary key,
    cta_id         text not null references renewals.ctas (cta_id),
    touchpoint     text not null,
    title          text not null,
    assignee_email text not null,
    due_date       date,
    status         text not null default 'open' check (status in ('open', 'done', 'cancelled')),
    created_at     timestamptz not null default now(),
    closed_at      timestamptz,
    unique (cta_id, touchpoint, title)
);

-- Renewal-risk health score as history: each change with its reason.
create table renewals.health_scores (
    health_id       bigserial primary key,
    subscription_id text not null,
    renewal_date    date not null,
    score           integer not null check (score between 0 and 100),
    label           text not null,           -- healthy, at_risk, churn_notified, terminating, renewed
    reason          text not null,
    touchpoint      text,
    run_id          text not null,
    at              timestamptz not null default now(),
    unique (subscription_id, renewal_date, touchpoint)
);
create index health_scores_key_idx on renewals.health_scores (subscription_id, renewal_date, at);

-- An offboarding (gate 3) per renewal cycle; its checklist is the ledger rows of its steps.
create table renewals.offboardings (
    subscription_id text not null,
    renewal_date    date not null,
    member_type     text,
    decline_reason  text,
    started_at      timestamptz not null default now(),
    completed_at    timestamptz,
    primary key (subscription_id, renewal_date)
);

-- Contacts recorded for deactivation in the member systems when a member leaves.
create table renewals.deactivations (
    contact_id      text not null,
    subscription_id text not null,
    renewal_date    date not null,
    role            text not null,
    email           text not null,
    recorded_at     timestamptz not null default now(),
    run_id          text not null,
    primary key (contact_id, renewal_date)
);
