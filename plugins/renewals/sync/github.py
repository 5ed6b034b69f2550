"""The GitHub target (``renewals_github``: a token as the password, the repository as the extra
``repository``; the host defaults to api.github.com): one issue per offboarding, from the
checklist template of the mapping (one task per step), closed when the offboarding is done.

The issue carries a hidden marker naming the offboarding; before opening one, the repository's
issues with the label are read for it, so a retry after a crash finds the issue it opened and
never opens a second.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from renewals.sync.events import OFFBOARDING_KINDS, Event
from renewals.sync.http import Client, Unavailable, rejected
from renewals.sync.mapping import GitHubMapping, event_values, fill
from renewals.sync.targets import ConnectionInfo, Delivered
from renewals.sync.text import limited, markdown_text, one_line

DEFAULT_API = "https://api.github.com"
TITLE_CHARS = 256  # what GitHub takes for an issue's title
VALUE_CHARS = 1000  # of each value in the body: the checklist stays far below GitHub's 65536


def marker(subscription_id: str, renewal_date: str) -> str:
    # an id is warehouse text: with ">" as an entity it cannot end the comment and show the rest
    return f"<!-- renewals:offboarding:{subscription_id.replace('>', '&gt;')}/{renewal_date} -->"


@dataclass
class GitHubTarget:
    base_url: str
    token: str
    repository: str  # owner/name
    mapping: GitHubMapping
    client: Client
    name: str = "github"
    kinds: frozenset[str] = OFFBOARDING_KINDS

    @classmethod
    def from_connection(cls, conn: ConnectionInfo, mapping: GitHubMapping, client: Client) -> GitHubTarget:
        repository = str((conn.extra or {}).get("repository") or "")
        return cls(conn.base_url() if conn.host else DEFAULT_API, conn.password, repository, mapping, client)

    def deliver(self, event: Event, delivery_id: str) -> Delivered:
        if self.repository.count("/") != 1:
            raise Unavailable(
                f"connection renewals_github: extra 'repository' must be owner/name, not {self.repository!r}"
            )
        values = event_values(event)
        key = f"{values['subscription_id']}/{values['renewal_date']}"
        issue = self.find(marker(values["subscription_id"], values["renewal_date"]))
        if issue is None:
            issue = self._json(
                self._call(
                    "POST",
                    "/issues",
                    {
                        "title": limited(one_line(fill(self.mapping.title, values)), TITLE_CHARS),
                        "body": self.body(values, done=False),
                        "labels": [self.mapping.label],
                    },
                ),
                201,
            )
        if event.kind == "offboarding.done" and issue["state"] != "closed":
            issue = self._json(
                self._call(
                    "PATCH",
                    f"/issues/{issue['number']}",
                    {
                        "state": "closed",
                        "state_reason": "completed",
                        "body": self.body(values, done=True),
                    },
                ),
                200,
            )
        return Delivered(str(issue["number"]), issue["html_url"], f"offboarding/{key}")

    def body(self, values: dict[str, str], done: bool) -> str:
        """The marker, the intro and the checklist; the event's values in them as literal text (no
        mention, link, image or line break of theirs), so the checklist is the template's."""
        literal = {name: markdown_text(limited(value, VALUE_CHARS)) for name, value in values.items()}
        box = "[x]" if done else "[ ]"
        steps = "\n".join(f"- {box} {fill(step, literal)}" for step in self.mapping.checklist)
        intro = fill(self.mapping.intro, literal)
        return f"{marker(values['subscription_id'], values['renewal_date'])}\n{intro}\n\n{steps}\n"

    def find(self, wanted: str) -> dict[str, Any] | None:
        """The issue with the marker ``wanted`` among the labelled ones, open or closed."""
        for issue in self._labelled():
            if wanted in (issue.get("body") or ""):
                return issue
        return None

    def _labelled(self) -> Iterator[dict[str, Any]]:
        url: str | None = f"{self._repo_url()}/issues"
        params: dict[str, Any] | None = {"labels": self.mapping.label, "state": "all", "per_page": 100}
        while url:
            response = self._request("GET", url, params=params)
            yield from self._json(response, 200)
            url, params = response.links.get("next", {}).get("url"), None  # the next page's URL has them

    def _repo_url(self) -> str:
        return f"{self.base_url}/repos/{self.repository}"

    def _call(self, method: str, path: str, body: dict[str, Any]):
        return self._request(method, self._repo_url() + path, json=body)

    def _request(self, method: str, url: str, **kwargs: Any):
        headers = {
            "Authorization": f"Bearer {self.token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }
        response = self.client.request(method, url, headers=headers, **kwargs)
        if response.status_code == 403 and response.headers.get("X-RateLimit-Remaining") == "0":
            raise Unavailable(f"GitHub rate limit reached: {response.text}", 403)
        return response

    @staticmethod
    def _json(response, expected: int) -> Any:
        if response.status_code != expected:
            raise rejected(response)
        return response.json()
