-- A manual run for one subscription: the rows of an extract query of this folder (or of the
-- dialect's) whose id, trimmed of spaces, is the one asked for, as one bound parameter.
select * from ({query}) scoped_extract where trim(subscription_id) = {placeholder}
