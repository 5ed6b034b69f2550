-- Bad input rows, latest first, each distinct row once (every run quarantines a row that is still
-- bad again): its reason codes, how many runs found it since when, the latest of them, and the row
-- as it came from the warehouse.
with found as (
    select distinct on (q.source_table, q.record_id, q.raw)
           q.quarantine_id, q.run_id, q.as_of, q.source_table, q.record_id, q.subscription_id, q.reasons, q.raw,
           q.quarantined_at,
           count(*) over (partition by q.source_table, q.record_id, q.raw) as runs,
           min(q.as_of) over (partition by q.source_table, q.record_id, q.raw) as first_as_of
    from renewals.quarantine q
    where %(run_id)s::text is null or q.run_id = %(run_id)s
    order by q.source_table, q.record_id, q.raw, q.quarantined_at desc, q.quarantine_id desc
)
select * from found
order by quarantined_at desc, quarantine_id
limit %(limit)s
