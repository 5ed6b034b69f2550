-- The outbox: every touchpoint still ahead (include/sql/rule/ahead.sql, the rule the runs decide
-- by) from the first to the last day, across members, with the filters given (each null: all),
-- one page in due order, each row with how many match in all (total).
select a.*, s.account_name, s.tier, s.amount, s.currency, s.invoice_number, s.term_months, s.timezone, s.paid_on,
       s.decline_reason, s.days_to_renewal, count(*) over () as total
from ({ahead}) a
join {subscriptions} s on s.subscription_id = a.subscription_id
where (%(playbook)s::text is null or a.playbook = %(playbook)s)
  and (%(touchpoint)s::text is null or a.touchpoint = %(touchpoint)s)
  and (%(state)s::text is null or a.state = %(state)s)
  and (%(owner)s::text is null or lower(a.owner_email) = lower(%(owner)s))
  -- a team: the staff the touchpoint goes to or copies, by its name in the playbook
  and (%(team)s::text is null or a.audience ~ ('\m' || %(team)s || '\M'))
order by a.due_date, a.subscription_id, a.position, a.touchpoint
limit %(limit)s offset %(offset)s
