-- A member's renewal cycles as the runs saw them, the latest first (primary key prefix).
select subscription_id, renewal_date, account_id, account_name, playbook, tier, member_type, amount,
       currency, owner_email, invoice_number, intent_on, paid_on, declined_on, decline_reason, gate,
       first_seen_as_of, changed_as_of, last_run_id
from renewals.renewal_cycles
where subscription_id = %(subscription_id)s
order by renewal_date desc
