-- Quarantined rows by reason code and source table (one run, or all runs). A row still bad is
-- quarantined again by every run: `rows` counts each distinct row once, `runs` the runs that found them.
select reason, q.source_table, count(distinct (q.record_id, q.raw)) as rows, count(distinct q.run_id) as runs,
       max(q.quarantined_at) as latest
from renewals.quarantine q cross join lateral unnest(q.reasons) reason
where %(run_id)s::text is null or q.run_id = %(run_id)s
group by reason, q.source_table
order by rows desc, reason
