-- What to do with each due touchpoint: send the latest of its sequence while it is at most
-- catch_up_days late; record older ones as superseded and late ones as stale; hold everything
-- of a paused subscription; leave alone what the ledger has already settled, and what a later-dated
-- run has claimed or held (renewals.run_may_decide: that run decides it, not an older one). Staff
-- steering (include/sql/rule/due_touchpoints.sql gives it per row): a skip is recorded skipped,
-- what a staff hold covers today is held (and caught up by the catch-up rule when the hold ends);
-- a reminder a member's reply holds is skipped (replied): staff have the conversation.
create temp table decided on commit drop as
with ranked as (
    select d.*, t.status as ledger_status, t.decided_as_of as ledger_decided_as_of,
           row_number() over (partition by d.subscription_id, d.renewal_date, d.sequence
                              order by d.due_date desc, d.position desc) as recency
    from due_touchpoints d
    left join renewals.touchpoints t using (subscription_id, renewal_date, touchpoint)
),
audience as (
    select r.subscription_id, r.touchpoint,
           coalesce(array_agg(distinct c.email) filter (where not c.opted_out), array[]::text[]) as recipients,
           coalesce(array_agg(distinct c.email) filter (where c.opted_out), array[]::text[]) as opted_out
    from ranked r
    join {contacts} c on c.subscription_id = r.subscription_id and c.role = any(r.roles)
    where r.channel = 'email'
    group by r.subscription_id, r.touchpoint
),
addressed as (
    select r.*,
           case r.channel
               when 'email' then coalesce(a.recipients, array[]::text[])
               when 'staff_email' then array_remove(
                   r.staff
                   || case when r.to_owner then r.owner_email end
                   || case when r.offboarding_group then
                          case r.member_type when 'OP' then %(offboarding_op)s else %(offboarding_tc)s end
                      end,
                   null)
               else array[]::text[]
           end as recipients,
           array_remove(r.cc || case when r.cc_owner then r.owner_email end, null) as cc_addresses,
           coalesce(a.opted_out, array[]::text[]) as opted_out
    from ranked r
    left join audience a using (subscription_id, touchpoint)
),
judged as (
    select r.*,
           case
               when r.paused then 'hold:paused'
               when r.ledger_status in ('sent', 'skipped', 'failed', 'unknown') then 'none:already_' || r.ledger_status
               when r.ledger_status in ('pending', 'awaiting_approval', 'held')
                    and not renewals.run_may_decide(%(as_of)s, r.due_date, r.ledger_decided_as_of)
                   then 'none:decided_by_later_run'
               when r.recency > 1 then 'skip:superseded'
               when %(as_of)s::date - r.due_date > %(catch_up_days)s then 'skip:stale'
               when r.skip_reason is not null then 'skip:skipped_by_staff'
               when r.held then 'hold:held by staff until ' || coalesce(r.held_until::text, 'lifted')
               when r.replied then 'skip:replied'
               when r.channel = 'email' and cardinality(r.recipients) = 0
                    and cardinality(r.opted_out) > 0 then 'skip:opted_out'
               when r.channel in ('email', 'staff_email') and cardinality(r.recipients) = 0 then 'skip:no_recipient'
               when cardinality(r.opted_out) > 0 then 'send:opted_out_excluded'
               when %(as_of)s::date > r.due_date then 'send:catch_up'
               else 'send:'
           end as verdict
    from addressed r
)
select j.*, split_part(j.verdict, ':', 1) as action, nullif(split_part(j.verdict, ':', 2), '') as reason
from judged j
