-- Validate and normalise the extracted subscriptions. Each row either lands in the run's
-- subscriptions table (normalised, with its gate, days to renewal, cohort and shard as of the
-- run's date) or in renewals.quarantine with every reason code that applies.
-- Normalisation: text is trimmed of spaces, tabs and line breaks, blank means null,
-- playbook/tier/email lower-cased, member type and currency upper-cased, timezone names matched
-- case-insensitively. Columns the extract staged with the warehouse's own type (a date, a
-- timestamp with time zone, ...) need no parsing: renewals.given and renewals.parse_* take both.
-- The subscription id is trimmed of spaces only, as the extract and the gate
-- re-check match it; an id with a tab, line break or other control character is quarantined.
with zones as materialized (
    select name from pg_timezone_names
),
-- The playbooks' input rules as columns: compared per row as booleans and arrays, not jsonb.
playbook_rules as materialized (
    select key as playbook,
           value -> 'requires' ? 'tier' as requires_tier,
           value -> 'requires' ? 'member_type' as requires_member_type,
           value -> 'requires' ? 'amount' as requires_amount,
           value -> 'requires' ? 'owner_email' as requires_owner_email,
           value -> 'requires' ? 'assigned_at' as requires_assigned_at,
           case when jsonb_typeof(value -> 'tiers') = 'array'
                then array(select jsonb_array_elements_text(value -> 'tiers')) end as tiers,
           case when jsonb_typeof(value -> 'member_types') = 'array'
                then array(select jsonb_array_elements_text(value -> 'member_types')) end as member_types
    from jsonb_each(%(playbooks)s::jsonb)
),
parsed as materialized (
    select r.row_no,
           r.subscription_id as source_id,
           nullif(btrim(r.subscription_id), '') as subscription_id,
           nullif(btrim(r.account_id, E' \t\r\n'), '') as account_id,
           nullif(btrim(r.account_name, E' \t\r\n'), '') as account_name,
           nullif(lower(btrim(r.playbook, E' \t\r\n')), '') as playbook,
           nullif(lower(btrim(r.tier, E' \t\r\n')), '') as tier,
           nullif(upper(btrim(r.member_type, E' \t\r\n')), '') as member_type,
           renewals.given(r.renewal_date) as renewal_date_text,
           renewals.parse_date(r.renewal_date) as renewal_date,
           renewals.given(r.term_months) as term_months_text,
           renewals.parse_int(r.term_months) as term_months,
           renewals.given(r.amount) as amount_text,
           renewals.parse_numeric(r.amount) as amount,
           nullif(upper(btrim(r.currency, E' \t\r\n')), '') as currency,
           nullif(lower(btrim(r.owner_email, E' \t\r\n')), '') as owner_email,
           nullif(btrim(r.invoice_number, E' \t\r\n'), '') as invoice_number,
           nullif(btrim(r.decline_reason, E' \t\r\n'), '') as decline_reason,
           num_nonnulls(renewals.given(r.intent_confirmed_at), renewals.given(r.paid_at),
                        renewals.given(r.declined_at), renewals.given(r.last_contact_at),
                        renewals.given(r.next_meeting_at), renewals.given(r.updated_at)) as timestamps_given,
           renewals.parse_timestamptz(r.intent_confirmed_at) as intent_confirmed_at,
           renewals.parse_timestamptz(r.paid_at) as paid_at,
           renewals.parse_timestamptz(r.declined_at) as declined_at,
           renewals.parse_timestamptz(r.last_contact_at) as last_contact_at,
           renewals.parse_timestamptz(r.next_meeting_at) as next_meeting_at,
           renewals.parse_timestamptz(r.updated_at) as updated_at,
           nullif(btrim(r.assigned_at, E' \t\r\n'), '') as assigned_text,
           renewals.try_date(left(btrim(r.assigned_at, E' \t\r\n'), 10)) as assigned_on,
           num_nonnulls(renewals.given(r.in_negotiation), renewals.given(r.hosted_site), renewals.given(r.paused))
               as flags_given,
           num_nonnulls(renewals.parse_bool(r.in_negotiation), renewals.parse_bool(r.hosted_site),
                        renewals.parse_bool(r.paused)) as flags_valid,
           coalesce(renewals.parse_bool(r.in_negotiation), false) as in_negotiation,
           coalesce(renewals.parse_bool(r.hosted_site), false) as hosted_site,
           coalesce(renewals.parse_bool(r.paused), false) as paused,
           nullif(btrim(r.timezone, E' \t\r\n'), '') as timezone_text,
           z.name as timezone,
           nullif(btrim(r.salesforce_account_id, E' \t\r\n'), '') as salesforce_account_id,
           nullif(btrim(r.salesforce_opportunity_id, E' \t\r\n'), '') as salesforce_opportunity_id,
           nullif(btrim(r.hubspot_company_id, E' \t\r\n'), '') as hubspot_company_id,
           nullif(btrim(r.hubspot_deal_id, E' \t\r\n'), '') as hubspot_deal_id
    from {raw_subscriptions} r
    left join zones z on lower(z.name) = lower(nullif(btrim(r.timezone, E' \t\r\n'), ''))
),
rules as (
    select p.*, pr.playbook is not null as known_playbook, pr.requires_tier, pr.requires_member_type,
           pr.requires_amount, pr.requires_owner_email, pr.requires_assigned_at, pr.tiers, pr.member_types,
           coalesce(p.timezone, %(business_timezone)s) as zone
    from parsed p
    left join playbook_rules pr on pr.playbook = p.playbook
),
checked as materialized (
    select c.*,
           array_remove(array[
               case when subscription_id is null then 'missing_subscription_id'
                    when subscription_id ~ '[[:cntrl:]]' then 'invalid_subscription_id' end,
               case when account_id is null then 'missing_account_id' end,
               case when account_name is null then 'missing_account_name' end,
               case when playbook is null then 'missing_playbook'
                    when not known_playbook then 'unknown_playbook' end,
               case when renewal_date_text is null then 'missing_renewal_date'
                    when renewal_date is null then 'invalid_renewal_date'
                    when renewal_date < %(as_of)s::date - interval '3 years'
                      or renewal_date > %(as_of)s::date + interval '5 years' then 'renewal_date_out_of_range' end,
               case when tier is null and requires_tier then 'missing_tier'
                    when not tier = any(tiers) then 'unknown_tier' end,
               case when member_type is null and requires_member_type then 'missing_member_type'
                    when not member_type = any(member_types) then 'unknown_member_type' end,
               case when term_months_text is not null and coalesce(term_months not between 1 and 120, true)
                    then 'invalid_term_months' end,
               case when amount_text is not null and amount is null then 'invalid_amount'
                    when amount < 0 then 'negative_amount'
                    when amount >= 10000000000 then 'invalid_amount'
                    when amount is null and requires_amount then 'missing_amount' end,
               case when currency is not null and currency !~ '^[A-Z]{{3}}$' then 'invalid_currency'
                    when currency is null and amount is not null then 'missing_currency' end,
               case when owner_email is not null and not renewals.is_email(owner_email) then 'invalid_owner_email'
                    when owner_email is null and requires_owner_email then 'missing_owner_email' end,
               case when timezone_text is not null and timezone is null then 'invalid_timezone' end,
               case when timestamps_given <> num_nonnulls(intent_confirmed_at, paid_at, declined_at, last_contact_at,
                                                          next_meeting_at, updated_at)
                    then 'invalid_timestamp' end,
               case when assigned_text is not null and assigned_on is null then 'invalid_assigned_at'
                    when assigned_text is null and requires_assigned_at then 'missing_assigned_at' end,
               case when flags_given <> flags_valid then 'invalid_flag' end,
               -- a fact dated after both today and the run's date cannot have happened yet
               case when greatest(intent_confirmed_at, paid_at, declined_at)
                         > greatest(%(now)s::timestamptz, %(as_of)s::date + interval '1 day') + interval '1 day'
                    then 'gate_in_future' end,
               case when least(intent_confirmed_at, paid_at, declined_at)
                         < renewal_date - make_interval(months => coalesce(term_months, 12) + 12)
                    then 'gate_before_cycle' end
           ], null) as reasons
    from rules c
),
-- Of the copies of one subscription id, the first valid one, most recently updated, is kept. Only
-- the rows of a repeated id are ranked (found by hashing): sorting every row to rank the few
-- repeated ones cost more than any check.
repeated_ids as (
    select subscription_id from checked where subscription_id is not null group by subscription_id having count(*) > 1
),
-- Read by both inserts, each applying this cheap ranking again: keeping a copy of every row cost more.
ranked as not materialized (
    select k.*, 1::bigint as copy_no
    from checked k
    where not exists (select from repeated_ids r where r.subscription_id = k.subscription_id)
    union all
    select k.*,
           row_number() over (
               partition by k.subscription_id
               order by cardinality(k.reasons) = 0 desc, k.updated_at desc nulls last, k.row_no
           )
    from checked k
    where k.subscription_id in (select subscription_id from repeated_ids)
),
quarantined as (
    insert into renewals.quarantine (run_id, as_of, source_table, record_id, subscription_id, reasons, raw)
    select %(run_id)s, %(as_of)s, 'subscriptions', coalesce(k.subscription_id, r.subscription_id),
           k.subscription_id,
           k.reasons || case when k.copy_no > 1 and k.subscription_id is not null
                             then array['duplicate_subscription_id'] else array[]::text[] end,
           to_jsonb(r) - 'row_no'
    from ranked k
    join {raw_subscriptions} r using (row_no)
    where cardinality(k.reasons) > 0 or (k.copy_no > 1 and k.subscription_id is not null)
    returning 1
),
-- A member's one-click answer (the latest of the cycle) counts as the gate it names when the
-- warehouse has not recorded that gate itself: intent -> intent confirmed, decline -> declined.
-- It counts from the day the first run to see it fixed (stage/count_answers.sql); a dry run,
-- which fixes nothing, counts it from its own day.
answered as (
    select distinct on (subscription_id, renewal_date) subscription_id, renewal_date, answer, reason, answered_at,
           coalesce(counted_on, greatest(%(as_of)s::date, sent_on)) as counted_on
    from renewals.member_answers
    order by subscription_id, renewal_date, answered_at desc, answer_id desc
),
facts as (
    select v.*,
           coalesce(v.intent_confirmed_at, case when a.answer = 'intent' then a.answered_at end) as gate_intent_at,
           coalesce(v.declined_at, case when a.answer = 'decline' then a.answered_at end) as gate_declined_at,
           case when v.declined_at is null and a.answer = 'decline' then a.reason else v.decline_reason end
               as gate_decline_reason,
           coalesce((v.intent_confirmed_at at time zone v.zone)::date,
                    case when a.answer = 'intent' then a.counted_on end) as intent_on,
           (v.paid_at at time zone v.zone)::date as paid_on,
           coalesce((v.declined_at at time zone v.zone)::date,
                    case when a.answer = 'decline' then a.counted_on end) as declined_on
    from ranked v
    left join answered a on a.subscription_id = v.subscription_id and a.renewal_date = v.renewal_date
    where cardinality(v.reasons) = 0 and v.copy_no = 1
),
gated as (
    select f.*,
           case when f.paid_on <= %(as_of)s then 'paid'
                when f.declined_on <= %(as_of)s then 'declined'
                when f.intent_on <= %(as_of)s then 'intent_confirmed'
                else 'no_response' end as gate,
           f.renewal_date - %(as_of)s::date as days_to_renewal
    from facts f
)
insert into {subscriptions}
select subscription_id, account_id, account_name, playbook, tier, member_type, renewal_date,
       coalesce(term_months, 12), amount, currency, owner_email, invoice_number, gate_decline_reason,
       gate_intent_at, paid_at, gate_declined_at, intent_on, paid_on, declined_on, assigned_on,
       last_contact_at, next_meeting_at, in_negotiation, hosted_site, paused, zone, gate,
       days_to_renewal,
       case gate when 'paid' then 'renewed'
                 when 'declined' then 'declined'
                 when 'intent_confirmed' then 'awaiting_payment'
                 else case when days_to_renewal < 0 then 'overdue' else 'upcoming' end end,
       (('x' || left(md5(subscription_id), 8))::bit(32)::int & 2147483647) %% %(shards)s,
       source_id, salesforce_account_id, salesforce_opportunity_id, hubspot_company_id, hubspot_deal_id
from gated
