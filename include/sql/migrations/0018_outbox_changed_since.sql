-- The outbox recomputes live every member whose facts changed since the outbox's rows were written
-- (include/sql/console/outbox_changed_since.sql): staff actions and the ledger are read by their
-- indexes on time (staff_actions_at_idx, touchpoints_updated_idx); these are the answers' and the
-- reply holds' (a hold changes when a reply makes it and when it is resumed, never before).
create index member_answers_answered_idx on renewals.member_answers (answered_at);
create index reply_holds_changed_idx on renewals.reply_holds (coalesce(resumed_at, held_at));
