-- The Paid log: every renewal cycle the pipeline has seen paid, newest payment first, with
-- the day its receipt went out (the receipt touchpoints of the playbooks); the first rows (the
-- rows parameter; all when null), and last how many there are in all.
with shown as (
    select c.*, count(*) over () as total
    from renewals.renewal_cycles c
    where c.paid_on is not null and c.paid_on <= %(as_of)s
    order by c.paid_on desc, c.account_name, c.subscription_id
    limit %(rows)s
)
select c.paid_on, c.account_name, c.subscription_id, c.playbook, c.tier, c.member_type,
       c.renewal_date, c.amount, c.currency, c.invoice_number, receipt.sent_on, c.total
from shown c
left join lateral (
    select min((t.sent_at at time zone %(timezone)s)::date) as sent_on
    from renewals.touchpoints t
    where t.subscription_id = c.subscription_id and t.renewal_date = c.renewal_date
      and t.status = 'sent' and t.touchpoint = any(%(receipt_touchpoints)s)
) receipt on true
order by c.paid_on desc, c.account_name, c.subscription_id
