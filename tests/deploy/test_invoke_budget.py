"""The smoke test's InvokeEndpoint calls are bounded (issue #14, part 1): one attempt each on a
short read timeout, and all of them within a time budget, so a model that does not answer fails
its samples instead of holding the deployment past its lease."""

from __future__ import annotations

import io

from bot.adapters.aws.invoke import invoke_payloads
from bot.adapters.aws.session import smoke_client_config


class Slow:
    def __init__(self, clock, seconds):
        self.clock, self.seconds, self.calls = clock, seconds, 0

    def invoke_endpoint(self, **kwargs):
        self.calls += 1
        self.clock[0] += self.seconds
        return {"Body": io.BytesIO(b"0.5"), "ContentType": "text/csv", "InvokedProductionVariant": "AllTraffic"}


def test_samples_past_the_budget_are_not_sent_and_count_as_failed(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr("bot.adapters.aws.invoke.time.monotonic", lambda: clock[0])
    slow = Slow(clock, 25.0)
    result = invoke_payloads(slow, "ep", [b"1"] * 5, content_type="text/csv", accept="text/csv", budget_seconds=60)
    assert slow.calls == 3  # 0, 25 and 50 s in; at 75 s the budget has run out
    assert [a.error for a in result.answers[3:]] == ["not sent: the 60 s the samples may take ran out"] * 2
    assert not any(a.retriable for a in result.answers)


def test_the_smoke_client_tries_once_on_a_short_timeout():
    c = smoke_client_config()
    assert c.retries["max_attempts"] == 1 and c.read_timeout == 10
