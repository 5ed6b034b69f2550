-- The one-member runs that staged some of the members (the temp table {members}) anew since the
-- latest full run started, oldest first: a member's page reads the facts of the latest of them.
select run_key, subscription_id
from renewals.runs
where subscription_id in (select subscription_id from {members})
  and classified_at is not null
  and started_at > %(since)s
order by started_at
