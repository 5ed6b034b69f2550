-- Runs may come in any order (backfills, retries, catch-up runs, two at once): the rule every
-- statement that claims, sends or settles an open ledger row (pending, awaiting_approval, held)
-- applies. A run dated as_of may decide such a row only once its date has reached the row's due
-- date, and only if no later-dated run has decided the row (decided_as_of: the as-of date of the
-- newest decision). An older run leaves the row to the later one. A SQL function of one
-- expression, so the planner inlines it into each statement's WHERE clause.
create function renewals.run_may_decide(as_of date, due_date date, decided_as_of date) returns boolean
language sql immutable parallel safe as $$
    select due_date <= as_of and decided_as_of <= as_of
$$;
