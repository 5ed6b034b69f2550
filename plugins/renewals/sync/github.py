"""The GitHub target (``renewals_github``, a github connection: a token as the password, or a GitHub
App; the repository as the extra ``repository``; the host, for GitHub Enterprise or another API
URL, defaults to api.github.com): one issue per offboarding, from the checklist template of the
mapping (one task per step), closed when the offboarding is done.

The issue carries a hidden marker naming the offboarding; before opening one, the repository's
issues with the label are read for it, so a retry after a crash finds the issue it opened and
never opens a second.

The calls go through the github provider: GithubHook reads the connection and makes the PyGithub
client. That client is made again from its own arguments (``Requester.kwargs``, PyGithub's way to
recreate one) without PyGithub's retry, which waits as long as GitHub asks (up to an hour for the
primary rate limit) and knows nothing of the run's time budget: a 5xx or a secondary rate limit is
retried by renewals.sync.http within the budget, honouring Retry-After; the primary rate limit
spent waits for the next run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from github import Github, GithubException
from github.Issue import Issue
from github.Repository import Repository

from renewals.sync.events import OFFBOARDING_KINDS, Event
from renewals.sync.http import RETRIED_STATUSES, Client, Rejected, Transient, Unavailable
from renewals.sync.mapping import GitHubMapping, event_values, fill
from renewals.sync.targets import GITHUB_CONN_ID, Delivered, connection
from renewals.sync.text import limited, markdown_text, one_line

T = TypeVar("T")
TITLE_CHARS = 256  # what GitHub takes for an issue's title
VALUE_CHARS = 1000  # of each value in the body: the checklist stays far below GitHub's 65536


def marker(subscription_id: str, renewal_date: str) -> str:
    # an id is warehouse text: with ">" as an entity it cannot end the comment and show the rest
    return f"<!-- renewals:offboarding:{subscription_id.replace('>', '&gt;')}/{renewal_date} -->"


@dataclass
class GitHubTarget:
    github: Github
    repository: str  # owner/name
    mapping: GitHubMapping
    client: Client
    name: str = "github"
    kinds: frozenset[str] = OFFBOARDING_KINDS

    @classmethod
    def from_connection(cls, mapping: GitHubMapping, client: Client, conn_id: str = GITHUB_CONN_ID) -> GitHubTarget:
        """The target on the github connection ``conn_id``."""
        from airflow.providers.github.hooks.github import GithubHook

        conn = connection(conn_id)
        if conn is None:
            raise ValueError(f"no Airflow connection {conn_id!r}")
        hook_client = GithubHook(github_conn_id=conn_id).get_conn()
        # lazy: objects are made from what is known (the repository's URL) without a call to read them
        github = Github(**(hook_client.requester.kwargs | {"retry": None, "lazy": True}))
        return cls(github, str((conn.extra or {}).get("repository") or ""), mapping, client)

    def deliver(self, event: Event, delivery_id: str) -> Delivered:
        if self.repository.count("/") != 1:
            raise Unavailable(
                f"connection renewals_github: extra 'repository' must be owner/name, not {self.repository!r}"
            )
        repo = self.github.get_repo(self.repository)
        values = event_values(event)
        key = f"{values['subscription_id']}/{values['renewal_date']}"
        wanted = marker(values["subscription_id"], values["renewal_date"])
        issue = self._call("find the issue", lambda: self.find(repo, wanted))
        if issue is None:
            title = limited(one_line(fill(self.mapping.title, values)), TITLE_CHARS)
            body = self.body(values, done=False)
            issue = self._call(
                "open the issue", lambda: repo.create_issue(title=title, body=body, labels=[self.mapping.label])
            )
        if event.kind == "offboarding.done" and issue.state != "closed":
            done = self.body(values, done=True)
            opened = issue
            self._call("close the issue", lambda: opened.edit(state="closed", state_reason="completed", body=done))
        return Delivered(str(issue.number), issue.html_url, f"offboarding/{key}")

    def body(self, values: dict[str, str], done: bool) -> str:
        """The marker, the intro and the checklist; the event's values in them as literal text (no
        mention, link, image or line break of theirs), so the checklist is the template's."""
        literal = {name: markdown_text(limited(value, VALUE_CHARS)) for name, value in values.items()}
        box = "[x]" if done else "[ ]"
        steps = "\n".join(f"- {box} {fill(step, literal)}" for step in self.mapping.checklist)
        intro = fill(self.mapping.intro, literal)
        return f"{marker(values['subscription_id'], values['renewal_date'])}\n{intro}\n\n{steps}\n"

    def find(self, repo: Repository, wanted: str) -> Issue | None:
        """The issue with the marker ``wanted`` among the labelled ones, open or closed (every page)."""
        for issue in repo.get_issues(state="all", labels=[self.mapping.label]):
            if wanted in (issue.body or ""):
                return issue
        return None

    def _call(self, what: str, call: Callable[[], T]) -> T:
        """``call`` (PyGithub) with our retry policy: its errors as Transient, Unavailable or Rejected."""

        def attempt(timeout: float) -> T:  # PyGithub's own timeout applies
            try:
                return call()
            except GithubException as exc:
                headers = {name.lower(): str(value) for name, value in (exc.headers or {}).items()}
                answer = json.dumps(exc.data)
                if exc.status in (403, 429) and headers.get("x-ratelimit-remaining") == "0":
                    raise Unavailable(f"GitHub rate limit reached: {answer}", exc.status) from exc
                if exc.status in RETRIED_STATUSES or (exc.status == 403 and "retry-after" in headers):
                    raise Transient(exc.status, headers, answer) from exc  # 5xx, or a secondary rate limit
                raise Rejected(exc.status, answer) from exc

        return self.client.retrying(f"GitHub {self.repository}: {what}", attempt)
