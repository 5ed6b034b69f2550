-- The span of renewal dates staged for a run (for the notice calendar of the reports).
select min(renewal_date), max(renewal_date) from {subscriptions}
