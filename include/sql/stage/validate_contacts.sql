-- Validate and normalise the extracted contacts (trimmed of spaces, tabs and line breaks; role
-- and email lower-cased). Contacts of a subscription that was itself quarantined are kept: the
-- contact row is sound.
with known_subscriptions as materialized (
    select distinct nullif(btrim(subscription_id), '') as subscription_id from {raw_subscriptions}
),
parsed as materialized (
    select r.row_no,
           nullif(btrim(r.contact_id, E' \t\r\n'), '') as contact_id,
           nullif(btrim(r.subscription_id, E' \t\r\n'), '') as subscription_id,
           nullif(lower(btrim(r.role, E' \t\r\n')), '') as role,
           nullif(btrim(r.name, E' \t\r\n'), '') as name,
           nullif(lower(btrim(r.email, E' \t\r\n')), '') as email,
           nullif(btrim(r.opted_out, E' \t\r\n'), '') as opted_out_text,
           coalesce(renewals.try_bool(btrim(r.opted_out, E' \t\r\n')), false) as opted_out
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
    select %(run_id)s, %(as_of)s, 'contacts', coalesce(k.contact_id, r.contact_id), k.subscription_id,
           k.reasons
           || case when k.copy_no > 1 and k.contact_id is not null
                   then array['duplicate_contact_id'] else array[]::text[] end
           || case when k.copy_no = 1 and k.same_person_no > 1 and cardinality(k.reasons) = 0
                   then array['duplicate_contact'] else array[]::text[] end,
           to_jsonb(r) - 'row_no'
    from ranked k
    join {raw_contacts} r using (row_no)
    where cardinality(k.reasons) > 0 or (k.copy_no > 1 and k.contact_id is not null) or k.same_person_no > 1
    returning 1
)
insert into {contacts}
select contact_id, subscription_id, role, name, email, opted_out
from ranked
where cardinality(reasons) = 0 and copy_no = 1 and same_person_no = 1
