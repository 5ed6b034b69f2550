-- The warehouse rows re-read by extract/recheck_gates.sql (as text), normalised with the rules of
-- stage/validate_subscriptions.sql, one row per subscription: of two rows with the very same id
-- (a warehouse without a primary key) one with a valid renewal date first, then the latest
-- updated, as validation keeps.
-- A member's latest one-click answer of the cycle counts as its gate where the warehouse has none
-- (as stage/validate_subscriptions.sql counts it).
with warehouse_rows as (
select distinct on (btrim(w.source_id))
       btrim(w.source_id) as subscription_id,
       renewals.try_date(btrim(w.renewal_date, E' \t\r\n')) as renewal_date,
       coalesce(renewals.try_bool(btrim(w.paused, E' \t\r\n')), false) as paused,
       renewals.try_timestamptz(btrim(w.intent_confirmed_at, E' \t\r\n')) as intent_confirmed_at,
       renewals.try_timestamptz(btrim(w.paid_at, E' \t\r\n')) as paid_at,
       renewals.try_timestamptz(btrim(w.declined_at, E' \t\r\n')) as declined_at
from unnest(%(source_ids)s::text[], %(renewal_dates)s::text[], %(intent_confirmed_ats)s::text[],
            %(paid_ats)s::text[], %(declined_ats)s::text[], %(pauseds)s::text[], %(updated_ats)s::text[])
     as w(source_id, renewal_date, intent_confirmed_at, paid_at, declined_at, paused, updated_at)
order by btrim(w.source_id),
         renewals.try_date(btrim(w.renewal_date, E' \t\r\n')) is null,
         renewals.try_timestamptz(btrim(w.updated_at, E' \t\r\n')) desc nulls last
)
select r.subscription_id, r.renewal_date, r.paused,
       coalesce(r.intent_confirmed_at, case when a.answer = 'intent' then a.answered_at end),
       r.paid_at,
       coalesce(r.declined_at, case when a.answer = 'decline' then a.answered_at end)
from warehouse_rows r
left join lateral (
    select m.answer, m.answered_at from renewals.member_answers m
    where m.subscription_id = r.subscription_id and m.renewal_date = r.renewal_date
    order by m.answered_at desc, m.answer_id desc
    limit 1
) a on true
