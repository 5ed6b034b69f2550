-- Runs on the warehouse (renewals_warehouse) when RENEWALS_BOUNCES_QUERY is on: the addresses the
-- mail provider reported as bounced for good or complained about, to suppress. Edit it for your
-- provider's table; it only has to return address, reason (bounced | complained) and detail.
select distinct on (lower(btrim(address)), reason)
       lower(btrim(address)) as address, reason, detail
from (
    select address, case event when 'complaint' then 'complained' else 'bounced' end as reason,
           detail, occurred_at
    from warehouse.mail_events
    where event in ('bounce', 'complaint') and btrim(address) like '%_@_%'
) events
order by lower(btrim(address)), reason, occurred_at desc
