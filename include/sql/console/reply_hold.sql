-- A member's open reply hold (the latest): their reminders wait for staff.
select held_at, gate, renewal_date from renewals.reply_holds
where subscription_id = %(subscription_id)s and resumed_at is null
order by held_at desc
limit 1
