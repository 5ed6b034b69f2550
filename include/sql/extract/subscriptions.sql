-- Runs on the warehouse (renewals_warehouse). Every column comes out as text so that a bad
-- value reaches validation and quarantine instead of failing the extract.
-- %(subscription_id)s restricts a manual run to one subscription (null = all).
select subscription_id::text,
       account_id::text,
       account_name::text,
       playbook::text,
       tier::text,
       member_type::text,
       renewal_date::text,
       term_months::text,
       amount::text,
       currency::text,
       owner_email::text,
       intent_confirmed_at::text,
       paid_at::text,
       invoice_number::text,
       declined_at::text,
       decline_reason::text,
       assigned_at::text,
       last_contact_at::text,
       next_meeting_at::text,
       in_negotiation::text,
       hosted_site::text,
       paused::text,
       timezone::text,
       updated_at::text
from warehouse.subscriptions
where %(subscription_id)s::text is null or btrim(subscription_id) = %(subscription_id)s::text
