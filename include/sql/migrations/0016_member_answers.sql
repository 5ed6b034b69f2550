-- Members answer: one-click answers from the reminders' links, replies read from the inbox,
-- and the copies of every message (one per customer recipient) that replies and bounces name.

-- Every answer a member gave with a link of a reminder (intent to renew, or decline), kept: the
-- latest answer of a renewal cycle is the one that counts (stage/validate_subscriptions.sql).
create table renewals.member_answers (
    answer_id       bigint generated always as identity primary key,
    subscription_id text not null,
    renewal_date    date not null,
    answer          text not null check (answer in ('intent', 'decline')),
    reason          text,            -- the optional reason a decline gives (free text, the member's)
    recipient       text not null,   -- the address whose link was used
    touchpoint      text,            -- the reminder the link came in
    sent_on         date not null,   -- the as-of day of the run that sent that reminder
    counted_on      date,            -- the day it counts from as a gate: set by the first run to see it
    token_digest    text not null unique, -- sha256 of the token: a replayed link records nothing
    answered_at     timestamptz not null default now()
);
create index member_answers_cycle_idx on renewals.member_answers (subscription_id, renewal_date, answered_at desc);

-- One row per copy of a message handed to SMTP: a customer message goes as one copy per
-- recipient (each with its own links), so a reply or a bounce names the copy it answers.
create table renewals.message_copies (
    message_id      text primary key,
    subscription_id text not null,
    renewal_date    date not null,
    touchpoint      text not null,
    recipients      text[] not null,
    accepted_at     timestamptz      -- the relay accepted this copy: a later hand-off leaves it out
);
create index message_copies_key_idx on renewals.message_copies (subscription_id, renewal_date, touchpoint);

-- Where reading the inbox stands: the highest UID handled, per mailbox and UIDVALIDITY.
create table renewals.inbox_state (
    mailbox     text primary key,
    uidvalidity bigint not null,
    last_uid    bigint not null,
    updated_at  timestamptz not null default now()
);

-- Every message read from the inbox and what was done with it.
create table renewals.inbox_messages (
    inbox_message_id bigint generated always as identity primary key,
    mailbox          text not null,
    uidvalidity      bigint not null,
    uid              bigint not null,
    message_id       text,            -- the incoming message's own Message-ID
    kind             text not null check (kind in ('reply', 'auto_reply', 'bounce', 'unmatched', 'unreadable')),
    subscription_id  text,
    renewal_date     date,
    in_reply_to      text,            -- our message it answers
    sender           text,
    subject          text,
    excerpt          text,            -- the first lines of the body
    detail           text,
    received_at      timestamptz not null default now(),
    flagged_at       timestamptz,     -- flagged in the mailbox as handled (null: not yet, or left alone)
    unique (mailbox, uidvalidity, uid)
);
create unique index inbox_messages_message_id_idx on renewals.inbox_messages (message_id)
    where message_id is not null and kind <> 'unreadable';
create index inbox_messages_cycle_idx on renewals.inbox_messages (subscription_id, renewal_date);

-- A person's reply stops the cycle's customer reminders until staff resume them (or the gate
-- changes): one hold per reply, ended by ``resumed_at``.
create table renewals.reply_holds (
    inbox_message_id bigint primary key references renewals.inbox_messages,
    subscription_id  text not null,
    renewal_date     date not null,
    gate             text,           -- the gate the reply came in at; another gate ends the hold
    held_at          timestamptz not null default now(),
    resumed_at       timestamptz,
    resumed_by       text
);
create index reply_holds_cycle_idx on renewals.reply_holds (subscription_id, renewal_date);

-- The public pages' own role: only what the unsubscribe and answer routes need. A deployment
-- gives it a password and a login (alter role renewals_public login password '...').
do $$
begin
    create role renewals_public nologin;
exception when duplicate_object or unique_violation then
    null;  -- a role is the cluster's: another database (or a concurrent migration) made it
end
$$;
grant usage on schema renewals to renewals_public;
grant select, insert on renewals.suppressions to renewals_public;
grant select, insert on renewals.member_answers to renewals_public;  -- select: a replay's first answer
grant insert, select (post_id, dedupe_key) on renewals.slack_outbox to renewals_public;  -- its conflict target and returning
grant usage on sequence renewals.slack_outbox_post_id_seq to renewals_public;
