-- Member answers whose staff email is still to send: none written yet, or refused for now by an
-- earlier publish ('retry'), with the renewal cycle's facts as the runs recorded them
-- (renewals.renewal_cycles: the playbook that says who hears of it, the owner, the account).
-- An answer to a cycle no run has recorded yet waits for the run that records it.
select a.answer_id, a.subscription_id, a.renewal_date, a.answer, a.reason, a.recipient, a.touchpoint,
       a.answered_at, c.account_name, c.playbook, c.owner_email, c.tier, c.member_type, c.amount, c.currency,
       c.invoice_number, e.attempts
from renewals.member_answers a
join renewals.renewal_cycles c using (subscription_id, renewal_date)
left join renewals.answer_emails e using (answer_id)
where e.answer_id is null or e.status = 'retry'
order by a.answer_id
