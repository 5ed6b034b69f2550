-- Runs on a warehouse that is not PostgreSQL (see subscriptions.sql): the contacts, contract
-- columns in this order.
select contact_id,
       subscription_id,
       role,
       name,
       email,
       opted_out
from contacts
