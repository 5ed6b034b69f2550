-- THE rule of what is due and applies: every touchpoint of each subscription of the table given
-- whose day falls from %(first)s to %(last)s, judged as of %(as_of)s. Classification (the days a
-- run looks back over), the spreadsheet's forecast, the console's outbox and a member's "what
-- comes next" all read this one query (renewals.decisions.due); nothing else decides what is due.
-- A touchpoint applies when its gate held on its due date and holds on the as-of date ("nothing
-- is sent for a gate that no longer holds") and the subscription meets its conditions on the day
-- it goes out. Staff steering is part of the rule: a touchpoint moved by staff is due on its new
-- day (once), and each row carries its skip, edit and the member's hold, for the caller to honour.
-- So is a member's reply (renewals.reply_holds, read from the inbox): their reminders of that
-- renewal cycle are held ('replied') until staff resume them or the gate moves on from the one the
-- reply came in at; classification records them skipped (replied), as delivery does a reply read
-- after classification.
-- Needs the session's temp tables touchpoint_defs and notice_days (renewals.decisions.due).
-- Linear in the subscriptions: each day of the range gives every touchpoint the one anchor date
-- (renewal date, renewal month, intent, payment or hand-over day) that makes it due that day
-- (targets, a few hundred rows), so the due pairs are found by hash look-ups of the
-- subscriptions' anchor dates instead of computing every touchpoint's due date for every
-- subscription (a million subscriptions times twenty touchpoints).
with targets as materialized (
    -- narrow: the touchpoints' other columns are joined once per due pair, in facts
    select d.playbook, d.touchpoint, d.anchor, day.due_date,
           case d.anchor when 'assigned' then day.due_date - (d.days - 1) else day.due_date - d.days end as anchor_date
    from touchpoint_defs d
    cross join lateral (
        select g::date as due_date
        from generate_series(%(first)s::date, %(last)s::date, interval '1 day') g
    ) day
    where d.anchor in ('renewal_date', 'intent_confirmed', 'paid', 'assigned')
    union all
    select d.playbook, d.touchpoint, d.anchor, n.notice_day, n.renewal_month
    from touchpoint_defs d
    join notice_days n on n.months_before = d.months_before
    where d.anchor = 'notice_month' and n.notice_day between %(first)s and %(last)s
),
replied as (
    -- the cycles open reply holds stop, with the gates they hold at ('*': any gate). Few rows,
    -- joined to the due pairs by hash: one row per cycle, so no due pair is counted twice.
    select subscription_id, renewal_date, array_agg(coalesce(gate, '*')) as gates
    from renewals.reply_holds
    where resumed_at is null
    group by subscription_id, renewal_date
),
pairs as (
    -- One branch per anchor column, each a hash join on it. Deliberately not one join over a
    -- lateral list of the five anchors: measured 1.5x to 20x slower, its row estimates mislead the planner.
    select s.*, d.touchpoint, d.due_date
    from {subscriptions} s
    join targets d on d.anchor = 'renewal_date' and d.playbook = s.playbook and d.anchor_date = s.renewal_date
    union all
    select s.*, d.touchpoint, d.due_date
    from {subscriptions} s
    join targets d on d.anchor = 'notice_month' and d.playbook = s.playbook
                   and d.anchor_date = date_trunc('month', s.renewal_date)::date
    union all
    select s.*, d.touchpoint, d.due_date
    from {subscriptions} s
    join targets d on d.anchor = 'intent_confirmed' and d.playbook = s.playbook and d.anchor_date = s.intent_on
    union all
    select s.*, d.touchpoint, d.due_date
    from {subscriptions} s
    join targets d on d.anchor = 'paid' and d.playbook = s.playbook and d.anchor_date = s.paid_on
    union all
    select s.*, d.touchpoint, d.due_date
    from {subscriptions} s
    join targets d on d.anchor = 'assigned' and d.playbook = s.playbook and d.anchor_date = s.assigned_on
    union all
    -- moved by staff into the range from a day outside it: its playbook day computed the other way round
    select * from (
        select s.*, d.touchpoint,
               case d.anchor when 'renewal_date' then s.renewal_date + d.days
                             when 'intent_confirmed' then s.intent_on + d.days
                             when 'paid' then s.paid_on + d.days
                             when 'assigned' then s.assigned_on + (d.days - 1)
                             when 'notice_month' then n.notice_day end as due_date
        from renewals.touchpoint_overrides o
        join {subscriptions} s on s.subscription_id = o.subscription_id and s.renewal_date = o.renewal_date
        join touchpoint_defs d on d.playbook = s.playbook and d.touchpoint = o.touchpoint
        left join notice_days n on d.anchor = 'notice_month' and n.months_before = d.months_before
                               and n.renewal_month = date_trunc('month', s.renewal_date)::date
        where o.move_to between %(first)s and %(last)s
    ) moved
    where not moved.due_date between %(first)s and %(last)s
),
facts as (
    select s.subscription_id, s.renewal_date, s.playbook, s.cohort, s.paused, s.owner_email, s.member_type,
           s.tier, s.hosted_site, s.assigned_on, s.last_contact_at, s.next_meeting_at, s.in_negotiation, s.timezone,
           case when s.paid_on <= %(as_of)s then 'paid'
                when s.declined_on <= %(as_of)s then 'declined'
                when s.intent_on <= %(as_of)s then 'intent_confirmed'
                else 'no_response' end as gate,
           case when s.paid_on <= s.due_date then 'paid'
                when s.declined_on <= s.due_date then 'declined'
                when s.intent_on <= s.due_date then 'intent_confirmed'
                else 'no_response' end as gate_on_due_date,
           s.touchpoint, d.sequence, d.position, d.channel, d.roles, d.staff, d.to_owner, d.offboarding_group,
           d.cc, d.cc_owner, d.gates, d.tiers, d.member_types, d.hosted_site as def_hosted_site, d.contact_logged,
           d.engaged, d.audience, d.is_reminder, r.gates as reply_gates,
           coalesce(o.move_to, s.due_date) as due_date, s.due_date as playbook_due_date,
           o.skip_reason, o.move_to, o.edit_subject, o.edit_text, h.held_until, h.reason as hold_reason,
           h.subscription_id is not null as has_hold
    from pairs s
    join touchpoint_defs d on d.playbook = s.playbook and d.touchpoint = s.touchpoint
    left join renewals.touchpoint_overrides o
           on o.subscription_id = s.subscription_id and o.renewal_date = s.renewal_date and o.touchpoint = s.touchpoint
    left join renewals.member_holds h on h.subscription_id = s.subscription_id
    left join replied r on r.subscription_id = s.subscription_id and r.renewal_date = s.renewal_date
)
select f.subscription_id, f.renewal_date, f.playbook, f.cohort, f.gate, f.paused, f.owner_email, f.member_type,
       f.touchpoint, f.sequence, f.position, f.channel, f.roles, f.staff, f.to_owner, f.offboarding_group,
       f.cc, f.cc_owner, f.audience, f.due_date, f.playbook_due_date, f.skip_reason, f.move_to, f.edit_subject,
       f.edit_text, f.held_until,
       case when h.held then f.hold_reason
            when h.replied then 'the member replied: staff resume the reminders from the member page' end
           as hold_reason,
       h.held, h.replied,
       -- what staff (or the member's reply) made of it: the outbox's, the member page's and the
       -- Upcoming sheet's state
       case when f.skip_reason is not null then 'skipped'
            when h.held or h.replied then 'held'
            when f.move_to is not null then 'moved'
            when f.edit_subject is not null or f.edit_text is not null then 'edited'
            else 'scheduled' end as state
from facts f
-- held on the day it goes out (a run looks at its as-of date; a forecast at the due date)
cross join lateral (
    select f.has_hold and (f.held_until is null or f.held_until > greatest(f.due_date, %(as_of)s::date)) as held,
           -- a reminder of a cycle a reply holds at today's gate
           f.is_reminder and coalesce('*' = any(f.reply_gates) or f.gate = any(f.reply_gates), false) as replied
) h
where f.due_date between %(first)s and %(last)s
  and f.gate = any(f.gates)
  and f.gate_on_due_date = any(f.gates)
  and (f.tiers is null or f.tier = any(f.tiers))
  and (f.member_types is null or f.member_type = any(f.member_types))
  and (f.def_hosted_site is null or f.hosted_site = f.def_hosted_site)
  and (f.contact_logged is null
       or coalesce((f.last_contact_at at time zone f.timezone)::date >= f.assigned_on, false) = f.contact_logged)
  and (f.engaged is null
       or (coalesce((f.next_meeting_at at time zone f.timezone)::date > greatest(f.due_date, %(as_of)s::date), false)
           or f.in_negotiation) = f.engaged)
