-- The Pipeline sheet: one row per renewal in flight shown (the temp table
-- report_pipeline_shown, pipeline_shown.sql), with its last sent and next due touchpoint and its
-- most urgent open CTA, and last how many renewals are in flight in all. Needs the temp table
-- future_touchpoints.
select s.account_name, s.subscription_id, s.playbook, s.tier, s.member_type, s.renewal_date,
       s.days_to_renewal, s.gate, s.cohort,
       last_sent.touchpoint, last_sent.sent_on,
       next_due.touchpoint, next_due.due_date,
       cta.type, cta.priority, cta.owner,
       case when s.intent_on <= %(as_of)s then s.intent_on end,
       case when s.paid_on <= %(as_of)s then s.paid_on end,
       case when s.declined_on <= %(as_of)s then s.declined_on end,
       s.amount, s.currency, s.owner_email, s.total
from report_pipeline_shown s
left join lateral (
    select t.touchpoint, (t.sent_at at time zone %(timezone)s)::date as sent_on
    from renewals.touchpoints t
    where t.subscription_id = s.subscription_id and t.renewal_date = s.renewal_date and t.status = 'sent'
    order by t.sent_at desc, t.touchpoint
    limit 1
) last_sent on true
left join (
    select distinct on (f.subscription_id) f.subscription_id, f.touchpoint, f.due_date
    from future_touchpoints f
    where f.subscription_id in (select subscription_id from report_pipeline_shown)
    order by f.subscription_id, f.due_date, f.position
) next_due on next_due.subscription_id = s.subscription_id
left join lateral (
    select c.type, c.priority, coalesce(nullif(c.owner_email, ''), c.owner_team) as owner
    from renewals.ctas c
    where c.subscription_id = s.subscription_id and c.renewal_date = s.renewal_date and c.status = 'open'
    order by array_position(array['high', 'medium', 'low'], c.priority), c.opened_at
    limit 1
) cta on true
order by s.n
