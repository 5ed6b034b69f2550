-- Runs on a warehouse that is not PostgreSQL (any common.sql DbApiHook: MySQL, SQLite, Snowflake,
-- BigQuery, ...), when include/sql/extract/<conn_type>/subscriptions.sql does not replace it.
-- Standard SQL: the contract columns in this order, with whatever types the warehouse has. Every
-- value is staged as text (dates and timestamps ISO 8601, booleans true/false or 0/1) and goes
-- through the same validation as a PostgreSQL warehouse's. The tables are those of the
-- connection's database or schema; qualify them here if yours live elsewhere (and in
-- subscription_columns.sql, which finds the optional columns the table has: they are added where
-- the comment is). A manual run for one subscription wraps this query in scoped.sql.
select subscription_id,
       account_id,
       account_name,
       playbook,
       tier,
       member_type,
       renewal_date,
       term_months,
       amount,
       currency,
       owner_email,
       intent_confirmed_at,
       paid_at,
       invoice_number,
       declined_at,
       decline_reason,
       assigned_at,
       last_contact_at,
       next_meeting_at,
       in_negotiation,
       hosted_site,
       paused,
       timezone,
       updated_at /* optional columns */
from subscriptions
