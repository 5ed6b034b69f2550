-- The span of renewal dates staged for this run (to compute the notice calendar for it).
select min(renewal_date), max(renewal_date) from {subscriptions}
