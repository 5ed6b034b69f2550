-- What a dry run would have sent: its rendered messages (renewals.previews, primary key prefix).
select subscription_id, renewal_date, touchpoint, message_id, subject, recipients, text_body, html_body
from renewals.previews
where run_id = %(run_id)s
order by subscription_id, renewal_date, touchpoint
limit %(limit)s
