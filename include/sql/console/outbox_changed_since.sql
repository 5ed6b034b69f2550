-- The staged rows of the members whose outbox rows may be stale: what the rule reads of them
-- changed after the rows were written. Staff steered them (renewals.staff_actions); their ledger
-- changed (renewals.touchpoints: a one-member run, an unknown send's verdict, an approval's
-- answer); a reply held or resumed their reminders (renewals.reply_holds). And since the run
-- staged its facts (it started): they answered (renewals.member_answers; its staging counted the
-- answers given before), or a one-member run staged them anew (renewals.runs: their page reads it).
-- A minute's margin: a change whose transaction began before the writing (its now()) may have
-- committed after it read. Each read by its indexes on the time (migrations 0015, 0019). Their
-- rows are recomputed live, so that the outbox agrees with the member page at once. With no rows
-- written (a null written_at), only what changes the staged facts counts (answers, runs).
create temp table {changed} on commit drop as
select s.*
from {staged} s
where s.subscription_id in (
    select subscription_id from renewals.staff_actions where at >= %(written_at)s::timestamptz - interval '1 minute'
    union
    select subscription_id from renewals.touchpoints where updated_at >= %(written_at)s::timestamptz - interval '1 minute'
    union
    select subscription_id from renewals.reply_holds
    where held_at >= %(written_at)s::timestamptz - interval '1 minute'
       or resumed_at >= %(written_at)s::timestamptz - interval '1 minute'
    union
    select subscription_id from renewals.member_answers where answered_at >= %(staged_at)s - interval '1 minute'
    union
    select subscription_id from renewals.runs where subscription_id is not null and started_at > %(staged_at)s
)
