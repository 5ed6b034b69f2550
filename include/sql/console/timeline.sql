-- One member's timeline, newest first: every ledger row, delivery attempt (with operator
-- verdicts and who gave them), CTA with its events and tasks, health score change,
-- offboarding, deactivated contact, approval answer, staff action or note, member's answer, mail
-- read from the inbox, reply hold and quarantined input row. Each branch reads by an index whose
-- first column is subscription_id (or a CTA id found that way): no scans.
with member_ctas as (
    select * from renewals.ctas where subscription_id = %(subscription_id)s
)
select at, kind, renewal_date, touchpoint, detail from (
    select coalesce(t.sent_at, t.updated_at) as at, 'ledger' as kind, t.renewal_date, t.touchpoint,
           jsonb_build_object('status', t.status, 'reason', t.reason, 'channel', t.channel, 'cohort', t.cohort,
                              'due_date', t.due_date, 'recipients', t.recipients, 'cc', t.cc,
                              'subject', t.subject, 'message_id', t.message_id, 'attempts', t.attempts,
                              'sent_at', t.sent_at, 'first_run_id', t.first_run_id,
                              'last_run_id', t.last_run_id, 'decided_by', t.decided_by) as detail
    from renewals.touchpoints t where t.subscription_id = %(subscription_id)s
    union all
    select a.at, 'attempt', a.renewal_date, a.touchpoint,
           jsonb_build_object('outcome', a.outcome, 'detail', a.detail, 'run_id', a.run_id,
                              'decided_by', a.decided_by)
    from renewals.delivery_attempts a where a.subscription_id = %(subscription_id)s
    union all
    select c.opened_at, 'cta', c.renewal_date, null,
           jsonb_build_object('cta_id', c.cta_id, 'type', c.type, 'stage', c.stage, 'priority', c.priority,
                              'owner_team', c.owner_team, 'owner_email', c.owner_email, 'status', c.status,
                              'outcome', c.outcome, 'due_date', c.due_date, 'closed_at', c.closed_at,
                              -- its records in the staff systems (renewals.sync), by target
                              'records', (select jsonb_object_agg(r.target, r.remote_url) from renewals.sync_records r
                                          where r.record_key = c.cta_id and r.remote_url ~ '^https://'))
    from member_ctas c
    union all
    select e.at, 'cta_event', c.renewal_date, e.touchpoint,
           jsonb_build_object('cta_id', c.cta_id, 'type', c.type, 'event', e.kind, 'from', e.from_value,
                              'to', e.to_value, 'detail', e.detail, 'run_id', e.run_id)
    from member_ctas c join renewals.cta_events e on e.cta_id = c.cta_id
    union all
    select k.created_at, 'cta_task', c.renewal_date, k.touchpoint,
           jsonb_build_object('cta_id', c.cta_id, 'type', c.type, 'title', k.title,
                              'assignee_email', k.assignee_email, 'due_date', k.due_date, 'status', k.status)
    from member_ctas c join renewals.cta_tasks k on k.cta_id = c.cta_id
    union all
    select h.at, 'health', h.renewal_date, h.touchpoint,
           jsonb_build_object('score', h.score, 'label', h.label, 'reason', h.reason, 'run_id', h.run_id)
    from renewals.health_scores h where h.subscription_id = %(subscription_id)s
    union all
    select o.started_at, 'offboarding', o.renewal_date, null,
           jsonb_build_object('member_type', o.member_type, 'decline_reason', o.decline_reason,
                              'completed_at', o.completed_at)
    from renewals.offboardings o where o.subscription_id = %(subscription_id)s
    union all
    select d.recorded_at, 'deactivation', d.renewal_date, null,
           jsonb_build_object('contact_id', d.contact_id, 'role', d.role, 'email', d.email, 'run_id', d.run_id)
    from renewals.deactivations d where d.subscription_id = %(subscription_id)s
    union all
    select p.decided_at, 'approval', p.renewal_date, p.touchpoint,
           jsonb_build_object('decision', p.decision, 'decided_by', p.decided_by, 'reason', p.reason,
                              'asked_at', p.asked_at, 'run_id', p.run_id)
    from renewals.approvals p where p.subscription_id = %(subscription_id)s
    union all
    select a.at, 'staff_action', a.renewal_date, a.touchpoint,
           jsonb_build_object('action', a.action, 'by', a.actor, 'reason', a.reason, 'before', a.before,
                              'after', a.after, 'action_id', a.action_id)
    from renewals.staff_actions a where a.subscription_id = %(subscription_id)s
    union all
    select m.answered_at, 'answer', m.renewal_date, m.touchpoint,
           jsonb_build_object('answer', m.answer, 'reason', m.reason, 'recipient', m.recipient,
                              'counted_on', m.counted_on)
    from renewals.member_answers m where m.subscription_id = %(subscription_id)s
    union all
    select i.received_at, 'inbox', i.renewal_date, null,
           jsonb_build_object('kind', i.kind, 'sender', i.sender, 'subject', i.subject, 'excerpt', i.excerpt,
                              'in_reply_to', i.in_reply_to, 'flagged_at', i.flagged_at)
    from renewals.inbox_messages i where i.subscription_id = %(subscription_id)s
    union all
    select coalesce(r.resumed_at, r.held_at), 'reply_hold', r.renewal_date, null,
           jsonb_build_object('held_at', r.held_at, 'gate', r.gate, 'resumed_at', r.resumed_at,
                              'resumed_by', r.resumed_by)
    from renewals.reply_holds r where r.subscription_id = %(subscription_id)s
    union all
    select q.quarantined_at, 'quarantine', null, null,
           jsonb_build_object('run_id', q.run_id, 'as_of', q.as_of, 'source_table', q.source_table,
                              'record_id', q.record_id, 'reasons', q.reasons, 'raw', q.raw)
    from renewals.quarantine q where q.subscription_id = %(subscription_id)s
) events
order by at desc, kind
limit %(limit)s
