-- The forecast's touchpoints from the first to the last day as the run's publish step wrote them
-- for the console's outbox (renewals.outbox_ahead: include/sql/rule/ahead.sql over the run's staged
-- subscriptions, judged as of its date), so that the rule is computed once for both. Adds them to
-- the temp table future_touchpoints, as report/future_touchpoints.sql does when there are none.
insert into future_touchpoints (subscription_id, renewal_date, touchpoint, position, channel, audience, due_date,
                                state)
select a.subscription_id, a.renewal_date, a.touchpoint, a.position, d.channel, a.audience, a.due_date, a.state
from renewals.outbox_ahead a
join touchpoint_defs d on d.playbook = a.playbook and d.touchpoint = a.touchpoint
where a.run_id = %(run_id)s
  and a.due_date between %(first)s and %(last)s
