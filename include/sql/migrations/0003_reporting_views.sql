-- Reporting: the renewal cycles as the pipeline saw them, what was published where, the staff
-- Slack outbox, and the views the data team queries (README: The audit schema).
-- Views only read; every one of them works (with zero rows) on an empty schema.

-- One row per renewal cycle (subscription_id, renewal_date) a run has staged, with the facts
-- of its latest run: the funnel and the paid log are counted from here.
create table renewals.renewal_cycles (
    subscription_id  text not null,
    renewal_date     date not null,
    account_id       text not null,
    account_name     text not null,
    playbook         text not null,
    tier             text,
    member_type      text,
    amount           numeric(12, 2),
    currency         text,
    owner_email      text,
    invoice_number   text,
    intent_on        date,            -- local date intent to renew was confirmed (gate 1)
    paid_on          date,            -- local date payment was received (gate 2)
    declined_on      date,            -- local date the member declined (gate 3)
    decline_reason   text,
    gate             text not null,   -- as of changed_as_of
    first_seen_as_of date not null,
    changed_as_of    date not null,   -- as-of date of the run that last changed the row
    first_run_id     text not null,
    last_run_id      text not null,   -- the run that last changed the row
    updated_at       timestamptz not null default now(),
    primary key (subscription_id, renewal_date)
);
create index renewal_cycles_month_idx on renewals.renewal_cycles (renewal_date, playbook);
create index renewal_cycles_paid_idx on renewals.renewal_cycles (paid_on) where paid_on is not null;

-- What a run published: the Slack summary and the spreadsheet, with their outcome.
create table renewals.publications (
    run_id     text not null,
    output     text not null,     -- slack_summary | spreadsheet
    status     text not null,     -- sent | written | not_configured | skipped | failed
    target     text,              -- the connection id or the spreadsheet location
    detail     text,              -- why skipped, or the error
    attempts   integer not null default 1,
    updated_at timestamptz not null default now(),
    primary key (run_id, output)
);

-- Staff posts queued by the delivery (payments received, deactivations, ...) and posted to
-- Slack by the run's publish step, so that Slack never holds up an email. One post per key.
create table renewals.slack_outbox (
    post_id    bigserial primary key,
    dedupe_key text not null unique,   -- e.g. payment:S-1:2026-12-01
    kind       text not null,          -- payment_received, deactivation, ...
    text       text not null,
    blocks     jsonb,
    run_id     text,
    status     text not null default 'pending' check (status in ('pending', 'sent', 'failed', 'not_configured')),
    attempts   integer not null default 0,
    detail     text,
    queued_at  timestamptz not null default now(),
    posted_at  timestamptz
);
create index slack_outbox_pending_idx on renewals.slack_outbox (post_id) where status = 'pending';

-- What the run summary looks up by run: CTA changes, deactivations, offboardings started.
create index if not exists cta_events_run_idx on renewals.cta_events (run_id);
create index if not exists deactivations_run_idx on renewals.deactivations (run_id);
create index if not exists offboardings_started_idx on renewals.offboardings (started_at);

-- Renewal funnel by renewal month and playbook: how many renewals, how many the pipeline
-- reached, confirmed, paid, declined, and how many are still open.
create view renewals.v_funnel_by_month as
select date_trunc('month', c.renewal_date)::date as renewal_month,
       c.playbook,
       count(*) as renewals,
       count(*) filter (where reached.any_sent) as contacted,
       count(*) filter (where c.intent_on is not null or c.paid_on is not null) as confirmed,
       count(*) filter (where c.paid_on is not null) as paid,
       count(*) filter (where c.paid_on is null and c.declined_on is not null) as declined,
       count(*) filter (where c.paid_on is null and c.declined_on is null) as open,
       count(*) filter (where c.paid_on is null and c.declined_on is null
                          and c.renewal_date < current_date) as open_overdue,
       round(100.0 * count(*) filter (where c.paid_on is not null) / count(*), 1) as paid_pct
from renewals.renewal_cycles c
cross join lateral (
    select exists (
        select 1 from renewals.touchpoints t
        where t.subscription_id = c.subscription_id and t.renewal_date = c.renewal_date
          and t.status = 'sent' and t.channel = 'email'
    ) as any_sent
) reached
group by 1, 2;

-- Ledger rows by the day they were decided (the as-of date of the run), playbook and
-- touchpoint, by status.
create view renewals.v_sends_by_day as
select t.decided_as_of as day,
       t.playbook,
       t.touchpoint,
       t.channel,
       count(*) filter (where t.status = 'sent') as sent,
       count(*) filter (where t.status = 'skipped') as skipped,
       count(*) filter (where t.status = 'failed') as failed,
       count(*) filter (where t.status = 'unknown') as unknown,
       count(*) filter (where t.status = 'pending') as pending,
       count(*) filter (where t.status = 'dry_run') as dry_run,
       count(*) as total
from renewals.touchpoints t
group by 1, 2, 3, 4;

-- Every paid renewal cycle with its first customer email (the notice) and the days from it
-- to the payment; notice columns are null when it was paid before any email went out.
create view renewals.v_notice_to_payment as
select c.subscription_id,
       c.renewal_date,
       date_trunc('month', c.renewal_date)::date as renewal_month,
       c.playbook,
       c.tier,
       c.account_name,
       notice.touchpoint as notice_touchpoint,
       notice.notice_on,
       c.paid_on,
       c.paid_on - notice.notice_on as days_notice_to_payment,
       c.renewal_date - c.paid_on as days_paid_before_renewal
from renewals.renewal_cycles c
left join lateral (
    select t.touchpoint, t.decided_as_of as notice_on
    from renewals.touchpoints t
    where t.subscription_id = c.subscription_id and t.renewal_date = c.renewal_date
      and t.status = 'sent' and t.channel = 'email'
    order by t.decided_as_of, t.sent_at, t.touchpoint
    limit 1
) notice on true
where c.paid_on is not null;

-- Quarantined input rows by run, table and reason code (a row with two codes counts twice).
create view renewals.v_quarantine_by_reason as
select q.run_id,
       q.as_of,
       q.source_table,
       reason,
       count(*) as rows
from renewals.quarantine q
cross join lateral unnest(q.reasons) as reason
group by 1, 2, 3, 4;

-- Open CTAs by owner and priority, with the oldest one's age.
create view renewals.v_open_ctas as
select c.owner_team,
       c.owner_email,
       c.type,
       c.priority,
       count(*) as open_ctas,
       min(c.opened_at) as oldest_opened_at,
       count(*) filter (where c.due_date < current_date) as past_due
from renewals.ctas c
where c.status = 'open'
group by 1, 2, 3, 4;
