-- The outbox's rows matching the filters (each null: all), keys only: the run's rows of the
-- members whose facts did not change since (renewals.outbox_ahead), and the live rule's rows of
-- those whose facts changed (the temp table {changed_ahead}).
select m.subscription_id, m.renewal_date, m.touchpoint, m.due_date, m.position
from (
    select a.subscription_id, a.renewal_date, a.touchpoint, a.due_date, a.position, a.playbook, a.state,
           a.owner_email, a.audience
    from renewals.outbox_ahead a
    where a.run_id = %(run_id)s
      and a.due_date between %(first)s and %(last)s
      and not exists (select from {changed} s where s.subscription_id = a.subscription_id)
    union all
    select subscription_id, renewal_date, touchpoint, due_date, position, playbook, state, owner_email, audience
    from {changed_ahead}
) m
where (%(playbook)s::text is null or m.playbook = %(playbook)s)
  and (%(touchpoint)s::text is null or m.touchpoint = %(touchpoint)s)
  and (%(state)s::text is null or m.state = %(state)s)
  and (%(owner)s::text is null or lower(m.owner_email) = lower(%(owner)s))
  -- a team: the staff the touchpoint goes to or copies, by its name in the playbook
  and (%(team)s::text is null or m.audience ~ ('\m' || %(team)s || '\M'))
