-- Write the decisions into the ledger. A real run claims what it will send as 'pending' and
-- records skips; a dry run only previews sends as 'dry_run'. Rows the ledger already settled
-- (sent, skipped, failed, unknown) are never touched, whatever a concurrent run decided.
insert into renewals.touchpoints as t (
    subscription_id, renewal_date, touchpoint, playbook, channel, cohort, due_date, status, reason,
    recipients, cc, first_run_id, last_run_id, decided_as_of)
select subscription_id, renewal_date, touchpoint, playbook, channel, cohort, due_date,
       case when action = 'skip' then 'skipped' when %(dry_run)s then 'dry_run' else 'pending' end,
       case when action = 'skip' then reason end,
       recipients,
       case when action = 'send' then cc_addresses else array[]::text[] end,
       %(run_id)s, %(run_id)s, %(as_of)s
from decided
where action = 'send' or (action = 'skip' and not %(dry_run)s)
on conflict (subscription_id, renewal_date, touchpoint) do update
set status = excluded.status,
    reason = excluded.reason,
    recipients = excluded.recipients,
    cc = excluded.cc,
    cohort = excluded.cohort,
    due_date = excluded.due_date,
    decided_as_of = excluded.decided_as_of,
    last_run_id = excluded.last_run_id,
    first_run_id = case when t.status = 'dry_run' then excluded.first_run_id else t.first_run_id end,
    updated_at = now()
where t.status = 'dry_run' or (t.status = 'pending' and not %(dry_run)s)
