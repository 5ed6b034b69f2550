-- The Upcoming sheet: every touchpoint due in the next days (the days parameter), by day, the
-- first rows (the rows parameter; all when null), and last how many there are in all. Needs the
-- temp table future_touchpoints.
select f.due_date, to_char(f.due_date, 'Dy') as weekday, f.touchpoint, s.playbook, f.channel,
       s.account_name, s.subscription_id, s.renewal_date, s.gate, f.audience, f.state,
       count(*) over () as total
from future_touchpoints f
join {subscriptions} s on s.subscription_id = f.subscription_id
where f.due_date <= %(as_of)s::date + %(days)s
order by f.due_date, s.playbook, f.position, s.account_name, s.subscription_id
limit %(rows)s
