-- Every touchpoint of each subscription's current cycle that fell due inside the look-back
-- window and applies: its gate held on its due date and still holds on the as-of date
-- ("nothing is sent for a gate that no longer holds"), and the subscription meets its
-- conditions today. Needs the session's temp tables touchpoint_defs and notice_days (loaded
-- from the playbooks and the business calendar).
-- Linear in the subscriptions: each day of the window gives every touchpoint the one anchor
-- date (renewal date, renewal month, intent, payment or hand-over day) that makes it due that
-- day (targets, a few hundred rows), so the due pairs are found by hash look-ups of the
-- subscriptions' anchor dates instead of computing every touchpoint's due date for every
-- subscription (a million subscriptions times twenty touchpoints).
create temp table due_touchpoints on commit drop as
with targets as materialized (
    select d.playbook, d.touchpoint, d.sequence, d.position, d.channel, d.roles, d.staff, d.to_owner,
           d.offboarding_group, d.cc, d.cc_owner, d.gates, d.tiers, d.member_types, d.hosted_site,
           d.contact_logged, d.engaged, d.anchor, day.due_date,
           case d.anchor when 'assigned' then day.due_date - (d.days - 1) else day.due_date - d.days end as anchor_date
    from touchpoint_defs d
    cross join lateral (
        select g::date as due_date
        from generate_series(%(window_start)s::date, %(as_of)s::date, interval '1 day') g
    ) day
    where d.anchor in ('renewal_date', 'intent_confirmed', 'paid', 'assigned')
    union all
    select d.playbook, d.touchpoint, d.sequence, d.position, d.channel, d.roles, d.staff, d.to_owner,
           d.offboarding_group, d.cc, d.cc_owner, d.gates, d.tiers, d.member_types, d.hosted_site,
           d.contact_logged, d.engaged, d.anchor, n.notice_day, n.renewal_month
    from touchpoint_defs d
    join notice_days n on n.months_before = d.months_before
    where d.anchor = 'notice_month' and n.notice_day between %(window_start)s and %(as_of)s
),
pairs as (
    -- One branch per anchor column, each a hash join on it. Deliberately not one join over a
    -- lateral list of the five anchors: measured 1.5x to 20x slower, its row estimates mislead the planner.
    select s.*, d.touchpoint, d.sequence, d.position, d.channel, d.roles, d.staff, d.to_owner,
           d.offboarding_group, d.cc, d.cc_owner, d.gates, d.tiers, d.member_types, d.hosted_site as def_hosted_site,
           d.contact_logged, d.engaged, d.due_date
    from {subscriptions} s
    join targets d on d.anchor = 'renewal_date' and d.playbook = s.playbook and d.anchor_date = s.renewal_date
    union all
    select s.*, d.touchpoint, d.sequence, d.position, d.channel, d.roles, d.staff, d.to_owner,
           d.offboarding_group, d.cc, d.cc_owner, d.gates, d.tiers, d.member_types, d.hosted_site as def_hosted_site,
           d.contact_logged, d.engaged, d.due_date
    from {subscriptions} s
    join targets d on d.anchor = 'notice_month' and d.playbook = s.playbook
                   and d.anchor_date = date_trunc('month', s.renewal_date)::date
    union all
    select s.*, d.touchpoint, d.sequence, d.position, d.channel, d.roles, d.staff, d.to_owner,
           d.offboarding_group, d.cc, d.cc_owner, d.gates, d.tiers, d.member_types, d.hosted_site as def_hosted_site,
           d.contact_logged, d.engaged, d.due_date
    from {subscriptions} s
    join targets d on d.anchor = 'intent_confirmed' and d.playbook = s.playbook and d.anchor_date = s.intent_on
    union all
    select s.*, d.touchpoint, d.sequence, d.position, d.channel, d.roles, d.staff, d.to_owner,
           d.offboarding_group, d.cc, d.cc_owner, d.gates, d.tiers, d.member_types, d.hosted_site as def_hosted_site,
           d.contact_logged, d.engaged, d.due_date
    from {subscriptions} s
    join targets d on d.anchor = 'paid' and d.playbook = s.playbook and d.anchor_date = s.paid_on
    union all
    select s.*, d.touchpoint, d.sequence, d.position, d.channel, d.roles, d.staff, d.to_owner,
           d.offboarding_group, d.cc, d.cc_owner, d.gates, d.tiers, d.member_types, d.hosted_site as def_hosted_site,
           d.contact_logged, d.engaged, d.due_date
    from {subscriptions} s
    join targets d on d.anchor = 'assigned' and d.playbook = s.playbook and d.anchor_date = s.assigned_on
)
select p.subscription_id, p.renewal_date, p.playbook, p.cohort, p.gate, p.paused, p.owner_email, p.member_type,
       p.touchpoint, p.sequence, p.position, p.channel, p.roles, p.staff, p.to_owner, p.offboarding_group,
       p.cc, p.cc_owner, p.due_date
from pairs p
where p.gate = any(p.gates)
  and (case when p.paid_on <= p.due_date then 'paid'
            when p.declined_on <= p.due_date then 'declined'
            when p.intent_on <= p.due_date then 'intent_confirmed'
            else 'no_response' end) = any(p.gates)
  and (p.tiers is null or p.tier = any(p.tiers))
  and (p.member_types is null or p.member_type = any(p.member_types))
  and (p.def_hosted_site is null or p.hosted_site = p.def_hosted_site)
  and (p.contact_logged is null
       or coalesce((p.last_contact_at at time zone p.timezone)::date >= p.assigned_on, false) = p.contact_logged)
  and (p.engaged is null
       or (coalesce((p.next_meeting_at at time zone p.timezone)::date > %(as_of)s, false) or p.in_negotiation)
          = p.engaged)
