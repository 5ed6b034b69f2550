-- Keep renewals.renewal_cycles current: every renewal cycle the run staged, with its facts.
-- A row changes only when a fact changed, and never from a run older than its last change
-- (a backfill of an earlier day does not undo what a later run saw).
insert into renewals.renewal_cycles as c (
    subscription_id, renewal_date, account_id, account_name, playbook, tier, member_type, amount,
    currency, owner_email, invoice_number, intent_on, paid_on, declined_on, decline_reason, gate,
    first_seen_as_of, changed_as_of, first_run_id, last_run_id)
select s.subscription_id, s.renewal_date, s.account_id, s.account_name, s.playbook, s.tier,
       s.member_type, s.amount, s.currency, s.owner_email, s.invoice_number,
       case when s.intent_on <= %(as_of)s then s.intent_on end,
       case when s.paid_on <= %(as_of)s then s.paid_on end,
       case when s.declined_on <= %(as_of)s then s.declined_on end,
       s.decline_reason, s.gate, %(as_of)s, %(as_of)s, %(run_id)s, %(run_id)s
from {subscriptions} s
on conflict (subscription_id, renewal_date) do update
set account_id = excluded.account_id,
    account_name = excluded.account_name,
    playbook = excluded.playbook,
    tier = excluded.tier,
    member_type = excluded.member_type,
    amount = excluded.amount,
    currency = excluded.currency,
    owner_email = excluded.owner_email,
    invoice_number = excluded.invoice_number,
    intent_on = excluded.intent_on,
    paid_on = excluded.paid_on,
    declined_on = excluded.declined_on,
    decline_reason = excluded.decline_reason,
    gate = excluded.gate,
    changed_as_of = excluded.changed_as_of,
    last_run_id = excluded.last_run_id,
    updated_at = now()
where excluded.changed_as_of >= c.changed_as_of
  and (c.account_id, c.account_name, c.playbook, c.tier, c.member_type, c.amount, c.currency,
       c.owner_email, c.invoice_number, c.intent_on, c.paid_on, c.declined_on, c.decline_reason, c.gate)
      is distinct from
      (excluded.account_id, excluded.account_name, excluded.playbook, excluded.tier,
       excluded.member_type, excluded.amount, excluded.currency, excluded.owner_email,
       excluded.invoice_number, excluded.intent_on, excluded.paid_on, excluded.declined_on,
       excluded.decline_reason, excluded.gate)
