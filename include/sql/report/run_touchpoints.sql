-- What a run did with the ledger: rows it settled or left, by touchpoint, status and reason.
select touchpoint, channel, status, coalesce(reason, '') as reason, count(*) as rows
from renewals.touchpoints
where last_run_id = %(run_id)s
group by touchpoint, channel, status, reason
order by touchpoint, status, reason
