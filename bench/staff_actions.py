"""``python -m bench --staff-actions N``: the day run with N staff actions in place (issue 24 asks
the whole day at 1M no slower with 10,000 of them).

As in ``bench.console``: three in four are a skip, a move or an edit of one touchpoint (in turn),
one in four a hold of the member (until a later day, or until lifted), each with its audit row.
They go on members with nothing due on the bench's day (the floor's own query, DUE_TODAY, over
every shard), so that the pipeline's outputs stay the floor's, which knows nothing of staff
actions: what is timed is their cost to the run (the rule, the decisions, the re-check and the
claims read them), not what they change. Moves go to later days; the Upcoming sheet of both
books shows them all.
"""

from __future__ import annotations

from contextlib import closing
from datetime import date

import psycopg

from bench.floor import due_today
from renewals.config import Settings
from renewals.playbooks import Playbook, load_playbooks
from renewals.storage.db import connect

HOLD_EVERY = 4  # one action in four holds the member

PLACE = """
with picked as (
    select * from unnest(%(ids)s::text[], %(renewal_dates)s::date[], %(touchpoints)s::text[])
         with ordinality as p(subscription_id, renewal_date, touchpoint, n)
),
overrides as (
    insert into renewals.touchpoint_overrides
        (subscription_id, renewal_date, touchpoint, skip_reason, move_to, edit_subject, edit_text, updated_by)
    select subscription_id, renewal_date, touchpoint,
           case when n %% 3 = 0 then 'bench: in a call' end,
           case when n %% 3 = 1 then %(as_of)s::date + 1 + (n %% 30)::int end,
           case when n %% 3 = 2 then 'A personal word ' || n end,
           case when n %% 3 = 2 then 'As discussed on the phone (' || n || ').' end,
           'bench'
    from picked where n %% %(hold_every)s <> 0
    returning subscription_id, renewal_date, touchpoint,
              case when skip_reason is not null then 'skip' when move_to is not null then 'move' else 'edit' end
                  as action
),
holds as (
    insert into renewals.member_holds (subscription_id, held_until, reason, held_by, held_at)
    select subscription_id, case when n %% 2 = 0 then %(as_of)s::date + 1 + (n %% 20)::int end, 'bench: out of town',
           'bench', now() - interval '2 days'
    from picked where n %% %(hold_every)s = 0
    returning subscription_id
)
insert into renewals.staff_actions (subscription_id, renewal_date, touchpoint, action, reason, actor, at)
select subscription_id, renewal_date, touchpoint, action, 'bench', 'bench', now() - interval '2 days' from overrides
union all
select subscription_id, null, null, 'hold', 'bench', 'bench', now() - interval '2 days' from holds
"""


def place(uris: dict[str, str], as_of: date, count: int) -> int:
    """``count`` staff actions in the ops database on members of the warehouse with nothing due
    on ``as_of``; how many were placed (fewer if there are not enough such members)."""
    settings = Settings.from_env({})
    playbooks: dict[str, Playbook] = load_playbooks(settings.playbook_dir)
    # the touchpoint each playbook's actions are on: its first email with wording to edit
    steered = {
        name: next(tp.key for tp in playbook.touchpoints if tp.channel == "email" and tp.template is not None)
        for name, playbook in playbooks.items()
    }
    with closing(psycopg.connect(uris["warehouse"], options="-c timezone=UTC")) as conn:
        with conn.transaction():
            due = {row["subscription_id"] for row in due_today(conn, settings, playbooks, as_of, 1, 0)}
        members = conn.execute(
            "select subscription_id, renewal_date, playbook from warehouse.subscriptions"
            " where not paused and renewal_date is not null and playbook = any(%s) order by subscription_id",
            (list(steered),),
        ).fetchall()
    free = [member for member in members if member[0] not in due]
    picked = free[:: max(len(free) // count, 1)][:count] if count else []
    params = {
        "ids": [m[0] for m in picked],
        "renewal_dates": [m[1] for m in picked],
        "touchpoints": [steered[m[2]] for m in picked],
        "as_of": as_of,
        "hold_every": HOLD_EVERY,
    }
    with closing(connect(uris["ops"], autocommit=True)) as ops:
        ops.execute(PLACE, params)
        ops.execute("analyze renewals.touchpoint_overrides, renewals.member_holds, renewals.staff_actions")
    return len(picked)
