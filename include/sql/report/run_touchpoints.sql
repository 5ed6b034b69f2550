-- What a run did with the ledger: rows it settled or left, by touchpoint, channel, status and
-- reason; `emailed`: rows whose settling handed a message to the relay (a CTA change tells its
-- owner only when the CTA opened or moved); `history`: skips of touchpoints that fell due before
-- the pipeline's first real run (the first run over a warehouse settles a year of them).
with first_run as (
    select min(as_of) as as_of from renewals.runs
    where not dry_run and classified_at is not null and refusal is null
)
select touchpoint, channel, status, coalesce(reason, '') as reason, count(*) as rows,
       count(*) filter (where message_id is not null) as emailed,
       count(*) filter (where status = 'skipped' and reason in ('superseded', 'stale')
                        and due_date < first_run.as_of) as history
from renewals.touchpoints, first_run
where last_run_id = %(run_id)s
group by touchpoint, channel, status, reason
order by touchpoint, status, reason
