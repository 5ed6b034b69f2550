-- What a new operator and a new analyst need on the first day: why a run was refused, search by
-- the start of a subscription id, and the history of each renewal as its changes only.

-- A run refused for its params (or a quarantined one-member run): the one sentence that says why,
-- shown in the run's note and on its Renewals tab. Null for every run that went ahead.
alter table renewals.runs add column refusal text;

-- The console finds a member by the start of its subscription id ("S-0000" or "s-0000").
create index renewal_cycles_id_prefix_idx on renewals.renewal_cycles (upper(subscription_id) text_pattern_ops);

-- What changed, per renewal: the decision log without its repetitions. Every run logs each due
-- touchpoint again (already_sent, already_skipped, the same hold), so a renewal's rows in
-- `decisions` are mostly the same answer day after day; here a touchpoint appears when a real run
-- first decided it and again only when that decision changed, with the ledger's outcome beside it.
-- Filtering on subscription_id (and renewal_date) reaches decisions through its index.
create view renewals.v_renewal_history as
select d.subscription_id,
       d.renewal_date,
       d.as_of,
       d.run_id,
       d.playbook,
       d.touchpoint,
       d.due_date,
       d.gate,
       d.cohort,
       d.days_to_renewal,
       d.action,
       d.reason,
       t.status as ledger_status,
       t.sent_at,
       t.recipients
from (
    select d.*,
           lag(d.action || ':' || coalesce(d.reason, '')) over (
               partition by d.subscription_id, d.renewal_date, d.touchpoint order by d.as_of, d.decided_at
           ) as previous_decision
    from renewals.decisions d
    where not d.dry_run and d.action <> 'none'
) d
left join renewals.touchpoints t using (subscription_id, renewal_date, touchpoint)
where d.previous_decision is distinct from d.action || ':' || coalesce(d.reason, '');
