-- Runs on the warehouse right before a batch is sent: the current gate facts of the batch's
-- subscriptions, so that a payment or a pause recorded since classification stops the send.
-- Looked up by the id exactly as the warehouse holds it (the primary key serves it) and read as
-- text, like the extract: deliver/normalise_recheck.sql applies the extract's normalisation.
select subscription_id::text,
       renewal_date::text,
       intent_confirmed_at::text,
       paid_at::text,
       declined_at::text,
       paused::text,
       updated_at::text
from warehouse.subscriptions
where subscription_id = any(%(source_ids)s::text[])
