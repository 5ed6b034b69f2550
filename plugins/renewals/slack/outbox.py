"""Staff posts queued during the delivery and posted by the run's publish step.

The delivery queues a post (payments received, deactivations, CTA changes) in
``renewals.slack_outbox`` in its own database transaction, and ``publish`` posts the queue, so
Slack never holds up or fails an email, and each event is posted once (its ``dedupe_key``).

The queue is posted as digests: as many queued posts per Slack message as fit in Slack's 50
blocks, in the order they were queued. Slack takes about one message a second on a webhook, and
staff read a few digests more easily than thousands of single posts (some 6,000 a day at a million
subscriptions).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, assert_never

import psycopg

from renewals.config import SLACK_CONN_ID
from renewals.slack.messages import staff_digest_message
from renewals.slack.transport import FAILED, SlackPolicy, SlackWebhook
from renewals.statuses import PostStatus
from renewals.storage.db import one_row

OUTBOX_MAX_ATTEMPTS = 5  # publish runs that try a queued staff post before it is marked failed
SLACK_MAX_BLOCKS = 50  # Slack refuses a message with more blocks
CLAIM_ROWS = 200  # queued posts taken (and locked) per transaction


def queue_staff_message(
    conn: psycopg.Connection,
    dedupe_key: str,
    kind: str,
    text: str,
    blocks: Sequence[dict[str, Any]] | None = None,
    run_id: str | None = None,
) -> bool:
    """Queue a staff post in ``renewals.slack_outbox`` (in the caller's transaction); the run's
    publish step posts it. One post per ``dedupe_key``: False when it was queued before."""
    row = conn.execute(
        """
        insert into renewals.slack_outbox (dedupe_key, kind, text, blocks, run_id)
        values (%s, %s, %s, %s::jsonb, %s)
        on conflict (dedupe_key) do nothing
        returning post_id
        """,
        (dedupe_key, kind, text, json.dumps(list(blocks)) if blocks else None, run_id),
    ).fetchone()
    return row is not None


@dataclass(frozen=True)
class StaffPost:
    kind: str
    text: str
    blocks: Sequence[dict[str, Any]] | None = None

    def size(self) -> int:
        """Blocks it takes in a digest (a post without blocks shows its text in one)."""
        return len(self.blocks) if self.blocks else 1


def pack_digests(posts: Sequence[StaffPost], max_blocks: int = SLACK_MAX_BLOCKS) -> list[list[int]]:
    """The posts, in order, packed into digests of at most ``max_blocks`` blocks (a divider between
    two posts); each digest as the indexes of its posts. A post larger than that goes alone."""
    digests: list[list[int]] = []
    used = 0  # blocks of the last digest
    for index, post in enumerate(posts):
        if digests and used + 1 + post.size() <= max_blocks:  # a divider, then the post
            digests[-1].append(index)
            used += 1 + post.size()
        else:
            digests.append([index])
            used = post.size()
    return digests


def digest_messages(posts: Sequence[StaffPost]) -> list[tuple[list[int], tuple[str, list[dict[str, Any]]]]]:
    """Each digest of ``posts`` (its post indexes) with its Slack message (text, blocks)."""
    return [
        (digest, staff_digest_message([(posts[i].kind, posts[i].text, posts[i].blocks) for i in digest]))
        for digest in pack_digests(posts)
    ]


@dataclass
class OutboxReport:
    sent: int = 0  # queued posts, by their outcome
    failed: int = 0
    not_configured: int = 0
    still_pending: int = 0
    messages: int = 0  # Slack messages made (digests)

    def count_outcome(self, status: PostStatus) -> None:
        """A queued post a digest settled (one left pending for the next run is not counted here)."""
        match status:
            case PostStatus.SENT:
                self.sent += 1
            case PostStatus.FAILED:
                self.failed += 1
            case PostStatus.NOT_CONFIGURED:
                self.not_configured += 1
            case PostStatus.PENDING:
                pass
            case _:
                assert_never(status)


def flush_outbox(
    ops: psycopg.Connection,
    conn_id: str = SLACK_CONN_ID,
    policy: SlackPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> OutboxReport:
    """Post the queued staff messages as digests, oldest first; ``ops`` is an autocommit connection.

    Every post of a digest records the digest's outcome. One Slack did not take stays pending for
    the next run (up to OUTBOX_MAX_ATTEMPTS runs), and so does the rest of the queue; without the
    connection each post goes to the log and is marked ``not_configured``. Rows are locked while
    posted, so two runs publishing together never post one twice.
    """
    report = OutboxReport()
    webhook: SlackWebhook | None = None  # read the connection only when there is something to post
    while True:
        with ops.transaction():
            rows = ops.execute(
                """
                select post_id, kind, text, blocks from renewals.slack_outbox
                where status = 'pending' order by post_id limit %s for update skip locked
                """,
                (CLAIM_ROWS,),
            ).fetchall()
            if not rows:
                return report
            webhook = webhook or SlackWebhook(conn_id, policy or SlackPolicy(), sleep)
            posts = [StaffPost(kind, text, blocks) for _post_id, kind, text, blocks in rows]
            for digest, (text, blocks) in digest_messages(posts):
                fallback = "\n".join(posts[i].text for i in digest)
                result = webhook.post(text, blocks, fallback_text=fallback)
                report.messages += 1
                outcomes = ops.execute(
                    """
                    update renewals.slack_outbox
                    set status = case when %(status)s = 'failed' and attempts + 1 < %(max_attempts)s then 'pending'
                                      else %(status)s end,
                        attempts = attempts + 1,
                        detail = %(detail)s,
                        posted_at = case when %(status)s = 'sent' then now() end
                    where post_id = any(%(post_ids)s)
                    returning status
                    """,
                    {
                        "status": result.status,
                        "max_attempts": OUTBOX_MAX_ATTEMPTS,
                        "detail": result.detail or None,
                        "post_ids": [rows[i][0] for i in digest],
                    },
                ).fetchall()
                for (status,) in outcomes:
                    report.count_outcome(PostStatus(status))
                if result.status == FAILED:  # Slack is down: leave the rest of the queue for the next run
                    report.still_pending = one_row(
                        ops.execute("select count(*) from renewals.slack_outbox where status = 'pending'")
                    )[0]
                    return report
