-- Helpers for staging columns that are text (a value to parse, as before) or already typed: the
-- extract gives a staging column the warehouse's own type when it is one of these, because a
-- typed warehouse column can only hold valid values and COPY reads them for a fraction of the
-- cost of parsing text (at a million subscriptions, parsing was most of the extract).
-- renewals.given(v): v as written, or null when absent (text: trimmed, blank = absent).
-- renewals.parse_*(v): the value, or null when absent or not valid (text: through renewals.try_*).
create function renewals.given(value text) returns text
language sql immutable parallel safe as $$ select nullif(btrim(value, E' \t\r\n'), '') $$;
create function renewals.given(value date) returns text
language sql immutable parallel safe as $$ select case when value is not null then 'date' end $$;
create function renewals.given(value timestamptz) returns text
language sql immutable parallel safe as $$ select case when value is not null then 'timestamptz' end $$;
create function renewals.given(value boolean) returns text
language sql immutable parallel safe as $$ select case when value is not null then 'boolean' end $$;
create function renewals.given(value integer) returns text
language sql immutable parallel safe as $$ select case when value is not null then 'integer' end $$;
create function renewals.given(value numeric) returns text
language sql immutable parallel safe as $$ select case when value is not null then 'numeric' end $$;

create function renewals.parse_date(value text) returns date
language sql immutable parallel safe as $$ select renewals.try_date(btrim(value, E' \t\r\n')) $$;
create function renewals.parse_date(value date) returns date
language sql immutable parallel safe as $$ select value $$;

create function renewals.parse_timestamptz(value text) returns timestamptz
language sql stable parallel safe as $$ select renewals.try_timestamptz(btrim(value, E' \t\r\n')) $$;
create function renewals.parse_timestamptz(value timestamptz) returns timestamptz
language sql immutable parallel safe as $$ select value $$;

create function renewals.parse_bool(value text) returns boolean
language sql immutable parallel safe as $$ select renewals.try_bool(btrim(value, E' \t\r\n')) $$;
create function renewals.parse_bool(value boolean) returns boolean
language sql immutable parallel safe as $$ select value $$;

create function renewals.parse_int(value text) returns integer
language sql immutable parallel safe as $$ select renewals.try_int(btrim(value, E' \t\r\n')) $$;
create function renewals.parse_int(value integer) returns integer
language sql immutable parallel safe as $$ select value $$;

create function renewals.parse_numeric(value text) returns numeric
language sql immutable parallel safe as $$ select renewals.try_numeric(btrim(value, E' \t\r\n')) $$;
create function renewals.parse_numeric(value numeric) returns numeric
language sql immutable parallel safe as $$ select value $$;
