-- Every touchpoint of each subscription's current cycle that fell due inside the look-back
-- window and applies: its gate held on its due date and still holds on the as-of date
-- ("nothing is sent for a gate that no longer holds"), and the subscription meets its
-- conditions today. Needs the session's temp tables touchpoint_defs and notice_days (loaded
-- from the playbooks and the business calendar).
create temp table due_touchpoints on commit drop as
select s.subscription_id, s.renewal_date, s.playbook, s.cohort, s.gate, s.paused, s.owner_email, s.member_type,
       d.touchpoint, d.sequence, d.position, d.channel, d.roles, d.staff, d.to_owner, d.offboarding_group,
       d.cc, d.cc_owner, due.due_date
from {subscriptions} s
join touchpoint_defs d on d.playbook = s.playbook
cross join lateral (
    select case d.anchor
               when 'renewal_date' then s.renewal_date + d.days
               when 'notice_month' then (
                   select n.notice_day from notice_days n
                   where n.renewal_month = date_trunc('month', s.renewal_date)::date
                     and n.months_before = d.months_before)
               when 'intent_confirmed' then s.intent_on + d.days
               when 'paid' then s.paid_on + d.days
               when 'assigned' then s.assigned_on + (d.days - 1)
           end as due_date
) due
where due.due_date between %(window_start)s and %(as_of)s
  and s.gate = any(d.gates)
  and (case when s.paid_on <= due.due_date then 'paid'
            when s.declined_on <= due.due_date then 'declined'
            when s.intent_on <= due.due_date then 'intent_confirmed'
            else 'no_response' end) = any(d.gates)
  and (d.tiers is null or s.tier = any(d.tiers))
  and (d.member_types is null or s.member_type = any(d.member_types))
  and (d.hosted_site is null or s.hosted_site = d.hosted_site)
  and (d.contact_logged is null
       or coalesce((s.last_contact_at at time zone s.timezone)::date >= s.assigned_on, false) = d.contact_logged)
  and (d.engaged is null
       or (coalesce((s.next_meeting_at at time zone s.timezone)::date > %(as_of)s, false) or s.in_negotiation)
          = d.engaged)
