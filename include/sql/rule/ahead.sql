-- What is still ahead: the rule's touchpoints (include/sql/rule/due_touchpoints.sql) that
-- the ledger has not settled or handed over (a claim not yet delivered, or a row held by staff or
-- an approval, is still ahead), of subscriptions that are not paused. The spreadsheet's forecast,
-- the console's outbox and a member's "what comes next" read this.
select d.*
from ({due}) d
left join renewals.touchpoints t
       on t.subscription_id = d.subscription_id and t.renewal_date = d.renewal_date and t.touchpoint = d.touchpoint
      and t.status not in ('dry_run', 'pending', 'held')
where t.subscription_id is null
  and not d.paused
