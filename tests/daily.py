"""Resources for tests that run the pipeline in-process (devenv.inprocess) on the test's own
databases and SMTP server: two shards and no waiting between SMTP retries."""

from __future__ import annotations

from typing import Any

from devenv.inprocess import local_resources
from devenv.mailbox import FileMailbox
from renewals.pipeline import Resources


def resources_for(databases: dict[str, str], mailbox: FileMailbox, **settings: Any) -> Resources:
    return local_resources(
        databases["warehouse"], databases["ops"], mailbox.port, **{"shards": 2, "smtp_retry_delays": (0.0,), **settings}
    )
