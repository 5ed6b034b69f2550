-- A claim left 'pending' (by a run that died before sending) that today's decisions no longer
-- send is settled as skipped with the reason, and the decision log says so.
with swept as (
    update renewals.touchpoints t
    set status = 'skipped',
        reason = case when t.renewal_date <> s.renewal_date then 'cycle_changed'
                      when t.due_date < %(window_start)s then 'stale'
                      else 'gate_changed' end,
        last_run_id = %(run_id)s,
        updated_at = now()
    from {subscriptions} s
    where t.subscription_id = s.subscription_id
      and t.status = 'pending'
      and not s.paused
      and not exists (
          select 1 from decided d
          where d.subscription_id = t.subscription_id and d.renewal_date = t.renewal_date
            and d.touchpoint = t.touchpoint and d.action = 'send')
    returning t.subscription_id, t.renewal_date, t.touchpoint, t.due_date, t.reason, s.playbook,
              s.days_to_renewal, s.gate, s.cohort
)
insert into renewals.decisions (run_id, as_of, dry_run, subscription_id, renewal_date, playbook,
                                days_to_renewal, gate, cohort, touchpoint, due_date, action, reason)
select %(run_id)s, %(as_of)s, false, subscription_id, renewal_date, playbook, days_to_renewal, gate,
       cohort, touchpoint, due_date, 'skip', reason
from swept
