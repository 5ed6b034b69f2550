-- The contacts of a member that leaves, recorded for deactivation in the member systems; returns
-- the ones newly recorded, by role and address (the staff post lists them in that order).
with recorded as (
    insert into renewals.deactivations (contact_id, subscription_id, renewal_date, role, email, run_id)
    select c.contact_id, c.subscription_id, %(renewal_date)s, c.role, c.email, %(run_id)s
    from {contacts} c
    where c.subscription_id = %(subscription_id)s
    on conflict (contact_id, renewal_date) do nothing
    returning role, email
)
select role, email from recorded order by role, email
