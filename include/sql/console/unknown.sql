-- Sends handed to the mail relay whose outcome was never recorded (the open-rows partial index).
select t.subscription_id, t.renewal_date, t.touchpoint, t.playbook, t.channel, t.recipients, t.subject,
       t.message_id, t.attempts, t.last_run_id, t.updated_at,
       (select account_name from renewals.renewal_cycles r
        where r.subscription_id = t.subscription_id and r.renewal_date = t.renewal_date) as account_name
from renewals.touchpoints t
where t.status = 'unknown'
order by t.updated_at, t.subscription_id, t.touchpoint
limit %(limit)s
