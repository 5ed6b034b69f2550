-- The console's outbox reads its pages from here instead of computing the one rule over every
-- member on every request: each full run writes what the rule puts ahead for the next weeks, as of
-- its date (renewals.console.outbox.write_outbox_ahead). The outbox recomputes live only the
-- members staff steered since (renewals.staff_actions after written_at, by its index on at), so
-- actions show at once.

-- One row per run that wrote the outbox's rows: the days they cover and when they were written.
create table renewals.outbox_ahead_runs (
    run_id      text primary key,
    as_of       date not null,      -- judged as of this day (the outbox uses them on this day only)
    first_day   date not null,
    last_day    date not null,
    written_at  timestamptz not null default now()
);

-- The rule's touchpoints still ahead (include/sql/rule/ahead.sql), keyed and with the outbox's filters.
create table renewals.outbox_ahead (
    run_id          text not null references renewals.outbox_ahead_runs on delete cascade,
    subscription_id text not null,
    renewal_date    date not null,
    touchpoint      text not null,
    due_date        date not null,
    position        int not null,
    playbook        text not null,
    state           text not null,  -- scheduled, or what staff made of it: held, skipped, moved, edited
    owner_email     text,
    audience        text,           -- who it goes to, in the playbook's words (the team filter)
    primary key (run_id, subscription_id, renewal_date, touchpoint)
);
-- the outbox's order: its pages are read along this index
create index outbox_ahead_due_idx on renewals.outbox_ahead (run_id, due_date, subscription_id, position, touchpoint);

