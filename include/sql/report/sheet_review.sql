-- The month's review list (the -90 step): renewals of the playbooks with a review step whose
-- review day falls in the as-of month and that are neither paid nor declined, in the order
-- staff go through them: tier (sponsors first), amount, renewal date; the first rows (the rows
-- parameter; all when null), and last how many there are in all. Needs the temp table
-- report_review_offsets (playbook, days before the renewal date: -90).
with shown as (
    select s.*, s.renewal_date + r.days as review_on,
           row_number() over (order by array_position(
               array['cosai_sponsor', 'premier', 'high_value', 'high_contributing_individual', 'standard'], s.tier),
               s.amount desc nulls last, s.renewal_date, s.account_name, s.subscription_id) as priority,
           count(*) over () as total
    from {subscriptions} s
    join report_review_offsets r on r.playbook = s.playbook
    where s.renewal_date + r.days >= date_trunc('month', %(as_of)s::date)::date
      and s.renewal_date + r.days < (date_trunc('month', %(as_of)s::date) + interval '1 month')::date
      and s.gate not in ('paid', 'declined')
    order by priority
    limit %(rows)s
)
select s.priority, s.account_name, s.subscription_id, s.playbook, s.tier, s.member_type, s.renewal_date,
       s.review_on, s.days_to_renewal, s.amount, s.currency, s.gate,
       case when s.intent_on <= %(as_of)s then s.intent_on end,
       case s.tier
           when 'cosai_sponsor' then 'TC/OP with the CoSAI PGB reps'
           when 'premier' then 'BizDev and TC/OP'
           when 'high_value' then 'BizDev and TC/OP'
           when 'high_contributing_individual' then 'Membership staff and TC/OP'
       end as checkin_call,
       cta.type, cta.priority, s.owner_email, s.paused, s.total
from shown s
left join lateral (
    select c.type, c.priority
    from renewals.ctas c
    where c.subscription_id = s.subscription_id and c.renewal_date = s.renewal_date and c.status = 'open'
    order by array_position(array['high', 'medium', 'low'], c.priority), c.opened_at
    limit 1
) cta on true
order by s.priority
