-- Touchpoints still ahead of every staged subscription (due after the as-of date, up to the
-- horizon) under the gate it stands at now: what the pipeline will do if nothing changes.
-- Needs the session's temp tables report_touchpoint_defs and report_notice_days. A due date
-- anchor this report does not know gives no date and the touchpoint is left out.
create temp table future_touchpoints on commit drop as
select s.subscription_id, s.renewal_date, d.touchpoint, d.position, d.channel, d.audience, due.due_date
from {subscriptions} s
join report_touchpoint_defs d on d.playbook = s.playbook
cross join lateral (
    select case d.anchor
               when 'renewal_date' then s.renewal_date + d.days
               when 'notice_month' then (
                   select n.notice_day from report_notice_days n
                   where n.renewal_month = date_trunc('month', s.renewal_date)::date
                     and n.months_before = d.months_before)
               when 'intent_confirmed' then s.intent_on + d.days
               when 'paid' then s.paid_on + d.days
               when 'assigned' then s.assigned_on + d.days - 1
           end as due_date
) due
where due.due_date > %(as_of)s and due.due_date <= %(horizon)s
  and s.gate = any(d.gates)
  and not s.paused
  and (d.tiers is null or s.tier = any(d.tiers))
  and (d.member_types is null or s.member_type = any(d.member_types))
  and (d.hosted_site is null or s.hosted_site = d.hosted_site)
  and not exists (
      select 1 from renewals.touchpoints t
      where t.subscription_id = s.subscription_id and t.renewal_date = s.renewal_date
        and t.touchpoint = d.touchpoint and t.status <> 'dry_run')
