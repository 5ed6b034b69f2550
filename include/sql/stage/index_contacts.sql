-- Built after validation filled the table (one sort instead of an insert per row into each index).
alter table {contacts} add primary key (contact_id);
create index on {contacts} (subscription_id);
analyze {contacts};
