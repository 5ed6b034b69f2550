-- The CRM records a renewal's warehouse row names, from the optional extract columns (null when
-- the warehouse has no such column): the Salesforce Account and Opportunity, the HubSpot company
-- and deal. The sync relates its records to them (a Task's WhatId, a HubSpot association).
alter table renewals.renewal_cycles
    add column salesforce_account_id     text,
    add column salesforce_opportunity_id text,
    add column hubspot_company_id        text,
    add column hubspot_deal_id           text;

-- Members' answers and reply holds are read by the sync from the time of its last derive.
create index member_answers_answered_idx on renewals.member_answers (answered_at);
create index reply_holds_held_idx on renewals.reply_holds (held_at);
create index reply_holds_resumed_idx on renewals.reply_holds (resumed_at) where resumed_at is not null;
