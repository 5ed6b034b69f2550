-- Runs on a warehouse that is not PostgreSQL, right before a batch is sent: the current gate facts
-- of the batch's subscriptions, looked up by the id exactly as the warehouse holds it (the primary
-- key serves the IN list of one bound parameter per id). The values are staged
-- as text and normalised by deliver/normalise_recheck.sql like the extract's.
select subscription_id,
       renewal_date,
       intent_confirmed_at,
       paid_at,
       declined_at,
       paused,
       updated_at
from subscriptions
where subscription_id in ({source_ids})
