-- Subscriptions considered by a run, by playbook, gate and cohort.
select playbook, gate, cohort, count(distinct subscription_id) as subscriptions
from renewals.decisions
where run_id = %(run_id)s
group by playbook, gate, cohort
order by playbook, gate, cohort
