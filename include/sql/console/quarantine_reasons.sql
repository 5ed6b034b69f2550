-- Quarantined rows by reason code and source table (one run, or all runs).
select reason, q.source_table, count(*) as rows, max(q.quarantined_at) as latest
from renewals.quarantine q cross join lateral unnest(q.reasons) reason
where %(run_id)s::text is null or q.run_id = %(run_id)s
group by reason, q.source_table
order by rows desc, reason
