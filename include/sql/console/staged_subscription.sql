-- The member's row in a run's staging table (its primary key).
select * from {subscriptions} where subscription_id = %(subscription_id)s
