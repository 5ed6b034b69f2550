-- How many ledger rows each cohort and shard has to deliver in this run (drives the cohort
-- branch and the shards mapped for each cohort).
select t.cohort, s.shard, count(*) as rows
from renewals.touchpoints t
join {subscriptions} s using (subscription_id, renewal_date)
where not s.paused
  and (case when %(dry_run)s then t.status = 'dry_run' and t.last_run_id = %(run_id)s
            else t.status = 'pending' and renewals.run_may_decide(%(as_of)s, t.due_date, t.decided_as_of) end)
group by t.cohort, s.shard
