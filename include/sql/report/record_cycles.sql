-- Keep renewals.renewal_cycles current: every renewal cycle the run staged, with its facts.
-- A row changes only when a fact changed, and never from a run older than its last change
-- (a backfill of an earlier day does not undo what a later run saw).
-- Unchanged cycles are left out by a join before the upsert: ON CONFLICT locks, and so writes,
-- every existing row it meets, even one its WHERE then leaves as it is (all of them, most days).
with staged as (
    select s.subscription_id, s.renewal_date, s.account_id, s.account_name, s.playbook, s.tier,
           s.member_type, s.amount, s.currency, s.owner_email, s.invoice_number,
           case when s.intent_on <= %(as_of)s then s.intent_on end as intent_on,
           case when s.paid_on <= %(as_of)s then s.paid_on end as paid_on,
           case when s.declined_on <= %(as_of)s then s.declined_on end as declined_on,
           s.decline_reason, s.gate, s.salesforce_account_id, s.salesforce_opportunity_id, s.hubspot_company_id,
           s.hubspot_deal_id
    from {subscriptions} s
)
insert into renewals.renewal_cycles as c (
    subscription_id, renewal_date, account_id, account_name, playbook, tier, member_type, amount,
    currency, owner_email, invoice_number, intent_on, paid_on, declined_on, decline_reason, gate,
    salesforce_account_id, salesforce_opportunity_id, hubspot_company_id, hubspot_deal_id,
    first_seen_as_of, changed_as_of, first_run_id, last_run_id)
select n.*, %(as_of)s, %(as_of)s, %(run_id)s, %(run_id)s
from staged n
left join renewals.renewal_cycles o on o.subscription_id = n.subscription_id and o.renewal_date = n.renewal_date
where o.subscription_id is null
   or (o.changed_as_of <= %(as_of)s
       and (o.account_id, o.account_name, o.playbook, o.tier, o.member_type, o.amount, o.currency,
            o.owner_email, o.invoice_number, o.intent_on, o.paid_on, o.declined_on, o.decline_reason, o.gate,
            o.salesforce_account_id, o.salesforce_opportunity_id, o.hubspot_company_id, o.hubspot_deal_id)
           is distinct from
           (n.account_id, n.account_name, n.playbook, n.tier, n.member_type, n.amount, n.currency,
            n.owner_email, n.invoice_number, n.intent_on, n.paid_on, n.declined_on, n.decline_reason, n.gate,
            n.salesforce_account_id, n.salesforce_opportunity_id, n.hubspot_company_id, n.hubspot_deal_id))
-- a run of a later day may have changed the row since the join read it: the later as-of date wins
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
    salesforce_account_id = excluded.salesforce_account_id,
    salesforce_opportunity_id = excluded.salesforce_opportunity_id,
    hubspot_company_id = excluded.hubspot_company_id,
    hubspot_deal_id = excluded.hubspot_deal_id,
    changed_as_of = excluded.changed_as_of,
    last_run_id = excluded.last_run_id,
    updated_at = now()
where excluded.changed_as_of >= c.changed_as_of
