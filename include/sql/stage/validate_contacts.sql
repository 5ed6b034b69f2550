-- Validate and normalise the extracted contacts (trimmed of spaces, tabs and line breaks; role
-- and email lower-cased). Contacts of a subscription that was itself quarantined are kept: the
-- contact row is sound.
-- Of the copies of one contact id, and of one person (subscription, role and email) under
-- several ids, the first valid one is kept and the others are quarantined. Only the rows of a
-- repeated id or person are ranked (found by hashing): sorting every contact to rank the few
-- repeated ones was most of this statement at a million subscriptions.
with known_subscriptions as materialized (
    select distinct nullif(btrim(subscription_id), '') as subscription_id from {raw_subscriptions}
),
checked as materialized (
    select p.*,
           array_remove(array[
               case when p.contact_id is null then 'missing_contact_id' end,
               case when p.subscription_id is null then 'missing_subscription_id'
                    when not exists (select 1 from known_subscriptions k where k.subscription_id = p.subscription_id)
                    then 'unknown_subscription' end,
               case when p.role is null then 'missing_role'
                    when not p.role = any(%(roles)s::text[]) then 'unknown_role' end,
               case when p.email is null then 'missing_email'
                    when not renewals.is_email(p.email) then 'invalid_email' end,
               case when p.opted_out_text is not null and p.opted_out is null then 'invalid_flag' end
           ], null) as reasons
    from (
        select r.row_no,
               nullif(btrim(r.contact_id, E' \t\r\n'), '') as contact_id,
               nullif(btrim(r.subscription_id, E' \t\r\n'), '') as subscription_id,
               nullif(lower(btrim(r.role, E' \t\r\n')), '') as role,
               nullif(btrim(r.name, E' \t\r\n'), '') as name,
               nullif(lower(btrim(r.email, E' \t\r\n')), '') as email,
               nullif(btrim(r.opted_out, E' \t\r\n'), '') as opted_out_text,
               renewals.try_bool(btrim(r.opted_out, E' \t\r\n')) as opted_out
        from {raw_contacts} r
        offset 0  -- parse each row once, not again wherever checked uses a column
    ) p
),
repeated_ids as (
    select contact_id from checked where contact_id is not null group by contact_id having count(*) > 1
),
repeated_people as (
    select subscription_id, role, email from checked
    where subscription_id is not null and role is not null and email is not null
    group by subscription_id, role, email having count(*) > 1
),
id_copies as (
    select c.row_no,
           row_number() over (partition by c.contact_id order by cardinality(c.reasons) = 0 desc, c.row_no) as copy_no
    from checked c
    join repeated_ids using (contact_id)
),
person_copies as (
    select c.row_no,
           row_number() over (partition by c.subscription_id, c.role, c.email
                              order by cardinality(c.reasons) = 0 desc, c.row_no) as same_person_no
    from checked c
    join repeated_people using (subscription_id, role, email)
),
-- Only the few rows of a repeated id or person get a copy number above 1: the others meet this
-- small set in a hash, and no copy of every contact is written (ranked is read by both inserts).
copies as materialized (
    select row_no, max(copy_no) as copy_no, max(same_person_no) as same_person_no
    from (select row_no, copy_no, 1 as same_person_no from id_copies
          union all
          select row_no, 1, same_person_no from person_copies) numbered
    group by row_no
),
ranked as not materialized (
    select c.*, coalesce(k.copy_no, 1) as copy_no, coalesce(k.same_person_no, 1) as same_person_no
    from checked c
    left join copies k using (row_no)
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
select contact_id, subscription_id, role, name, email, coalesce(opted_out, false)
from ranked
where cardinality(reasons) = 0 and copy_no = 1 and same_person_no = 1
