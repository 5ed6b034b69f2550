-- The renewals console (plugins/renewals/console): what a dry run would have sent, who settled
-- an unknown send, and the indexes that keep a member page to key lookups at scale.

-- The rendered message of each dry-run preview row, so that a dry run's tab can show it as it
-- would have gone out. Keyed by run: a later dry run of the same touchpoint keeps its own.
create table renewals.previews (
    run_id          text not null,
    subscription_id text not null,
    renewal_date    date not null,
    touchpoint      text not null,
    message_id      text,
    subject         text,
    recipients      text[] not null default '{}',
    text_body       text,
    html_body       text,
    rendered_at     timestamptz not null default now(),
    primary key (run_id, subscription_id, renewal_date, touchpoint)
);

-- Who gave an operator verdict (console user, or null for the DAG's release/confirm params).
alter table renewals.delivery_attempts add column decided_by text;

-- Member search and the member page: every lookup by an indexed key, never a scan.
create index renewal_cycles_account_name_idx on renewals.renewal_cycles (lower(account_name) text_pattern_ops);
create index touchpoints_recipients_idx on renewals.touchpoints using gin (recipients);
create index quarantine_subscription_idx on renewals.quarantine (subscription_id, quarantined_at);
create index deactivations_subscription_idx on renewals.deactivations (subscription_id);
create index runs_started_idx on renewals.runs (started_at);
