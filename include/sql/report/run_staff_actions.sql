-- Staff actions of a run: CTAs opened, CTAs escalated (priority raised or moved to a later
-- stage), offboardings started while the run was going, contacts recorded for deactivation.
with run as (
    select started_at, coalesce(finished_at, now()) as finished_at
    from renewals.runs where run_id = %(run_id)s
)
select
    (select count(distinct e.cta_id) from renewals.cta_events e
     where e.run_id = %(run_id)s and e.kind = 'opened') as ctas_opened,
    (select count(distinct e.cta_id) from renewals.cta_events e
     where e.run_id = %(run_id)s
       and ((e.kind = 'priority'
             and coalesce(array_position(array['low', 'medium', 'high'], e.to_value), 0)
                 > coalesce(array_position(array['low', 'medium', 'high'], e.from_value), 0))
            or (e.kind = 'stage' and e.from_value is not null))) as ctas_escalated,
    (select count(*) from renewals.offboardings o, run
     where o.started_at between run.started_at and run.finished_at) as offboardings_started,
    (select count(*) from renewals.deactivations d where d.run_id = %(run_id)s) as deactivations
