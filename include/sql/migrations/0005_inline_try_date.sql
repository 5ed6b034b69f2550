-- renewals.try_date, same results, as one expression without a FROM clause, so that PostgreSQL
-- inlines it into the validation query (and into try_timestamptz, which calls it). The first
-- version (0001) ran as a separate SQL function call per value, about 0.3 ms each: seconds per
-- 10,000 staged rows, most of a day's extract at a million subscriptions.
-- The nested CASEs keep the order of the checks: nothing is cast before the pattern matched.
create or replace function renewals.try_date(value text) returns date
language sql immutable parallel safe as $$
    select case when btrim(value) ~ '^\d{4}-\d{2}-\d{2}$' then
        case when substr(btrim(value), 1, 4)::int >= 1 and substr(btrim(value), 6, 2)::int between 1 and 12 then
            case when substr(btrim(value), 9, 2)::int
                      between 1 and extract(day from make_date(substr(btrim(value), 1, 4)::int,
                                                               substr(btrim(value), 6, 2)::int, 1)
                                                     + interval '1 month - 1 day')
                 then make_date(substr(btrim(value), 1, 4)::int, substr(btrim(value), 6, 2)::int,
                                substr(btrim(value), 9, 2)::int)
            end
        end
    end
$$;
