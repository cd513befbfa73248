"""The GitHub request budget (issue #17, deliverable 4): bot.core.pacing's decisions, the pacer
that applies them to every request (bot.adapters.github.pacer), its book in the store, the
coalescing of superseded writes, and a fake that enforces GitHub's documented secondary limits.

Time is virtual: the pacer's clock and sleep are injected, so a minute of pacing takes no time."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from bot.adapters.github import GitHubApp
from bot.adapters.github.checks import publish_check_run
from bot.adapters.github.comments import sync_comments
from sqlalchemy import select

from bot.adapters.store import GitHubWriteRow
from bot.adapters.github.pacer import MemoryBook, Pacer, PaceTimeout, news_from, superseding
from bot.app.metrics import render
from bot.core.config import ConfigError, Secret, load_settings
from bot.core.pacing import Limits, hold_until, is_refusal, is_write, next_slot
from bot.core.report import CheckOutput
from tests.conftest import ROOT, SECRET, TEST_CONFIG
from tests.support.harness import Harness
from tests.support.fake_github import FakeGitHub
from tests.support.github_limits import MESSAGE, SecondaryLimits

REPO = "acme/models"


class VirtualClock:
    """Epoch seconds that move only when someone sleeps (one thread at a time)."""

    def __init__(self, start: float | None = None):
        self.now = time.time() if start is None else start
        self.slept: list[float] = []
        self.on_sleep = None  # called once per sleep, before time moves (to interleave a run)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        hook, self.on_sleep = self.on_sleep, None
        if hook is not None:
            hook()
        self.now += seconds


# --- the decisions --------------------------------------------------------------------------------

def test_only_mutating_rest_requests_are_writes():
    assert is_write("POST", "/repos/a/b/issues/1/comments") and is_write("patch", "/repos/a/b/check-runs/3")
    assert is_write("PUT", "/x") and is_write("DELETE", "/repos/a/b/issues/comments/9")
    assert not is_write("GET", "/repos/a/b") and not is_write("POST", "/graphql")
    assert not is_write("POST", "/api/graphql")  # GitHub Enterprise Server's path


def test_writes_are_a_second_apart_and_capped_per_minute_and_hour():
    limits = Limits()
    assert next_slot(100.0, [], limits) == 100.0
    assert next_slot(100.0, [99.5], limits) == 100.5
    assert next_slot(100.0, [100.0, 101.0, 102.0], limits) == 103.0  # queued behind reservations
    minute = [40.25 + i * 0.25 for i in range(80)]  # 80 writes in the last minute (spacing aside)
    assert next_slot(100.0, minute, limits) == 100.25  # when the first of them leaves the window
    hour = [i * 7.0 for i in range(500)]  # 500 writes in the last hour, 7 s apart
    slot = next_slot(3500.0, hour, limits)
    assert slot == 3600.0  # the oldest (t=0) leaves the hour at 3600
    assert next_slot(100.0, [], limits, blocked_until=130.0) == 130.0


def test_what_an_answer_says_about_waiting():
    limits = Limits()
    assert hold_until(403, {"Retry-After": "30"}, 1000.0, limits, MESSAGE) == 1030.0
    assert hold_until(200, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1500"}, 1000.0, limits) == 1500.0
    assert hold_until(200, {"x-ratelimit-remaining": "7", "x-ratelimit-reset": "1500"}, 1000.0, limits) is None
    # a refusal that names no time: at least a minute
    assert hold_until(403, {}, 1000.0, limits, MESSAGE) == 1060.0
    assert is_refusal(429, {}) and is_refusal(403, {"retry-after": "1"}) and not is_refusal(403, {}, "Forbidden")
    assert not is_refusal(200, {"x-ratelimit-remaining": "0"})
    # GraphQL's own budget running out holds no REST request (the reader falls back to REST)
    graphql = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1500", "x-ratelimit-resource": "graphql"}
    assert hold_until(200, graphql, 1000.0, limits) is None
    assert not is_refusal(403, graphql, "API rate limit exceeded") and hold_until(403, graphql, 1000.0, limits) is None
    core = dict(graphql, **{"x-ratelimit-resource": "core"})
    assert is_refusal(403, core) and hold_until(403, core, 1000.0, limits) == 1500.0


# --- the pacer against the fake -----------------------------------------------------------------

@pytest.fixture
def clock():
    return VirtualClock()


@pytest.fixture
def strict_github(clock):
    with FakeGitHub(secondary_limits=SecondaryLimits(clock=clock)) as gh:
        yield gh


def _app(gh, clock, book=None, limits=None) -> GitHubApp:
    pacer = Pacer(book if book is not None else MemoryBook(), limits or Limits(), clock=clock, sleep=clock.sleep)
    return GitHubApp(str(gh.app_id), Secret(gh.private_key_pem), gh.url, pacer=pacer)


def _repo(gh) -> int:
    inst = gh.add_installation("acme").id
    gh.add_repo(REPO, {"README.md": "x\n"}, installation_id=inst)
    gh.open_pull_request(REPO, "feature", files={"a.txt": "a\n"}, number=7)
    return inst


def test_the_fake_enforces_the_documented_limits_only_when_asked(clock):
    with FakeGitHub() as lax:
        inst = _repo(lax)
        issue = _app(lax, clock, limits=Limits.unlimited()).client(inst).get_repo(REPO).get_issue(7)
        for i in range(90):
            issue.create_comment(f"c{i}")
        assert lax.secondary_limits is None and lax.count("POST", r"/issues/7/comments$") == 90
    limits = SecondaryLimits(clock=clock)
    with FakeGitHub(secondary_limits=limits) as strict:
        inst = _repo(strict)
        token = strict.mint_token(inst)
        url = f"{strict.url}/repos/{REPO}/issues/7/comments"
        headers = {"Authorization": f"token {token}"}
        assert requests.post(url, json={"body": "one"}, headers=headers).status_code == 201
        refused = requests.post(url, json={"body": "two"}, headers=headers)  # no time passed
        assert refused.status_code == 403 and refused.json()["message"] == MESSAGE
        assert refused.headers["Retry-After"] == "1"
        limits.write_interval = 0  # (a second apart, a minute holds 60 writes: the cap is checked alone)
        for i in range(79):  # 80 in the minute go through...
            clock.now += 0.5
            assert requests.post(url, json={"body": f"c{i}"}, headers=headers).status_code == 201, i
        clock.now += 0.5
        over = requests.post(url, json={"body": "81st"}, headers=headers)  # ... the 81st does not
        assert over.status_code == 403 and int(over.headers["Retry-After"]) >= 1
        assert [why for *_, why in limits.refusals] == ["0.000 s after the previous write",
                                                       "80 writes in the last minute"]
        assert len(strict.comments_on(REPO, 7)) == 80


def test_writes_are_paced_to_stay_under_the_limits(strict_github, clock):
    inst = _repo(strict_github)
    issue = _app(strict_github, clock).client(inst).get_repo(REPO).get_issue(7)
    started = clock()
    for i in range(100):
        issue.create_comment(f"c{i}")
    assert strict_github.secondary_limits.refusals == []
    assert len(strict_github.comments_on(REPO, 7)) == 100
    assert clock() - started >= 99  # a second apart


def test_a_retry_after_holds_reads_and_writes_and_the_refused_write_is_sent_once(clock):
    with FakeGitHub() as gh:
        inst = _repo(gh)
        app = _app(gh, clock)
        issue = app.client(inst).get_repo(REPO).get_issue(7)
        gh.rate_limit_next("POST", r"/issues/7/comments$", kind="secondary", retry_after=42)
        before = clock()
        issue.create_comment("hello")
        assert clock() - before >= 42
        assert gh.count("POST", r"/issues/7/comments$") == 2 and len(gh.comments_on(REPO, 7)) == 1
        gh.rate_limit_next("GET", r"/pulls/7$", kind="429", retry_after=9)
        before = clock()
        app.client(inst).get_repo(REPO).get_pull(7)  # a read waits it out as well
        assert clock() - before >= 9
        # the next read of the installation, refused by nobody, is held by what GitHub said
        gh.rate_limit_next("GET", r"/pulls/7$", kind="429", retry_after=5)
        app.client(inst).get_repo(REPO).get_pull(7)
        assert app.pacer.book.github_held_until(inst) >= before + 5
        assert [s[2:5] for s in app.pacer.stats() if s[0] == inst] == [(1, 0, 3)]  # sent, coalesced, refused


def test_remaining_zero_waits_until_the_reset(clock):
    with FakeGitHub() as gh:
        inst = _repo(gh)
        app = _app(gh, clock)
        pulls = app.client(inst).get_repo(REPO)
        reset = int(clock()) + 600
        gh.rate_remaining, gh.rate_reset = 1, reset
        pulls.get_pull(7)  # answered with x-ratelimit-remaining: 0
        assert clock.slept == [] and app.pacer.book.github_held_until(inst) == reset
        gh.rate_remaining, gh.rate_reset = 5000, reset + 3600  # GitHub's budget is back after the reset
        pulls.get_pull(7)
        assert clock() >= reset and gh.count("GET", r"/pulls/7$") == 2


def test_a_hold_longer_than_the_cap_is_not_sat_out(clock):
    with FakeGitHub() as gh:
        inst = _repo(gh)
        app = _app(gh, clock, limits=Limits(max_wait=60))
        issue = app.client(inst).get_repo(REPO).get_issue(7)
        gh.rate_limit_next("POST", r"/issues/7/comments$", kind="secondary", retry_after=3600)
        with pytest.raises(PaceTimeout):
            issue.create_comment("hello")
        assert gh.comments_on(REPO, 7) == [] and clock.slept == []


# --- the store's book: one budget for every process --------------------------------------------

def test_the_store_book_spaces_and_caps_concurrency(store):
    limits = Limits(interval=1.0, concurrency=1)
    a, slot_a = store.reserve_write(5, 1000.0, limits)
    b, slot_b = store.reserve_write(5, 1000.0, limits)
    other, slot_other = store.reserve_write(6, 1000.0, limits)  # another installation: its own budget
    assert (slot_a, slot_b, slot_other) == (1000.0, 1001.0, 1000.0)
    assert store.start_write(5, a, 1000.0, limits, 60) == 0.0
    assert store.start_write(5, b, 1001.0, limits, 60) > 0  # a is still in flight
    store.finish_write(5, a, "sent", 0.0)
    assert store.start_write(5, b, 1001.0, limits, 60) == 0.0
    store.finish_write(5, b, "sent", 1.0)
    c, slot_c = store.reserve_write(5, 1001.2, limits)
    assert slot_c == 1002.0
    store.finish_write(5, c, "coalesced", 0.8)
    store.hold_github(5, 2000.0, refused=True)
    assert store.github_held_until(5) == 2000.0
    assert store.reserve_write(5, 1003.0, limits)[1] == 2000.0
    stats = {s[0]: s[1:] for s in store.pacing_stats(now=1003.0)}
    assert stats[5] == (1, 2, 1, 1, 1.8) and stats[6][0] == 1  # waiting, sent, coalesced, refused, waited
    assert {s[0]: s[1] for s in store.pacing_stats(now=1000.0 + 121)}[6] == 0  # its waiter died long ago


def test_writes_from_many_threads_share_one_budget(store):
    """Four threads (as a worker's consumer) writing through one store book: starts a second
    apart, never two in flight (real time, scaled down: the interval is 20 ms)."""
    limits = Limits(interval=0.02, concurrency=1)
    pacer = Pacer(store, limits)
    flying, worst = [0], [0]
    lock = threading.Lock()

    class Response:
        status = 201

        def getheaders(self):
            return {}.items()

    def send():
        with lock:
            flying[0] += 1
            worst[0] = max(worst[0], flying[0])
        time.sleep(0.005)
        with lock:
            flying[0] -= 1
        return Response()

    def run():
        for _ in range(5):
            pacer.request(9, "POST", "/repos/a/b/issues/1/comments", send)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert worst[0] == 1
    with store.session() as s:  # the book's record of when each write started
        starts = sorted(r.slot for r in s.scalars(select(GitHubWriteRow).where(GitHubWriteRow.installation_id == 9)))
    assert len(starts) == 20 and min(b - a for a, b in zip(starts, starts[1:])) >= 0.02
    assert store.pacing_stats()[0][:3] == (9, 0, 20)


# --- coalescing -------------------------------------------------------------------------------------

def _marked(body: str):
    return "report" if body.startswith("<!-- report -->") else None


def test_a_superseded_report_is_never_written_and_the_newest_always_is(clock):
    with FakeGitHub(secondary_limits=SecondaryLimits(clock=clock)) as gh:
        inst = _repo(gh)
        app = _app(gh, clock)
        login = app.bot_login()
        requester = app.client(inst).requester
        sync_comments(requester, REPO, 7, login, {"report": "<!-- report -->\nv1"}, _marked)  # the report exists
        written = []

        def newer():  # while the older run waits for its slot, a newer refresh writes its report
            with superseding(requester, f"report:{REPO}#7"):
                sync_comments(requester, REPO, 7, login, {"report": "<!-- report -->\nv3 (newest)"}, _marked)
            written.append("newer")

        clock.on_sleep = newer
        with superseding(requester, f"report:{REPO}#7"):
            sync_comments(requester, REPO, 7, login, {"report": "<!-- report -->\nv2 (superseded)"}, _marked)
            written.append("older, not superseded")  # never reached: the block ends at the dropped write
        written.append("older run finished")
        bodies = [c.body for c in gh.comments_on(REPO, 7)]
        assert bodies == ["<!-- report -->\nv3 (newest)"]
        sent = [c.json for c in gh.calls if c.method in ("POST", "PATCH")]
        assert not any("superseded" in str(body) for body in sent)
        assert written == ["newer", "older run finished"]
        assert [s[3] for s in app.pacer.stats() if s[0] == inst] == [1]  # one write coalesced
        assert gh.secondary_limits.refusals == []


def test_the_newest_run_writes_even_when_it_waited_longest(clock):
    with FakeGitHub() as gh:
        inst = _repo(gh)
        app = _app(gh, clock)
        login = app.bot_login()
        requester = app.client(inst).requester
        with superseding(requester, f"report:{REPO}#7"):
            sync_comments(requester, REPO, 7, login, {"report": "<!-- report -->\nfirst"}, _marked)
        with superseding(requester, f"report:{REPO}#7"):  # the next run, paced a second later
            sync_comments(requester, REPO, 7, login, {"report": "<!-- report -->\nsecond"}, _marked)
        assert [c.body for c in gh.comments_on(REPO, 7)] == ["<!-- report -->\nsecond"]
        assert clock.slept and [s[3] for s in app.pacer.stats() if s[0] == inst] == [0]


def test_later_news_wins_whichever_run_reaches_the_report_first(clock):
    with FakeGitHub() as gh:
        inst = _repo(gh)
        app = _app(gh, clock)
        login = app.bot_login()
        requester = app.client(inst).requester
        with news_from(2000.0), superseding(requester, f"report:{REPO}#7"):  # the later delivery, first
            sync_comments(requester, REPO, 7, login, {"report": "<!-- report -->\nabout the second push"}, _marked)
        with news_from(1000.0), superseding(requester, f"report:{REPO}#7"):  # the earlier one, retried after
            sync_comments(requester, REPO, 7, login, {"report": "<!-- report -->\nabout the first push"}, _marked)
        assert [c.body for c in gh.comments_on(REPO, 7)] == ["<!-- report -->\nabout the second push"]
        assert not any("first push" in str(c.json) for c in gh.calls)
        with news_from(3000.0), superseding(requester, f"report:{REPO}#7"):  # later news again: written
            sync_comments(requester, REPO, 7, login, {"report": "<!-- report -->\nthird"}, _marked)
        assert [c.body for c in gh.comments_on(REPO, 7)] == ["<!-- report -->\nthird"]


def test_metrics_show_the_pacer_queue_and_counters(settings, store, queue):
    limits = Limits()
    now = time.time()
    store.reserve_write(77, now, limits)
    done, _ = store.reserve_write(77, now, limits)
    store.start_write(77, done, now + 1, limits, 60)
    store.finish_write(77, done, "sent", 1.0)
    store.hold_github(77, 0.0, refused=True)
    text = render(store, queue).decode()
    assert 'modelbot_github_writes_waiting{installation="77"} 1.0' in text
    assert 'modelbot_github_writes_total{installation="77"} 1.0' in text
    assert 'modelbot_github_writes_coalesced_total{installation="77"} 0.0' in text
    assert 'modelbot_github_rate_limited_total{installation="77"} 1.0' in text
    assert 'modelbot_github_write_wait_seconds_total{installation="77"} 1.0' in text


def test_the_settings_describe_the_budget(tmp_path):
    from_env = {"MODELBOT_CONFIG": str(TEST_CONFIG), "MODELBOT_DATA_DIR": str(tmp_path),
                "MODELBOT_WEBHOOK_SECRETS": "a-secret-of-the-test"}
    assert load_settings(from_env).github_limits() == Limits()  # GitHub's documented numbers
    tuned = load_settings({**from_env, "MODELBOT_GITHUB_WRITE_INTERVAL": "2.5", "MODELBOT_GITHUB_WRITES_PER_MINUTE": "40",
                           "MODELBOT_GITHUB_WRITES_PER_HOUR": "300", "MODELBOT_GITHUB_WRITE_CONCURRENCY": "2"})
    assert tuned.github_limits() == Limits(interval=2.5, per_minute=40, per_hour=300, concurrency=2)
    assert load_settings({**from_env, "MODELBOT_GITHUB_WRITE_INTERVAL": "0"}).github_limits() == Limits.unlimited()
    with pytest.raises(ConfigError):
        load_settings({**from_env, "MODELBOT_GITHUB_WRITES_PER_MINUTE": "0"})


def test_every_write_of_a_delivery_goes_through_the_pacer(bot_env, store, queue, fake_github):
    """A pull request's whole refresh (report comment, check runs) as the worker runs it: each
    write GitHub received was one the store's book counted, the App's own (the token) apart."""
    inst = fake_github.add_installation("acme").id
    fake_github.add_repo(REPO, {"README.md": "models\n"}, installation_id=inst)
    fake_github.open_pull_request(REPO, "feature", number=7,
                                  files={"models/churn/modelbot.yaml": (ROOT / "examples" / "minimal.yaml").read_text()})
    bot = Harness(load_settings(bot_env), store, queue, fake_github, secret=SECRET)
    assert bot.deliver("pull_request", bot.pr_event("opened", REPO, 7)) == "done"
    writes = [c for c in fake_github.calls if is_write(c.method, c.path)]
    by_token = sum(c.auth == "token" for c in writes)
    sent = {s[0]: s[2] for s in store.pacing_stats()}
    assert by_token >= 3 and sent[inst] == by_token  # the report and at least two check runs
    assert sent.get(0, 0) == sum(c.auth == "jwt" for c in writes) == 1  # the installation token


def test_a_superseded_check_run_update_is_not_sent(clock):
    with FakeGitHub() as gh:
        inst = _repo(gh)
        app = _app(gh, clock)
        requester = app.client(inst).requester
        head = gh.head_sha(REPO, gh.pull(REPO, 7))
        requester.requestJsonAndCheck("POST", f"/repos/{REPO}/issues/7/comments", input={"body": "x"})  # spacing
        ids = []

        def newer():
            ids.append(publish_check_run(requester, REPO, head, "modelbot/validate",
                                         CheckOutput("success", "newer", "the newer run", "")))

        clock.on_sleep = newer
        older = publish_check_run(requester, REPO, head, "modelbot/validate",
                                  CheckOutput("failure", "older", "the older run", ""))
        runs = gh.check_runs_for(REPO, head_sha=head, name="modelbot/validate")
        assert older is None and len(ids) == 1 and ids[0] is not None
        assert [r.conclusion for r in runs] == ["success"]  # only the newer run was created
        # another check name or another commit is another target: both are written
        other = publish_check_run(requester, REPO, head, "modelbot/approval", CheckOutput("success", "a", "b", ""))
        assert other is not None
