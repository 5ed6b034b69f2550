-- Write the decisions into the ledger. A real run claims what it will send as 'pending' (or, for
-- a step that needs approval, 'awaiting_approval', which no deliver task takes) and records
-- skips; a dry run only previews sends as 'dry_run'. Rows the ledger already settled (sent,
-- skipped, failed, unknown) are never touched, whatever a concurrent run decided, nor open rows a
-- later-dated run decided meanwhile (renewals.run_may_decide); a step staff held is claimed
-- again, so that it is asked about again. What a staff hold covers is 'held' (reason
-- held_by_staff) until a run after the hold decides it again.
insert into renewals.touchpoints as t (
    subscription_id, renewal_date, touchpoint, playbook, channel, cohort, due_date, status, reason,
    recipients, cc, first_run_id, last_run_id, decided_as_of)
select d.subscription_id, d.renewal_date, d.touchpoint, d.playbook, d.channel, d.cohort, d.due_date,
       case when d.action = 'skip' then 'skipped'
            when d.action = 'hold' then 'held'
            when %(dry_run)s then 'dry_run'
            when td.needs_approval then 'awaiting_approval'
            else 'pending' end,
       case when d.action = 'skip' then d.reason when d.action = 'hold' then 'held_by_staff' end,
       d.recipients,
       case when d.action = 'send' then d.cc_addresses else array[]::text[] end,
       %(run_id)s, %(run_id)s, %(as_of)s
from decided d
join touchpoint_defs td on td.playbook = d.playbook and td.touchpoint = d.touchpoint
where d.action = 'send'
   or (d.action in ('skip', 'hold') and not d.paused and not %(dry_run)s)
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
where t.status = 'dry_run'
   or (t.status in ('pending', 'awaiting_approval', 'held') and not %(dry_run)s
       and renewals.run_may_decide(excluded.decided_as_of, t.due_date, t.decided_as_of))
