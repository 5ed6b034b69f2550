-- A member's staged row in {members} replaced by the one a later one-member run staged ({staged}).
with replaced as (
    delete from {members} where subscription_id = %(subscription_id)s
)
insert into {members}
select * from {staged} where subscription_id = %(subscription_id)s
