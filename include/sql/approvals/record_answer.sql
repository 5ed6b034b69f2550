-- Apply staff's answer to the steps this run asked about: an approved step becomes a 'pending'
-- claim (carried out by the same delivery as every claim), a held one 'held' (asked again on the
-- next run). Only rows still awaiting this run's answer change, so a retry changes nothing twice,
-- and an answer that comes after a later-dated run decided the row again (renewals.run_may_decide)
-- changes nothing: that run asks again. The approvals table keeps who decided what, and when.
with answered as (
    update renewals.touchpoints t
    set status = case when a.approved then 'pending' else 'held' end,
        reason = case when a.approved then null else %(held_reason)s end,
        decided_by = %(decided_by)s,
        updated_at = now()
    from unnest(%(subscription_ids)s::text[], %(renewal_dates)s::date[], %(touchpoints)s::text[],
                %(approved)s::boolean[]) as a(subscription_id, renewal_date, touchpoint, approved)
    where t.subscription_id = a.subscription_id and t.renewal_date = a.renewal_date
      and t.touchpoint = a.touchpoint and t.status = 'awaiting_approval' and t.last_run_id = %(run_id)s
      and renewals.run_may_decide(%(as_of)s, t.due_date, t.decided_as_of)
    returning t.subscription_id, t.renewal_date, t.touchpoint, t.playbook, a.approved
)
insert into renewals.approvals (run_id, subscription_id, renewal_date, touchpoint, playbook, decision,
                                decided_by, decided_at, reason, asked_at)
select %(run_id)s, subscription_id, renewal_date, touchpoint, playbook,
       case when approved then 'approved' else 'held' end,
       %(decided_by)s, %(decided_at)s, case when approved then null else %(note)s end,
       (select coalesce(classified_at, now()) from renewals.runs where run_id = %(run_id)s)
from answered
on conflict do nothing
