-- Members by subscription id (its start, any case), account name (prefix, case-insensitive), a
-- contact's email (exact, as the ledger addressed it), or a contact's name or email found in the
-- latest staged contacts (console/search_contacts.sql, passed in). Each arm here is an index
-- lookup: upper(subscription_id) and lower(account_name) text_pattern_ops, the ledger's
-- recipients GIN index.
with hits as (
    select subscription_id, 'subscription id' as matched
    from renewals.renewal_cycles where upper(subscription_id) like %(id_prefix)s
    union
    select subscription_id, matched
    from unnest(%(contact_ids)s::text[], %(contact_matched)s::text[]) as c(subscription_id, matched)
    union
    select subscription_id, 'account name'
    from renewals.renewal_cycles where lower(account_name) like %(prefix)s
    union
    select subscription_id, 'contact email'
    from renewals.touchpoints where recipients @> array[%(email)s]::text[]
),
members as (
    select subscription_id, string_agg(distinct matched, ', ') as matched
    from (select * from hits limit 200) h
    group by subscription_id
)
select m.subscription_id, m.matched, c.account_name, c.playbook, c.tier, c.renewal_date, c.gate
from members m
left join lateral (
    select account_name, playbook, tier, renewal_date, gate from renewals.renewal_cycles r
    where r.subscription_id = m.subscription_id order by renewal_date desc limit 1
) c on true
order by c.account_name nulls last, m.subscription_id
limit %(limit)s
