-- The ledger rows a cohort's shard has to deliver in this run, with what rendering needs.
-- A real run takes every 'pending' claim of its subscriptions that it may decide (due by its as-of
-- date and not decided by a later-dated run: renewals.run_may_decide); a dry run its own previews.
select t.subscription_id, t.renewal_date, t.touchpoint, t.playbook, t.channel, t.due_date,
       t.recipients, t.cc, t.attempts, s.gate, s.account_name, s.tier, s.member_type, s.amount, s.currency,
       s.invoice_number, s.term_months, s.owner_email, s.timezone, s.days_to_renewal, s.paid_on,
       s.decline_reason, s.source_id,
       (select c.name from {contacts} c
        where c.subscription_id = t.subscription_id and c.role = 'primary' and c.name is not null
        order by c.contact_id limit 1) as contact_name,
       -- the names of everyone the message is addressed to, for its greeting (primary first)
       array(select c.name from {contacts} c
             where c.subscription_id = t.subscription_id and c.email = any(t.recipients) and c.name is not null
             group by c.name
             order by min(case when c.role = 'primary' then 0 else 1 end), min(c.contact_id)) as contact_names,
       -- each recipient's name, for the greeting of the copy that goes to that recipient alone
       (select coalesce(jsonb_object_agg(lower(c.email), c.name), jsonb_build_object()) from {contacts} c
        where c.subscription_id = t.subscription_id and c.email = any(t.recipients) and c.name is not null)
           as recipient_names,
       -- staff emails list the member's contacts (e.g. for deactivation)
       case when t.channel = 'staff_email' then (
           select coalesce(jsonb_agg(jsonb_build_object('role', c.role, 'name', c.name, 'email', c.email)
                                     order by c.role, c.email), '[]'::jsonb)
           from {contacts} c where c.subscription_id = t.subscription_id)
       end as contacts,
       -- staff's wording, for a dry run's previews (a real send reads it again under its claim)
       o.edit_subject, o.edit_text
from renewals.touchpoints t
join {subscriptions} s using (subscription_id, renewal_date)
left join renewals.touchpoint_overrides o using (subscription_id, renewal_date, touchpoint)
where t.cohort = %(cohort)s
  and s.shard = %(shard)s
  and not s.paused
  and (case when %(dry_run)s then t.status = 'dry_run' and t.last_run_id = %(run_id)s
            else t.status = 'pending' and renewals.run_may_decide(%(as_of)s, t.due_date, t.decided_as_of) end)
order by t.subscription_id, t.touchpoint
