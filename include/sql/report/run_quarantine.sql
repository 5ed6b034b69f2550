-- Quarantined input rows of a run, by table and reason code.
select source_table, reason, count(*) as rows
from renewals.quarantine, unnest(reasons) as reason
where run_id = %(run_id)s
group by source_table, reason
order by source_table, rows desc, reason
