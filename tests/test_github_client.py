"""The GitHub App client against the fake GitHub (held to GitHub's OpenAPI description)."""

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest
from github import GithubException

from bot.core.config import Secret
from bot.adapters.github import GitHubApp, upsert_marked_comment
from bot.core.logs import JsonFormatter
from tests.support.fake_github import FakeGitHub

MARKER = "<!-- modelbot:report -->"


@pytest.fixture
def repo(fake_github):
    inst = fake_github.add_installation("acme").id
    fake_github.add_repo("acme/models", {"README.md": "models\n"}, installation_id=inst)
    fake_github.open_pull_request("acme/models", "feature", files={"models/a/modelbot.yaml": "x: 1\n"},
                                  number=7)
    return inst


@pytest.fixture
def app(fake_github):
    return GitHubApp(str(fake_github.app_id), Secret(fake_github.private_key_pem), fake_github.url,
                     write_interval=0)


def test_installation_token_is_minted_once_and_cached(fake_github, repo, app):
    for _ in range(3):
        app.client(repo).get_repo("acme/models")
    assert fake_github.tokens_minted == 1


def test_token_is_refreshed_shortly_before_it_expires(fake_github, repo):
    fake_github.token_lifetime = dt.timedelta(minutes=4)  # inside the five-minute margin
    app = GitHubApp(str(fake_github.app_id), Secret(fake_github.private_key_pem), fake_github.url,
                    write_interval=0)
    app.client(repo).get_repo("acme/models")
    app.client(repo).get_repo("acme/models")
    assert fake_github.tokens_minted == 2


def test_jwt_from_another_key_is_refused(fake_github, repo):
    other = FakeGitHub.generate_app_key()[0]
    app = GitHubApp(str(fake_github.app_id), Secret(other), fake_github.url, write_interval=0)
    with pytest.raises(GithubException) as err:
        app.installation_token(repo)
    assert err.value.status == 401
    assert fake_github.tokens_minted == 0
    fake_github.auth_failures.clear()


def test_bot_login_comes_from_the_app(fake_github, app):
    assert app.bot_login() == f"{fake_github.app.slug}[bot]"


def test_reads_are_retried_on_server_errors(fake_github, repo, app):
    gh = app.client(repo)
    fake_github.fail_next("GET", r"^/repos/acme/models$", status=502, times=2)
    assert gh.get_repo("acme/models").full_name == "acme/models"
    assert fake_github.count("GET", r"^/repos/acme/models$") == 3


def test_a_failed_write_is_not_retried_blindly_and_the_next_attempt_edits_in_place(fake_github, repo, app):
    issue = app.client(repo).get_repo("acme/models").get_issue(7)
    # GitHub creates the comment, then the answer is lost in a 502.
    fake_github.fail_next("POST", r"/issues/7/comments$", status=502, after=True)
    with pytest.raises(GithubException):
        upsert_marked_comment(issue, MARKER, app.bot_login(), f"{MARKER}\nfirst")
    assert fake_github.count("POST", r"/issues/7/comments$") == 1
    # The handler runs again (the worker retries the delivery): it finds its comment and edits it.
    upsert_marked_comment(issue, MARKER, app.bot_login(), f"{MARKER}\nsecond")
    upsert_marked_comment(issue, MARKER, app.bot_login(), f"{MARKER}\nsecond")  # no change: no write
    comments = fake_github.comments_on("acme/models", 7)
    assert len(comments) == 1 and comments[0].body.endswith("second")
    assert fake_github.count("PATCH", r"/issues/comments/") == 1


def test_comments_by_others_carrying_the_marker_are_not_taken_over(fake_github, repo, app):
    fake_github.add_comment("acme/models", 7, f"{MARKER}\nforged by a human", user="mallory")
    issue = app.client(repo).get_repo("acme/models").get_issue(7)
    upsert_marked_comment(issue, MARKER, app.bot_login(), f"{MARKER}\nthe real report")
    bodies = [c.body for c in fake_github.comments_on("acme/models", 7)]
    assert bodies == [f"{MARKER}\nforged by a human", f"{MARKER}\nthe real report"]


@pytest.mark.parametrize("kind", ["primary", "429"])
def test_rate_limited_writes_are_waited_out_and_sent_once(fake_github, repo, app, kind):
    issue = app.client(repo).get_repo("acme/models").get_issue(7)
    fake_github.rate_limit_next("POST", r"/issues/7/comments$", kind=kind, retry_after=1)
    issue.create_comment("hello")
    assert fake_github.count("POST", r"/issues/7/comments$") == 2
    assert len(fake_github.comments_on("acme/models", 7)) == 1


def test_tokens_never_reach_the_logs(fake_github, repo, app):
    token = app.installation_token(repo)
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "calling with %s", (token,), None)
    line = json.loads(JsonFormatter().format(record))
    assert token not in line["msg"] and "***" in line["msg"]
