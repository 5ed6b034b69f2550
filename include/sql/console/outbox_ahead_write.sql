-- What the one rule puts ahead (include/sql/rule/ahead.sql) from the first to the last day, as of
-- the run's date, as the outbox's rows of the run (renewals.outbox_ahead).
insert into renewals.outbox_ahead
    (run_id, subscription_id, renewal_date, touchpoint, due_date, position, playbook, state, owner_email, audience)
select %(run_id)s, a.subscription_id, a.renewal_date, a.touchpoint, a.due_date, a.position, a.playbook, a.state,
       a.owner_email, a.audience
from ({ahead}) a
