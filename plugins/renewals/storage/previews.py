"""The rendered messages of a dry run, kept for the console's run tab (renewals.previews).

The ledger's 'dry_run' row keeps the subject and Message-ID only, and the next dry run of the
same touchpoint overwrites it; this table keeps each dry run's rendered bodies under its run id.
"""

from __future__ import annotations

import psycopg

from renewals.storage.ledger import LedgerKey


def record_preview(
    ops: psycopg.Connection,
    key: LedgerKey,
    run_id: str,
    message_id: str,
    subject: str,
    recipients: list[str],
    text: str | None,
    html: str | None,
) -> None:
    """Keep what a dry run would have sent: subject, recipients and the rendered text and HTML."""
    ops.execute(
        """
        insert into renewals.previews
            (run_id, subscription_id, renewal_date, touchpoint, message_id, subject, recipients, text_body, html_body)
        values (%(run_id)s, %(subscription_id)s, %(renewal_date)s, %(touchpoint)s, %(message_id)s, %(subject)s,
                %(recipients)s, %(text)s, %(html)s)
        on conflict (run_id, subscription_id, renewal_date, touchpoint) do update
        set message_id = excluded.message_id, subject = excluded.subject, recipients = excluded.recipients,
            text_body = excluded.text_body, html_body = excluded.html_body, rendered_at = now()
        """,
        {
            **key.params(),
            "run_id": run_id,
            "message_id": message_id,
            "subject": subject,
            "recipients": recipients,
            "text": text,
            "html": html,
        },
    )
