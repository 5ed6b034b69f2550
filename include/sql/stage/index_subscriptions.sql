-- Built after validation filled the table (one sort instead of an insert per row into the index).
alter table {subscriptions} add primary key (subscription_id);
analyze {subscriptions};
