-- The decision log: one row per due touchpoint of every subscription considered, and one row
-- for each subscription with nothing due (or held because it is paused).
insert into renewals.decisions (run_id, as_of, dry_run, subscription_id, renewal_date, playbook,
                                days_to_renewal, gate, cohort, touchpoint, due_date, action, reason)
select %(run_id)s, %(as_of)s, %(dry_run)s, s.subscription_id, s.renewal_date, s.playbook,
       s.days_to_renewal, s.gate, s.cohort, d.touchpoint, d.due_date,
       case when d.subscription_id is not null then d.action when s.paused then 'hold' else 'none' end,
       case when d.subscription_id is not null then d.reason when s.paused then 'paused' else 'nothing_due' end
from {subscriptions} s
left join decided d on d.subscription_id = s.subscription_id
-- in the order of the (subscription_id, as_of) index: its pages are then filled one after another
order by s.subscription_id
