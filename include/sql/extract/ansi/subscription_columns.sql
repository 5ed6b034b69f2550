-- Runs on the warehouse: no rows, only the columns of the subscriptions table, so the extract
-- reads the optional ones it has (renewals.storage.staging.OPTIONAL_SUBSCRIPTION_COLUMNS).
select * from subscriptions where 1 = 0
