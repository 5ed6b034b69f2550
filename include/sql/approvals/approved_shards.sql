-- Where the steps this run's approvers approved are to be carried out (their cohort and shard);
-- delivering a shard again after a retry is harmless, since only 'pending' claims are taken.
select distinct t.cohort, s.shard
from renewals.approvals a
join renewals.touchpoints t using (subscription_id, renewal_date, touchpoint)
join {subscriptions} s using (subscription_id, renewal_date)
where a.run_id = %(run_id)s and a.decision = 'approved' and t.status = 'pending'
order by t.cohort, s.shard
