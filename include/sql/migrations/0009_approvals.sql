-- Staff approval before irreversible steps (touchpoints marked needs_approval, in the playbooks
-- named by RENEWALS_APPROVALS). Classification claims such a step as 'awaiting_approval', which no
-- deliver task takes; the run's approval task asks staff once, then the step becomes 'pending'
-- (approved, carried out like any claim) or 'held' (not done; asked again on the next run).
alter table renewals.touchpoints drop constraint touchpoints_status_check;
alter table renewals.touchpoints add constraint touchpoints_status_check check (
    status in ('pending', 'sent', 'skipped', 'failed', 'unknown', 'dry_run', 'awaiting_approval', 'held'));
drop index renewals.touchpoints_open_idx;
create index touchpoints_open_idx on renewals.touchpoints (status, cohort)
    where status in ('pending', 'unknown', 'dry_run', 'awaiting_approval', 'held');
-- Who approved or held the step last (an Airflow user, or 'timeout' when nobody answered in time).
alter table renewals.touchpoints add column decided_by text;

-- Every answer, one row per step asked about: the audit trail of who decided what and when.
create table renewals.approvals (
    run_id          text not null,
    subscription_id text not null,
    renewal_date    date not null,
    touchpoint      text not null,
    playbook        text not null,
    decision        text not null check (decision in ('approved', 'held')),
    decided_by      text not null,
    decided_at      timestamptz not null,
    reason          text,
    asked_at        timestamptz not null,
    primary key (run_id, subscription_id, renewal_date, touchpoint)
);
create index approvals_subscription_idx on renewals.approvals (subscription_id, decided_at);
