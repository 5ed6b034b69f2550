-- Events a staff system refused for good (parked), newest first, with the answer it gave.
select d.event_id, d.target, d.delivery_id, d.attempts, d.last_status, d.last_answer, d.updated_at,
       e.event_key, e.kind, e.subscription_id, e.renewal_date, e.occurred_at,
       e.payload -> 'account' ->> 'account_name' as account_name
from renewals.sync_deliveries d
join renewals.sync_events e using (event_id)
where d.status = 'parked'
order by d.updated_at desc, d.event_id desc
limit %(limit)s
