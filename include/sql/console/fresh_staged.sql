-- The staged rows ({staged}), those of the members in {fresh} replaced by theirs: a subquery the
-- rule reads as its subscriptions.
(select * from {staged} x
 where not exists (select from {fresh} f where f.subscription_id = x.subscription_id)
 union all
 select * from {fresh})
