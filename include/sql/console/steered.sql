-- The staged rows of the members staff steered (a touchpoint override or a hold) or whose reply
-- holds their reminders, by key: the only ones the outbox's held, skipped, moved and edited states
-- can come from.
create temp table {steered} on commit drop as
select s.*
from {staged} s
where s.subscription_id in (select subscription_id from renewals.touchpoint_overrides
                            union select subscription_id from renewals.member_holds
                            union select subscription_id from renewals.reply_holds where resumed_at is null)
