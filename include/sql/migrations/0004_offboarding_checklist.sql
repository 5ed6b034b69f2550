-- The checklist of each offboarding: the ledger rows of the declined renewal's steps, done
-- (sent, or skipped with a reason) or still to do (pending, unknown, failed).
create view renewals.offboarding_checklist as
select o.subscription_id, o.renewal_date, o.member_type, o.started_at,
       t.touchpoint as step, t.channel, t.status, t.reason, t.updated_at,
       t.status in ('sent', 'skipped') as done
from renewals.offboardings o
join renewals.touchpoints t using (subscription_id, renewal_date)
where t.cohort = 'declined';
