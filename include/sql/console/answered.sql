-- A one-click answer given since the run that staged the members (the temp table {members}, their
-- staged rows) counts on the console at once, as the next run will count it
-- (stage/validate_subscriptions.sql): the latest answer of the cycle, where the staged facts hold
-- no such gate yet.
with answered as (
    select distinct on (subscription_id, renewal_date) subscription_id, renewal_date, answer, reason,
           coalesce(counted_on, greatest(%(as_of)s::date, sent_on)) as counted_on
    from renewals.member_answers
    where subscription_id in (select subscription_id from {members})
    order by subscription_id, renewal_date, answered_at desc, answer_id desc
)
update {members} m
set intent_on = coalesce(m.intent_on, case when a.answer = 'intent' then a.counted_on end),
    declined_on = coalesce(m.declined_on, case when a.answer = 'decline' then a.counted_on end),
    decline_reason = case when m.declined_on is null and a.answer = 'decline' then a.reason else m.decline_reason end
from answered a
where a.subscription_id = m.subscription_id and a.renewal_date = m.renewal_date
