-- Runs on the warehouse right before a batch is sent: the current gate facts of the batch's
-- subscriptions, so that a payment or a pause recorded since classification stops the send.
select btrim(subscription_id) as subscription_id,
       renewal_date,
       intent_confirmed_at,
       paid_at,
       declined_at,
       paused
from warehouse.subscriptions
where btrim(subscription_id) = any(%(subscription_ids)s::text[])
