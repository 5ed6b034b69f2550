-- Due touchpoints a run left alone, and why: already settled by an earlier run, or held.
select reason, count(*) as rows
from renewals.decisions
where run_id = %(run_id)s and action in ('none', 'hold') and touchpoint is not null
group by reason
order by reason
