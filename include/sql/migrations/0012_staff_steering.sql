-- Staff steer one renewal from the console (plugins/renewals/console): per upcoming touchpoint
-- of the member's current cycle a skip, a move to another date or an edited wording; per member a
-- hold until a date or until lifted; notes. The two state tables are what the runs read (the one
-- rule, include/sql/rule/due_touchpoints.sql, and the re-check right before a send); every change
-- to them, and every note, is a row of renewals.staff_actions, the audit trail.

-- What staff changed on one touchpoint of one renewal cycle (no row: as the playbook says).
create table renewals.touchpoint_overrides (
    subscription_id text not null,
    renewal_date    date not null,
    touchpoint      text not null,
    skip_reason     text,           -- skipped: recorded 'skipped' (skipped_by_staff) on its day
    move_to         date,           -- moved: due on this date instead (once)
    edit_subject    text,           -- edited: sent with this subject ...
    edit_text       text,           -- ... and this text (the HTML part: the same inside the template's frame)
    updated_by      text not null,
    updated_at      timestamptz not null default now(),
    primary key (subscription_id, renewal_date, touchpoint),
    check (skip_reason is not null or move_to is not null or edit_subject is not null or edit_text is not null)
);
create index touchpoint_overrides_move_idx on renewals.touchpoint_overrides (move_to) where move_to is not null;

-- A member on hold: nothing goes to the member's contacts before held_until (null: until lifted).
create table renewals.member_holds (
    subscription_id text primary key,
    held_until      date,
    reason          text not null,
    held_by         text not null,
    held_at         timestamptz not null default now()
);

-- The audit trail: every staff action (who, when, what, before and after, why), never updated.
create table renewals.staff_actions (
    action_id       bigserial primary key,
    subscription_id text not null,
    renewal_date    date,           -- the cycle a touchpoint action applies to (null: hold, lift, note)
    touchpoint      text,
    action          text not null check (action in ('skip', 'move', 'edit', 'restore', 'hold', 'lift', 'note')),
    before          jsonb,          -- the override or hold before the action (null: none)
    after           jsonb,          -- and after it (null: none)
    reason          text,
    actor           text not null,  -- the console user
    at              timestamptz not null default now()
);
create index staff_actions_subscription_idx on renewals.staff_actions (subscription_id, at);
