-- The pipeline's own schema: runs, the touchpoint ledger, the decision log and quarantine.
-- Applied once by renewals.storage.migrations; never edit an applied file, add a new one.

create schema if not exists renewals;
-- Per-run staging tables (extract, validated rows); dropped a few days after their run.
create schema if not exists renewals_work;

create table renewals.runs (
    run_id                    text primary key,       -- the Airflow dag run id
    run_key                   text not null unique,   -- short hash naming the run's work tables
    as_of                     date not null,
    dry_run                   boolean not null,
    subscription_id           text,                   -- set for a single-subscription manual run
    started_at                timestamptz not null default now(),
    extracted_at              timestamptz,
    classified_at             timestamptz,
    finished_at               timestamptz,
    subscriptions_in          integer,
    subscriptions_processed   integer,
    subscriptions_quarantined integer,
    contacts_in               integer,
    contacts_processed        integer,
    contacts_quarantined      integer
);

create table renewals.touchpoints (
    subscription_id text not null,
    renewal_date    date not null,
    touchpoint      text not null,
    playbook        text not null,
    channel         text not null,
    cohort          text not null,
    due_date        date not null,
    status          text not null check (status in ('pending', 'sent', 'skipped', 'failed', 'unknown', 'dry_run')),
    reason          text,
    recipients      text[] not null default '{}',
    cc              text[] not null default '{}',
    subject         text,
    message_id      text,
    first_run_id    text not null,
    last_run_id     text not null,
    decided_as_of   date not null,
    attempts        integer not null default 0,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    sent_at         timestamptz,
    primary key (subscription_id, renewal_date, touchpoint)
);
create index touchpoints_open_idx on renewals.touchpoints (status, cohort) where status in ('pending', 'unknown', 'dry_run');
create index touchpoints_last_run_idx on renewals.touchpoints (last_run_id);

-- Every hand-off attempt and its outcome, for the audit trail behind a ledger row.
create table renewals.delivery_attempts (
    attempt_id      bigserial primary key,
    subscription_id text not null,
    renewal_date    date not null,
    touchpoint      text not null,
    run_id          text not null,
    outcome         text not null,   -- sent | failed | retry | unknown | released
    detail          text,
    at              timestamptz not null default now()
);
create index delivery_attempts_key_idx on renewals.delivery_attempts (subscription_id, renewal_date, touchpoint);

create table renewals.quarantine (
    quarantine_id   bigserial primary key,
    run_id          text not null,
    as_of           date not null,
    source_table    text not null,   -- subscriptions | contacts
    record_id       text,            -- subscription_id or contact_id as it came in
    subscription_id text,
    reasons         text[] not null, -- reason codes, see README
    raw             jsonb not null,  -- the row as extracted
    quarantined_at  timestamptz not null default now()
);
create index quarantine_run_idx on renewals.quarantine (run_id);

create table renewals.decisions (
    run_id          text not null,
    as_of           date not null,
    dry_run         boolean not null,
    subscription_id text not null,
    renewal_date    date,
    playbook        text,
    days_to_renewal integer,
    gate            text,
    cohort          text,
    touchpoint      text,            -- null when nothing was due
    due_date        date,
    action          text not null,   -- send | skip | hold | none
    reason          text,
    decided_at      timestamptz not null default now()
);
create index decisions_run_idx on renewals.decisions (run_id);
create index decisions_subscription_idx on renewals.decisions (subscription_id, as_of);

-- Text parsing that never raises: a bad value becomes null and validation names it.
create function renewals.try_date(value text) returns date
language sql immutable parallel safe as $$
    select case
        when m is null then null
        when m[1]::int >= 1
             and m[2]::int between 1 and 12
             and m[3]::int between 1 and extract(day from make_date(m[1]::int, m[2]::int, 1) + interval '1 month - 1 day')
            then make_date(m[1]::int, m[2]::int, m[3]::int)
    end
    from (select regexp_match(btrim(value), '^(\d{4})-(\d{2})-(\d{2})$') as m) parsed
$$;

create function renewals.try_timestamptz(value text) returns timestamptz
language sql stable parallel safe as $$
    -- ISO 8601 date, optional time (hours 00-23, minutes and seconds 00-59, up to microseconds)
    -- and optional offset (Z or +/-hh[:mm] within 15 hours): exactly what the cast accepts.
    select case
        when btrim(value) ~ '^\d{4}-\d{2}-\d{2}([ T]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?)?\s*(Z|[+-](0\d|1[0-5])(:?[0-5]\d)?)?$'
             and renewals.try_date(left(btrim(value), 10)) is not null
            then btrim(value)::timestamptz
    end
$$;

create function renewals.try_int(value text) returns integer
language sql immutable parallel safe as $$
    select case when btrim(value) ~ '^[+-]?\d{1,9}$' then btrim(value)::int end
$$;

create function renewals.try_numeric(value text) returns numeric
language sql immutable parallel safe as $$
    select case when btrim(value) ~ '^[+-]?(\d+(\.\d*)?|\.\d+)$' then btrim(value)::numeric end
$$;

create function renewals.try_bool(value text) returns boolean
language sql immutable parallel safe as $$
    select case lower(btrim(value))
        when 't' then true when 'true' then true when '1' then true when 'yes' then true
        when 'f' then false when 'false' then false when '0' then false when 'no' then false
    end
$$;

create function renewals.is_email(value text) returns boolean
language sql immutable parallel safe as $$
    select value ~ '^[a-z0-9.!#$%&''*+/=?^_`{|}~-]+@[a-z0-9](-*[a-z0-9])*(\.[a-z0-9](-*[a-z0-9])*)+$'
$$;
