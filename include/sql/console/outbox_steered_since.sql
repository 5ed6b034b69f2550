-- The staged rows of the members staff steered since the outbox's rows were written (a minute's
-- margin: an action whose transaction began before the writing may have committed after it read).
-- Their rows are recomputed live, so that an action shows in the outbox at once.
create temp table {steered} on commit drop as
select s.*
from {staged} s
where s.subscription_id in (select subscription_id from renewals.staff_actions
                            where at >= %(written_at)s - interval '1 minute')
