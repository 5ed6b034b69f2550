-- Touchpoints of the subscriptions of {subscriptions} (the run's staged ones, or some of them)
-- due from the first to the last day given under the gate each stands at now, that the ledger does not
-- hold yet: what the pipeline will do if nothing changes. Adds them to the temp table
-- future_touchpoints. Needs the session's temp tables report_touchpoint_defs and
-- report_notice_days. A due date anchor this report does not know gives no date and the
-- touchpoint is left out.
-- Set-based and linear, like classification (classify/due_touchpoints.sql) looking forward:
-- each day of the horizon gives every touchpoint the one anchor date that makes it due that day
-- (targets: touchpoints x days, some thousands of rows), the subscriptions are hash-joined on
-- their anchor dates, and the ledger is anti-joined on its key. No per-row subquery: the one
-- this replaced (the notice day and the ledger looked up per subscription and touchpoint) ran
-- for minutes at 8,000 subscriptions.
insert into future_touchpoints (subscription_id, renewal_date, touchpoint, position, channel, audience, due_date)
with targets as materialized (
    select d.playbook, d.touchpoint, d.position, d.channel, d.audience, d.gates, d.tiers, d.member_types,
           d.hosted_site as def_hosted_site, d.anchor, day.due_date,
           case d.anchor when 'assigned' then day.due_date - (d.days - 1) else day.due_date - d.days end as anchor_date
    from report_touchpoint_defs d
    cross join lateral (
        select g::date as due_date
        from generate_series(%(first)s::date, %(last)s::date, interval '1 day') g
    ) day
    where d.anchor in ('renewal_date', 'intent_confirmed', 'paid', 'assigned')
    union all
    select d.playbook, d.touchpoint, d.position, d.channel, d.audience, d.gates, d.tiers, d.member_types,
           d.hosted_site, d.anchor, n.notice_day, n.renewal_month
    from report_touchpoint_defs d
    join report_notice_days n on n.months_before = d.months_before
    where d.anchor = 'notice_month' and n.notice_day between %(first)s and %(last)s
),
pairs as (
    -- One branch per anchor column, each a hash join on it (as in classification).
    select s.subscription_id, s.renewal_date, s.gate, s.paused, s.tier, s.member_type, s.hosted_site, d.*
    from {subscriptions} s
    join targets d on d.anchor = 'renewal_date' and d.playbook = s.playbook and d.anchor_date = s.renewal_date
    union all
    select s.subscription_id, s.renewal_date, s.gate, s.paused, s.tier, s.member_type, s.hosted_site, d.*
    from {subscriptions} s
    join targets d on d.anchor = 'notice_month' and d.playbook = s.playbook
                   and d.anchor_date = date_trunc('month', s.renewal_date)::date
    union all
    select s.subscription_id, s.renewal_date, s.gate, s.paused, s.tier, s.member_type, s.hosted_site, d.*
    from {subscriptions} s
    join targets d on d.anchor = 'intent_confirmed' and d.playbook = s.playbook and d.anchor_date = s.intent_on
    union all
    select s.subscription_id, s.renewal_date, s.gate, s.paused, s.tier, s.member_type, s.hosted_site, d.*
    from {subscriptions} s
    join targets d on d.anchor = 'paid' and d.playbook = s.playbook and d.anchor_date = s.paid_on
    union all
    select s.subscription_id, s.renewal_date, s.gate, s.paused, s.tier, s.member_type, s.hosted_site, d.*
    from {subscriptions} s
    join targets d on d.anchor = 'assigned' and d.playbook = s.playbook and d.anchor_date = s.assigned_on
)
select p.subscription_id, p.renewal_date, p.touchpoint, p.position, p.channel, p.audience, p.due_date
from pairs p
left join renewals.touchpoints t
       on t.subscription_id = p.subscription_id and t.renewal_date = p.renewal_date and t.touchpoint = p.touchpoint
      and t.status <> 'dry_run'
where t.subscription_id is null
  and p.gate = any(p.gates)
  and not p.paused
  and (p.tiers is null or p.tier = any(p.tiers))
  and (p.member_types is null or p.member_type = any(p.member_types))
  and (p.def_hosted_site is null or p.hosted_site = p.def_hosted_site)
