-- Touchpoints of the given subscriptions (the run's staged ones, or some of them)
-- due from the first to the last day given, still ahead (include/sql/rule/ahead.sql: the rule
-- classification decides by, judged as of the run's date), with what staff made of each (state):
-- what the pipeline will do if nothing changes. Adds them to the temp table future_touchpoints.
insert into future_touchpoints (subscription_id, renewal_date, touchpoint, position, channel, audience, due_date,
                                state)
select a.subscription_id, a.renewal_date, a.touchpoint, a.position, a.channel, a.audience, a.due_date, a.state
from ({ahead}) a
