-- Validate and normalise the extracted contacts (trimmed; role and email lower-cased). Contacts
-- of a subscription that was itself quarantined are kept: the contact row is sound.
with known_subscriptions as materialized (
    select distinct nullif(btrim(subscription_id), '') as subscription_id from {raw_subscriptions}
),
parsed as (
    select r.row_no,
           to_jsonb(r) - 'row_no' as raw,
           nullif(btrim(r.contact_id), '') as contact_id,
           nullif(btrim(r.subscription_id), '') as subscription_id,
           nullif(lower(btrim(r.role)), '') as role,
           nullif(btrim(r.name), '') as name,
           nullif(lower(btrim(r.email)), '') as email,
           nullif(btrim(r.opted_out), '') as opted_out_text,
           coalesce(renewals.try_bool(r.opted_out), false) as opted_out
    from {raw_contacts} r
),
checked as (
    select p.*,
           array_remove(array[
               case when contact_id is null then 'missing_contact_id' end,
               case when subscription_id is null then 'missing_subscription_id'
                    when not exists (select 1 from known_subscriptions k where k.subscription_id = p.subscription_id)
                    then 'unknown_subscription' end,
               case when role is null then 'missing_role'
                    when not role = any(%(roles)s::text[]) then 'unknown_role' end,
               case when email is null then 'missing_email'
                    when not renewals.is_email(email) then 'invalid_email' end,
               case when opted_out_text is not null and renewals.try_bool(opted_out_text) is null
                    then 'invalid_flag' end
           ], null) as reasons
    from parsed p
),
ranked as (
    select c.*,
           row_number() over (partition by c.contact_id order by cardinality(c.reasons) = 0 desc, c.row_no)
               as copy_no,
           row_number() over (partition by c.subscription_id, c.role, c.email
                              order by cardinality(c.reasons) = 0 desc, c.row_no) as same_person_no
    from checked c
),
quarantined as (
    insert into renewals.quarantine (run_id, as_of, source_table, record_id, subscription_id, reasons, raw)
    select %(run_id)s, %(as_of)s, 'contacts', coalesce(contact_id, raw ->> 'contact_id'), subscription_id,
           reasons
           || case when copy_no > 1 and contact_id is not null
                   then array['duplicate_contact_id'] else array[]::text[] end
           || case when copy_no = 1 and same_person_no > 1 and cardinality(reasons) = 0
                   then array['duplicate_contact'] else array[]::text[] end,
           raw
    from ranked
    where cardinality(reasons) > 0 or (copy_no > 1 and contact_id is not null) or same_person_no > 1
    returning 1
)
insert into {contacts}
select contact_id, subscription_id, role, name, email, opted_out
from ranked
where cardinality(reasons) = 0 and copy_no = 1 and same_person_no = 1
