-- Issue 26 (hardening). An address is an address, not a URI: renewals.is_email (0001) accepted
-- every RFC 5322 atext character in the local part, so 'x?cc=attacker%40evil.example&subject=y@corp.example'
-- passed and, written into a mailto: link, added a Cc. Addresses are checked in SQL, at scale, for the
-- characters mail systems hand out in practice: letters, digits and . _ + ' - in dot-separated
-- parts. A row with anything else is quarantined (invalid_email, invalid_owner_email).
create or replace function renewals.is_email(value text) returns boolean
language sql immutable parallel safe as $$
    select value ~ '^[a-z0-9_+''-]+(\.[a-z0-9_+''-]+)*@[a-z0-9](-*[a-z0-9])*(\.[a-z0-9](-*[a-z0-9])*)+$'
$$;
