-- A claim left 'pending' (by a run that died before sending), or a step still waiting for or held
-- from an approval, that today's decisions no longer send is settled as skipped with the reason,
-- and the decision log says so. Only a row this run may decide (renewals.run_may_decide: due by
-- its as-of date, no later-dated run has decided it) is settled; one that a later-dated run
-- claimed or held is left to that run, and the decision log says so too. What a staff hold holds
-- today, or staff moved to a later day, waits.
with swept as (
    update renewals.touchpoints t
    set status = 'skipped',
        reason = case when t.renewal_date <> s.renewal_date then 'cycle_changed'
                      when t.due_date < %(window_start)s then 'stale'
                      else 'gate_changed' end,
        decided_as_of = %(as_of)s,
        last_run_id = %(run_id)s,
        updated_at = now()
    from {subscriptions} s
    where t.subscription_id = s.subscription_id
      and t.status in ('pending', 'awaiting_approval', 'held')
      and renewals.run_may_decide(%(as_of)s, t.due_date, t.decided_as_of)
      and not s.paused
      -- NOT IN over non-null keys: one hash of today's sends, whatever the row estimates (a
      -- correlated NOT EXISTS may be planned as a loop over decided for every pending row)
      and (t.subscription_id, t.renewal_date, t.touchpoint) not in (
          select d.subscription_id, d.renewal_date, d.touchpoint from decided d where d.action in ('send', 'hold'))
      and not exists (
          select 1 from renewals.touchpoint_overrides o
          where o.subscription_id = t.subscription_id and o.renewal_date = t.renewal_date
            and o.touchpoint = t.touchpoint and o.move_to > %(as_of)s)
    returning t.subscription_id, t.renewal_date, t.touchpoint, t.due_date, t.reason, s.playbook,
              s.days_to_renewal, s.gate, s.cohort
),
-- open rows a later-dated run decided that today's decisions did not consider (due after today)
left_to_later_run as (
    select t.subscription_id, t.renewal_date, t.touchpoint, t.due_date, s.playbook, s.days_to_renewal, s.gate,
           s.cohort
    from renewals.touchpoints t
    join {subscriptions} s using (subscription_id)
    where t.status in ('pending', 'awaiting_approval', 'held')
      and not renewals.run_may_decide(%(as_of)s, t.due_date, t.decided_as_of)
      and not s.paused
      and (t.subscription_id, t.renewal_date, t.touchpoint) not in (
          select d.subscription_id, d.renewal_date, d.touchpoint from decided d)
)
insert into renewals.decisions (run_id, as_of, dry_run, subscription_id, renewal_date, playbook,
                                days_to_renewal, gate, cohort, touchpoint, due_date, action, reason)
select %(run_id)s, %(as_of)s, false, subscription_id, renewal_date, playbook, days_to_renewal, gate,
       cohort, touchpoint, due_date, 'skip', reason
from swept
union all
select %(run_id)s, %(as_of)s, false, subscription_id, renewal_date, playbook, days_to_renewal, gate,
       cohort, touchpoint, due_date, 'none', 'decided_by_later_run'
from left_to_later_run
