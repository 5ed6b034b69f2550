-- The steps this run claimed as 'awaiting_approval', with what staff need to decide.
select t.subscription_id, t.renewal_date, t.touchpoint, t.playbook, t.cohort, t.due_date,
       s.account_name, s.shard
from renewals.touchpoints t
join {subscriptions} s using (subscription_id, renewal_date)
where t.status = 'awaiting_approval' and t.last_run_id = %(run_id)s
order by t.playbook, t.touchpoint, t.subscription_id
