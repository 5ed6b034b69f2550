-- The suppressions of a member's contacts (the unique key's index on address serves it).
select address, scope, reason, source, detail, created_at, created_by
from renewals.suppressions
where address = any(%(addresses)s::text[])
order by address, scope
