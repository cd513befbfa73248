"""The bot end to end in one process: signed delivery -> /webhook -> store/queue -> handlers,
against the fake GitHub. Deliveries are processed synchronously by `deliver` (the worker's code
path, without the consumer thread), so tests read as: this arrives, then GitHub shows that.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from bot.core.config import Secret
from bot.app.features import load_router
from bot.adapters.github import GitHubApp
from bot.core.plan import LiveState
from bot.app.web import create_app
from bot.app.worker import Runtime
from tests.support import webhooks


@dataclass
class Harness:
    settings: object
    store: object
    queue: object
    github: object  # FakeGitHub
    live_reader: object = None
    secret: str = ""
    responses: list = field(default_factory=list)

    def __post_init__(self):
        if self.live_reader is None:  # no AWS in this test: nothing is live anywhere
            self.live_reader = lambda env, endpoint: LiveState(endpoint_exists=False, endpoint_name=endpoint)
        # The worker's pacer with its book in the store (bot.app.cli.cmd_worker), without the
        # spacing and caps: the fake enforces GitHub's secondary limits only when asked to.
        self.app = GitHubApp(str(self.github.app_id), Secret(self.github.private_key_pem), self.github.url,
                             write_interval=0, book=self.store)
        self.client = create_app(self.settings, store=self.store, queue=self.queue).test_client()
        self.runtime = Runtime(self.settings, self.store, self.queue, load_router(""), self.app, self.live_reader)

    def post(self, event: str, payload: dict, delivery_id: str | None = None):
        body, headers = webhooks.delivery(payload, event, self.secret, delivery_id or str(uuid.uuid4()))
        resp = self.client.post("/webhook", data=body, headers=headers)
        self.responses.append(resp)
        return resp

    def deliver(self, event: str, payload: dict, delivery_id: str | None = None) -> str:
        """Post a signed delivery and run what it queued; the delivery's final status."""
        delivery_id = delivery_id or str(uuid.uuid4())
        resp = self.post(event, payload, delivery_id)
        assert resp.status_code == 202, resp.get_json()
        outcome = resp.get_json()["outcome"]
        if outcome != "queued":
            return outcome
        row = self.store.get_delivery(delivery_id)
        status = self.runtime.process(row.id)
        if status == "retrying":
            raise AssertionError(f"delivery failed: {self.store.get_delivery(delivery_id).last_error}")
        return status

    def pr_event(self, action: str, repo: str, number: int, **overrides) -> dict:
        return webhooks.pull_request(action, **{**webhooks.pr_args(self.github, repo, number), **overrides})
