-- Bad input rows, latest runs first, each with its reason codes and the raw row as extracted.
select q.quarantine_id, q.run_id, q.as_of, q.source_table, q.record_id, q.subscription_id, q.reasons, q.raw,
       q.quarantined_at
from renewals.quarantine q
where %(run_id)s::text is null or q.run_id = %(run_id)s
order by q.quarantined_at desc, q.quarantine_id
limit %(limit)s
