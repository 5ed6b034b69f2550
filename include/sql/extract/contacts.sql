-- Runs on the warehouse (renewals_warehouse): the contacts, as text, for staging.
select contact_id::text,
       subscription_id::text,
       role::text,
       name::text,
       email::text,
       opted_out::text
from warehouse.contacts
where %(subscription_id)s::text is null or btrim(subscription_id) = %(subscription_id)s::text
