-- Runs on the warehouse (renewals_warehouse). Columns come out with the warehouse's own types and
-- COPY writes them as text. The staging table keeps a column's type only where validation can take
-- it as is (a date, a timestamp with time zone, a boolean, ...: staging.py); any other column is
-- staged as text, so a bad value reaches validation and quarantine instead of failing the extract.
-- %(subscription_id)s restricts a manual run to one subscription (null = all). The optional columns
-- the table has (subscription_columns.sql finds them: the CRM ids) are added where the comment is.
select subscription_id::text,
       account_id::text,
       account_name::text,
       playbook::text,
       tier::text,
       member_type::text,
       renewal_date,
       term_months,
       amount,
       currency::text,
       owner_email::text,
       intent_confirmed_at,
       paid_at,
       invoice_number::text,
       declined_at,
       decline_reason::text,
       assigned_at::text,
       last_contact_at,
       next_meeting_at,
       in_negotiation,
       hosted_site,
       paused,
       timezone::text,
       updated_at /* optional columns */
from warehouse.subscriptions
where %(subscription_id)s::text is null or btrim(subscription_id) = %(subscription_id)s::text
