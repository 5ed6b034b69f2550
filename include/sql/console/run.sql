select run_id, as_of, dry_run, subscription_id, started_at, finished_at, refusal
from renewals.runs where run_id = %(run_id)s
