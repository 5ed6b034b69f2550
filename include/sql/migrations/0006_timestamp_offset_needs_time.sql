-- renewals.try_timestamptz accepted a UTC offset right after a bare date ('2026-11-21-00'), which
-- the cast then rejects: one such value failed the whole validation statement instead of
-- quarantining its row. An offset is now only accepted after a time of day.
create or replace function renewals.try_timestamptz(value text) returns timestamptz
language sql stable parallel safe as $$
    -- ISO 8601 date, optional time (hours 00-23, minutes and seconds 00-59, up to microseconds)
    -- with an optional offset (Z or +/-hh[:mm] within 15 hours): exactly what the cast accepts.
    select case
        when btrim(value) ~ '^\d{4}-\d{2}-\d{2}([ T]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?\s*(Z|[+-](0\d|1[0-5])(:?[0-5]\d)?)?)?$'
             and renewals.try_date(left(btrim(value), 10)) is not null
            then btrim(value)::timestamptz
    end
$$;
