-- Every touchpoint of each subscription's current cycle that fell due inside the look-back
-- window and applies: its gate held on its due date and still holds on the as-of date
-- ("nothing is sent for a gate that no longer holds"). Needs the session's temp tables
-- touchpoint_defs and notice_days (loaded from the playbooks and the business calendar).
create temp table due_touchpoints on commit drop as
select s.subscription_id, s.renewal_date, s.playbook, s.cohort, s.gate, s.paused,
       d.touchpoint, d.sequence, d.position, d.channel, d.roles, d.cc, due.due_date
from {subscriptions} s
join touchpoint_defs d on d.playbook = s.playbook
cross join lateral (
    select case d.anchor
               when 'renewal_date' then s.renewal_date + d.days
               when 'notice_month' then (
                   select n.notice_day from notice_days n
                   where n.renewal_month = date_trunc('month', s.renewal_date)::date
                     and n.months_before = d.months_before)
           end as due_date
) due
where due.due_date between %(window_start)s and %(as_of)s
  and s.gate = any(d.gates)
  and (case when s.paid_on <= due.due_date then 'paid'
            when s.declined_on <= due.due_date then 'declined'
            when s.intent_on <= due.due_date then 'intent_confirmed'
            else 'no_response' end) = any(d.gates)
