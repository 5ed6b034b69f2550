-- The sync events of the changes made since %(since)s, derived from the ledger, the CTA tables,
-- the offboardings, the renewal cycles, staff's actions, members' answers and the reply holds. Idempotent: each change has one key, so deriving an
-- overlapping window again adds nothing (renewals.sync.events names the kinds).
with cycle as (
    select subscription_id, renewal_date, account_id, account_name, playbook, gate, amount, currency,
           salesforce_account_id, salesforce_opportunity_id, hubspot_company_id, hubspot_deal_id
    from renewals.renewal_cycles
),
cta_json as (
    select c.cta_id, c.subscription_id, c.renewal_date,
           jsonb_build_object('cta_id', c.cta_id, 'type', c.type, 'stage', c.stage, 'priority', c.priority,
                              'owner_team', c.owner_team, 'owner_email', c.owner_email, 'status', c.status,
                              'outcome', c.outcome, 'due_date', c.due_date, 'playbook', c.playbook,
                              'account_name', c.account_name, 'opened_at', c.opened_at) as cta
    from renewals.ctas c
),
cta_changes as (
    -- one event per CTA and the touchpoint (or staff action) that changed it, by kind of change
    select e.cta_id,
           case when e.kind = 'opened' then 'cta.opened'
                when e.kind in ('stage', 'priority') then 'cta.escalated'
                when e.kind in ('owner_team', 'owner_email') then 'cta.reowned'
                when e.kind = 'status' and e.to_value = 'closed' then 'cta.closed'
           end as kind,
           coalesce(e.touchpoint, 'event-' || e.event_id) as cause,
           max(e.at) as occurred_at,
           jsonb_agg(jsonb_build_object('field', e.kind, 'from', e.from_value, 'to', e.to_value, 'detail', e.detail)
                     order by e.event_id) as changes
    from renewals.cta_events e
    where e.at > %(since)s
    group by 1, 2, 3
),
derived as (
    select ch.kind || '/' || ch.cta_id || case when ch.kind = 'cta.opened' then '' else '/' || ch.cause end as event_key,
           ch.kind, j.subscription_id, j.renewal_date, ch.occurred_at,
           jsonb_build_object('cta', j.cta, 'changes', ch.changes, 'touchpoint', ch.cause) as payload
    from cta_changes ch join cta_json j using (cta_id)
    where ch.kind is not null
    union all
    select 'task.due/' || t.task_id, 'task.due', j.subscription_id, j.renewal_date, t.created_at,
           jsonb_build_object('task', jsonb_build_object('task_id', t.task_id, 'title', t.title,
                                                         'assignee_email', t.assignee_email, 'due_date', t.due_date,
                                                         'touchpoint', t.touchpoint, 'status', t.status),
                              'cta', j.cta)
    from renewals.cta_tasks t join cta_json j using (cta_id)
    where t.created_at > %(since)s
    union all
    select 'message.' || tp.status || '/' || tp.subscription_id || '/' || tp.renewal_date || '/' || tp.touchpoint,
           'message.' || tp.status, tp.subscription_id, tp.renewal_date, tp.updated_at,
           jsonb_build_object('message', jsonb_build_object('touchpoint', tp.touchpoint, 'status', tp.status,
                                                            'playbook', tp.playbook,
                                                            'channel', tp.channel, 'subject', tp.subject,
                                                            'recipients', tp.recipients, 'cc', tp.cc,
                                                            'message_id', tp.message_id, 'sent_at', tp.sent_at,
                                                            'reason', tp.reason, 'due_date', tp.due_date))
    from renewals.touchpoints tp
    where tp.updated_at > %(since)s
      and tp.channel in ('email', 'staff_email')
      and tp.status in ('sent', 'skipped', 'held')
    union all
    select 'offboarding.started/' || o.subscription_id || '/' || o.renewal_date, 'offboarding.started',
           o.subscription_id, o.renewal_date, o.started_at,
           jsonb_build_object('offboarding', jsonb_build_object('member_type', o.member_type,
                                                                'decline_reason', o.decline_reason,
                                                                'started_at', o.started_at))
    from renewals.offboardings o
    where o.started_at > %(since)s
    union all
    -- done when every step of its checklist is (sent, or skipped with a reason)
    select 'offboarding.done/' || c.subscription_id || '/' || c.renewal_date, 'offboarding.done',
           c.subscription_id, c.renewal_date, max(c.updated_at),
           jsonb_build_object('offboarding', jsonb_build_object('member_type', min(c.member_type),
                                                                'decline_reason', min(o.decline_reason),
                                                                'started_at', min(c.started_at)),
                              'steps', jsonb_agg(jsonb_build_object('step', c.step, 'status', c.status,
                                                                    'reason', c.reason) order by c.step))
    from renewals.offboarding_checklist c
    join renewals.offboardings o using (subscription_id, renewal_date)
    group by c.subscription_id, c.renewal_date
    having bool_and(c.done) and max(c.updated_at) > %(since)s
    union all
    -- what staff did from the console (hold, lift, skip, move, edit, restore, note), as they did it
    select 'staff.action/' || sa.action_id, 'staff.action', sa.subscription_id, sa.renewal_date, sa.at,
           jsonb_build_object('staff_action', jsonb_build_object('action', sa.action, 'touchpoint', sa.touchpoint,
                                                                 'reason', sa.reason, 'actor', sa.actor,
                                                                 'before', sa.before, 'after', sa.after))
    from renewals.staff_actions sa
    where sa.at > %(since)s
    union all
    -- a member's one-click answer, with the address whose link was used (never the link's token)
    select 'member.answered/' || a.answer_id, 'member.answered', a.subscription_id, a.renewal_date, a.answered_at,
           jsonb_build_object('answer', jsonb_build_object('answer', a.answer, 'reason', a.reason,
                                                           'recipient', a.recipient, 'touchpoint', a.touchpoint,
                                                           'answered_at', a.answered_at))
    from renewals.member_answers a
    where a.answered_at > %(since)s
    union all
    -- a person's reply read from the inbox holds the reminders (its first lines, as its CTA shows
    -- them), until staff resume them or the gate changes
    select 'reply.' || r.change || '/' || h.inbox_message_id, 'reply.' || r.change, h.subscription_id,
           h.renewal_date, r.at,
           jsonb_build_object('reply', jsonb_build_object('sender', m.sender, 'subject', m.subject,
                                                          'excerpt', m.excerpt, 'received_at', m.received_at,
                                                          'in_reply_to', m.in_reply_to, 'gate', h.gate,
                                                          'held_at', h.held_at, 'resumed_at', h.resumed_at,
                                                          'resumed_by', h.resumed_by))
    from renewals.reply_holds h
    join renewals.inbox_messages m using (inbox_message_id)
    cross join lateral (values ('held', h.held_at), ('resumed', h.resumed_at)) as r(change, at)
    where r.at > %(since)s
    union all
    select 'renewal.gate/' || rc.subscription_id || '/' || rc.renewal_date || '/' || rc.gate, 'renewal.gate',
           rc.subscription_id, rc.renewal_date, rc.updated_at, jsonb_build_object('gate', rc.gate)
    from renewals.renewal_cycles rc
    where rc.updated_at > %(since)s
)
insert into renewals.sync_events (event_key, kind, subscription_id, renewal_date, occurred_at, payload)
select d.event_key, d.kind, d.subscription_id, d.renewal_date, d.occurred_at,
       jsonb_build_object('account', jsonb_build_object('account_id', cy.account_id, 'account_name', cy.account_name,
                                                        'playbook', cy.playbook, 'gate', cy.gate,
                                                        'amount', cy.amount, 'currency', cy.currency),
                          -- the CRM records the warehouse row names (optional extract columns)
                          'salesforce', jsonb_build_object('account_id', cy.salesforce_account_id,
                                                           'opportunity_id', cy.salesforce_opportunity_id),
                          'hubspot', jsonb_build_object('company_id', cy.hubspot_company_id,
                                                        'deal_id', cy.hubspot_deal_id))
       || d.payload
from derived d
left join cycle cy using (subscription_id, renewal_date)
order by d.occurred_at, d.event_key
on conflict (event_key) do nothing
