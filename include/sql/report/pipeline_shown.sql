-- The renewals the Pipeline sheet shows: in flight (renewal date from 90 days ago to 180 days
-- ahead; paid or declined ones for 30 days after it happened), the first rows (the rows parameter) by renewal
-- date (all when null), numbered, each with how many are in flight in all (total). The sheet's
-- look-ups (last sent, next due, CTA) are then made for these rows only.
create temp table report_pipeline_shown on commit drop as
select s.*, row_number() over w as n, count(*) over () as total
from {subscriptions} s
where s.renewal_date between %(as_of)s::date - 90 and %(as_of)s::date + 180
  and (s.gate not in ('paid', 'declined')
       or greatest(case when s.paid_on <= %(as_of)s then s.paid_on end,
                   case when s.declined_on <= %(as_of)s then s.declined_on end) >= %(as_of)s::date - 30)
window w as (order by s.renewal_date, s.account_name, s.subscription_id)
order by n
limit %(rows)s
