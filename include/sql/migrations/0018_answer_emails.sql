-- Staff hear of each member answer by email where its playbook says (answers_to_staff): one row
-- per answer, written 'unknown' right before the email is handed to the relay and settled after
-- it, so a retry or a second publisher never sends it twice (as the ledger does for touchpoints).
create table renewals.answer_emails (
    answer_id   bigint primary key references renewals.member_answers,
    status      text not null check (status in ('unknown', 'sent', 'retry', 'failed', 'not_configured')),
    recipients  text[] not null default '{}',
    message_id  text,
    detail      text,            -- the relay's answer, or why nobody was emailed
    attempts    int not null default 0,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now()
);
create index answer_emails_retry_idx on renewals.answer_emails (answer_id) where status = 'retry';

-- Answers given before these emails existed were posted on Slack only: they stay so.
insert into renewals.answer_emails (answer_id, status, detail)
select answer_id, 'not_configured', 'answered before answer emails (migration 0018)' from renewals.member_answers;
