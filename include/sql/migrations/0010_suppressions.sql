-- Recipient protection: addresses that get no more customer mail (unsubscribed, bounced,
-- complained, or stopped by an operator), for all customer mail or for one playbook.
create table renewals.suppressions (
    suppression_id bigint generated always as identity primary key,
    -- normalised: trimmed and lower-cased, the form every lookup uses
    address    text not null check (address = lower(btrim(address)) and address like '%_@_%'),
    -- 'all': every customer email of every playbook; otherwise the one playbook's name
    scope      text not null default 'all' check (scope <> ''),
    reason     text not null check (reason in ('unsubscribed', 'bounced', 'complained', 'manual')),
    -- where it came from: unsubscribe_link, smtp (a 5xx at RCPT), warehouse (the bounces
    -- extract), operator (added by hand)
    source     text not null,
    detail     text,
    created_at timestamptz not null default now(),
    created_by text not null,
    unique (address, scope)
);

-- What a touchpoint's message left out: {address: reason} of the suppressed recipients.
alter table renewals.touchpoints add column suppressed jsonb;
