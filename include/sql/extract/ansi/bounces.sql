-- The bounces and complaints the mail provider reported (RENEWALS_BOUNCES_QUERY), for a warehouse
-- other than PostgreSQL: address, reason (bounced | complained), detail. A repeated address is
-- entered once (the suppression list is keyed by address).
select lower(trim(address)) as address,
       case event when 'complaint' then 'complained' else 'bounced' end as reason,
       detail
from mail_events
where event in ('bounce', 'complaint') and trim(address) like '%_@_%'
