-- The member's contacts in a run's staging table (indexed by subscription_id).
select contact_id, role, name, email, opted_out from {contacts}
where subscription_id = %(subscription_id)s
order by role, email
