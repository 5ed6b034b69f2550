-- One-click answers given since the last run count from this run's day (never before the day
-- their reminder was sent): the first real run to see an answer fixes the day it counts from, so
-- a run of a past day (a backfill) does not see an answer given after it, and the steps anchored
-- on the answer (AR's invoice task) fall due on a day a run reaches.
update renewals.member_answers
set counted_on = greatest(%(as_of)s::date, sent_on)
where counted_on is null
