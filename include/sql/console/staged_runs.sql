-- The latest classified runs whose staging tables may still hold the member's current facts
-- (work tables are dropped after their retention): newest first, a handful at most.
select run_id, run_key, as_of, started_at
from renewals.runs
where classified_at is not null and (subscription_id is null or subscription_id = %(subscription_id)s)
order by started_at desc
limit 3
