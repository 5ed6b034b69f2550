-- Members with a contact whose name or email contains the text (case-insensitive), in the latest
-- full run's staged contacts: names are only there (the ledger keeps addresses). One scan of
-- that table, bounded by the limit.
select subscription_id,
       case when lower(name) like %(contains)s then 'contact name' else 'contact email' end as matched
from {contacts}
where lower(name) like %(contains)s or lower(email) like %(contains)s
limit 200
