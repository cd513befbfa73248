"""The fake GitHub is held against GitHub's REST contract, and real PyGithub calls drive it."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import requests
from github import Auth, Github, GithubException, GithubIntegration
from github.GithubRetry import GithubRetry

from tests.support import github_render
from tests.support.fake_github import FakeGitHub, generate_app_key
from tests.support.github_contract import RestContract

REPO = "acme/models"


@pytest.fixture(scope="module")
def server():
    with FakeGitHub() as gh:
        yield gh


@pytest.fixture
def fake(server):
    """A clean fake per test; a test fails if any request broke GitHub's contract."""
    server.reset()
    yield server
    server.assert_no_violations()


@pytest.fixture
def repo(fake):
    return fake.add_repo(REPO, {"models/churn/modelbot.yaml": "name: churn\nversion: 1\n",
                                "models/churn/README.md": "churn model\n", "README.md": "# models\n"})


@pytest.fixture
def token(fake, repo):
    return fake.mint_token(repo.installation_id)


def client(fake, token, **kwargs) -> Github:
    """PyGithub as the bot uses it, without its politeness delays (0.25 s per request, 1 s per write)."""
    kwargs.setdefault("retry", None)
    return Github(auth=Auth.Token(token), base_url=fake.url, seconds_between_requests=0,
                  seconds_between_writes=0, **kwargs)


def call(fake, method, path, token=None, **kwargs) -> requests.Response:
    headers = kwargs.pop("headers", {})
    if token:
        headers["Authorization"] = f"token {token}"
    return requests.request(method, fake.url + path, headers=headers, timeout=5, **kwargs)


def take_violations(fake) -> list[str]:
    found, fake.violations[:] = list(fake.violations), []
    return found


# --- requests are held against the contract ------------------------------------------------------


def test_check_run_without_name_or_head_sha_is_refused(fake, repo, token):
    answer = call(fake, "POST", f"/repos/{REPO}/check-runs", token, json={"status": "queued"})

    assert answer.status_code == 422
    assert answer.json()["message"].startswith("Invalid request.")
    found = take_violations(fake)
    assert any("'name' is a required property" in v for v in found)
    assert any("'head_sha' is a required property" in v for v in found)
    assert fake.check_runs_for(repo) == []


def test_comment_without_body_is_refused(fake, repo, token):
    pr = fake.open_pull_request(repo, "feature", files={"a.txt": "a"})

    answer = call(fake, "POST", f"/repos/{REPO}/issues/{pr.number}/comments", token, json={"text": "hi"})

    assert answer.status_code == 422
    assert any("'body' is a required property" in v for v in take_violations(fake))
    assert fake.comments_on(repo, pr.number) == []


def test_comment_body_is_limited_to_65536_characters(fake, repo, token):
    pr = fake.open_pull_request(repo, "feature", files={"a.txt": "a"})
    path = f"/repos/{REPO}/issues/{pr.number}/comments"

    too_long = call(fake, "POST", path, token, json={"body": "x" * 65537})
    at_limit = call(fake, "POST", path, token, json={"body": "x" * 65536})

    assert too_long.status_code == 422
    assert too_long.json()["errors"][0]["field"] == "body"
    assert at_limit.status_code == 201
    assert [len(c.body) for c in fake.comments_on(repo, pr.number)] == [65536]


def test_more_than_50_annotations_per_request_are_refused_and_later_requests_append(fake, repo, token):
    sha = repo.branches["main"]
    note = {"path": "README.md", "start_line": 1, "end_line": 1, "annotation_level": "warning", "message": "m"}
    output = {"title": "Policy", "summary": "s"}

    refused = call(fake, "POST", f"/repos/{REPO}/check-runs", token,
                   json={"name": "policy", "head_sha": sha, "output": {**output, "annotations": [note] * 51}})
    assert refused.status_code == 422
    assert any("$.output.annotations: has 51 items, at most 50 allowed" in v for v in take_violations(fake))

    created = call(fake, "POST", f"/repos/{REPO}/check-runs", token,
                   json={"name": "policy", "head_sha": sha, "output": {**output, "annotations": [note] * 50}})
    run_id = created.json()["id"]
    updated = call(fake, "PATCH", f"/repos/{REPO}/check-runs/{run_id}", token,
                   json={"output": {"summary": "s2", "annotations": [note] * 30}})

    assert updated.json()["output"]["annotations_count"] == 80
    assert updated.json()["output"]["summary"] == "s2"


def test_check_run_summary_over_65535_characters_is_refused(fake, repo, token):
    answer = call(fake, "POST", f"/repos/{REPO}/check-runs", token,
                  json={"name": "p", "head_sha": repo.branches["main"],
                        "output": {"title": "t", "summary": "s" * 65536}})

    assert answer.status_code == 422
    assert any("$.output.summary" in v for v in take_violations(fake))


def test_completed_check_run_needs_a_conclusion(fake, repo, token):
    answer = call(fake, "POST", f"/repos/{REPO}/check-runs", token,
                  json={"name": "p", "head_sha": repo.branches["main"], "status": "completed"})

    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "conclusion"


def test_unknown_route_is_refused_and_recorded(fake, repo, token):
    unknown = call(fake, "GET", f"/repos/{REPO}/pulls/1/merge", token)
    wrong_method = call(fake, "PUT", f"/repos/{REPO}/issues/comments/5", token, json={"body": "x"})

    assert unknown.status_code == wrong_method.status_code == 404
    assert unknown.json()["message"] == "Not Found"
    found = take_violations(fake)
    assert found[0].startswith(f"GET /repos/{REPO}/pulls/1/merge: no such operation")
    assert "takes DELETE, GET, PATCH" in found[1]


def test_bad_path_and_query_parameters_are_refused(fake, repo, token):
    not_a_number = call(fake, "GET", f"/repos/{REPO}/pulls/abc", token)
    bad_enum = call(fake, "GET", f"/repos/{REPO}/commits/main/check-runs?status=done", token)

    assert not_a_number.status_code == 404
    assert bad_enum.status_code == 422
    found = take_violations(fake)
    assert "pull_number='abc': is not an integer" in found[0]
    assert "'done' is not one of ['queued', 'in_progress', 'completed']" in found[1]


def test_undefined_query_parameter_is_answered_but_recorded(fake, repo, token):
    answer = call(fake, "GET", f"/repos/{REPO}?per_pgae=100", token)

    assert answer.status_code == 200  # GitHub ignores it, so does the fake...
    assert take_violations(fake) == [  # ...but the bot meant something else
        f"GET /repos/{REPO} (repos/get): query parameter 'per_pgae' is not defined for "
        "GET /repos/{owner}/{repo} (repos/get)"]


def test_pygithub_add_to_labels_sends_a_body_the_contract_refuses(fake, repo, token):
    """PyGithub posts a bare JSON array; @octokit/openapi 23.0.2 only describes {"labels": [...]}."""
    pr = fake.open_pull_request(repo, "feature", files={"a.txt": "a"})
    gh = client(fake, token)

    with pytest.raises(GithubException) as refused:
        gh.get_repo(REPO).get_issue(pr.number).add_to_labels("deploy:staging")
    answer = call(fake, "POST", f"/repos/{REPO}/issues/{pr.number}/labels", token,
                  json={"labels": ["deploy:staging"]})

    assert refused.value.status == 422
    assert any("body $" in v for v in take_violations(fake))
    assert [label["name"] for label in answer.json()] == ["deploy:staging"]
    assert fake.labels_on(repo, pr.number) == ["deploy:staging"]


# --- the fake's answers are held against the contract --------------------------------------------


def test_an_answer_that_drifts_from_the_schema_is_a_loud_bug(fake, repo, token, monkeypatch):
    original = github_render.Renderer.repository

    def without_default_branch(self, r):
        data = original(self, r)
        del data["default_branch"]
        return data

    monkeypatch.setattr(github_render.Renderer, "repository", without_default_branch)
    answer = call(fake, "GET", f"/repos/{REPO}", token)

    assert answer.status_code == 500
    found = take_violations(fake)
    assert found[0].startswith("FAKE GITHUB BUG")
    assert "'default_branch' is a required property" in found[0]


def test_every_operation_of_the_contract_has_a_handler():
    missing = [op.name for op in RestContract().operations
               if not hasattr(FakeGitHub, "_op_" + re.sub(r"[^a-z0-9]+", "_", op.operation_id))]
    assert missing == []


def _exercise_every_operation(fake, repo):
    """One conforming request per operation of the subset (all answers are schema-checked)."""
    pr = fake.open_pull_request(repo, "feature", files={"models/churn/modelbot.yaml": "name: churn\nversion: 2\n"})
    head = fake.head_sha(repo, pr)
    comment = fake.add_comment(repo, pr.number, "looks good", user="bob")
    fake.add_review(repo, pr.number, "bob", "APPROVED")
    fake.set_permission(repo, "bob", "maintain")
    fake.add_team_member("acme", "ml-owners", "bob", role="maintainer")
    inst = repo.installation_id
    tree = repo.commits[head].tree
    blob = next(e.sha for e in repo.trees[tree] if e.type == "blob")
    deployment = {"ref": head, "auto_merge": False, "required_contexts": [], "environment": "staging"}
    fake.set_branch_protection(repo, "main", contexts=["ci"], checks=[("modelbot/validate", fake.app_id)])
    fake.add_ruleset(repo, "main", required_checks=["modelbot/approval", ("modelbot/compare", fake.app_id)])
    code = fake.issue_manifest_code({"name": "modelbot", "url": "https://bot.example.com"})
    return [
        ("jwt", "GET", "/app", None),
        ("jwt", "GET", f"/app/installations/{inst}", None),
        ("jwt", "POST", f"/app/installations/{inst}/access_tokens", {"permissions": {"checks": "write"}}),
        (None, "GET", "/rate_limit", None),
        (None, "POST", f"/app-manifests/{code}/conversions", None),
        ("token", "GET", f"/repos/{REPO}", None),
        ("token", "GET", f"/repos/{REPO}/pulls/{pr.number}", None),
        ("token", "GET", f"/repos/{REPO}/pulls/{pr.number}/files", None),
        ("token", "GET", f"/repos/{REPO}/pulls/{pr.number}/reviews", None),
        ("token", "GET", f"/repos/{REPO}/pulls/{pr.number}/commits", None),
        ("token", "GET", f"/repos/{REPO}/issues/{pr.number}", None),
        ("token", "GET", f"/repos/{REPO}/issues/{pr.number}/comments", None),
        ("token", "POST", f"/repos/{REPO}/issues/{pr.number}/comments", {"body": "report"}),
        ("token", "GET", f"/repos/{REPO}/issues/comments/{comment.id}", None),
        ("token", "POST", f"/repos/{REPO}/issues/comments/{comment.id}/reactions", {"content": "eyes"}),
        ("token", "PATCH", f"/repos/{REPO}/issues/comments/{comment.id}", {"body": "edited"}),
        ("token", "GET", f"/repos/{REPO}/contents/models/churn/modelbot.yaml?ref=feature", None),
        ("token", "GET", f"/repos/{REPO}/contents/models?ref={head}", None),
        ("token", "GET", f"/repos/{REPO}/tarball/{head}", None),
        ("token", "GET", f"/repos/{REPO}/git/trees/{tree}?recursive=1", None),
        ("token", "GET", f"/repos/{REPO}/git/blobs/{blob}", None),
        ("token", "GET", f"/repos/{REPO}/git/commits/{head}", None),
        ("token", "GET", f"/repos/{REPO}/commits/{head}", None),
        ("token", "GET", f"/repos/{REPO}/commits/{head}/pulls", None),
        ("token", "GET", f"/repos/{REPO}/compare/main...feature", None),
        ("token", "POST", f"/repos/{REPO}/check-runs", {"name": "policy", "head_sha": head, "status": "in_progress"}),
        ("token", "GET", f"/repos/{REPO}/commits/feature/check-runs", None),
        ("token", "GET", f"/repos/{REPO}/collaborators/bob/permission", None),
        ("token", "GET", "/orgs/acme/teams/ml-owners/memberships/bob", None),
        ("token", "POST", f"/repos/{REPO}/deployments", deployment),
        ("token", "GET", f"/repos/{REPO}/deployments?environment=staging", None),
        ("token", "POST", f"/repos/{REPO}/statuses/{head}", {"state": "pending", "context": "modelbot/eval"}),
        ("token", "POST", f"/repos/{REPO}/issues/{pr.number}/labels", {"labels": ["model-change"]}),
        ("token", "GET", f"/repos/{REPO}/branches/main", None),
        ("token", "GET", f"/repos/{REPO}/branches/main/protection/required_status_checks", None),
        ("token", "GET", f"/repos/{REPO}/rules/branches/main", None),
        ("token", "DELETE", f"/repos/{REPO}/issues/comments/{comment.id}", None),
    ]


def test_every_operation_answers_within_its_schema(fake, repo, token):
    for auth, method, path, body in _exercise_every_operation(fake, repo):
        headers = {"Authorization": f"Bearer {fake.app_jwt()}"} if auth == "jwt" else {}
        answer = call(fake, method, path, token if auth == "token" else None, json=body, headers=headers)
        assert answer.status_code < 300, (method, path, answer.status_code, answer.text[:300])

    run_id = fake.check_runs_for(REPO)[0].id
    dep = fake.repo(REPO).deployments[0]
    fake.request_protection_rule(REPO, run_id=5, environment="staging", sha=repo.branches["main"])
    for method, path, body in [
        ("POST", f"/repos/{REPO}/actions/runs/5/deployment_protection_rule",
         {"environment_name": "staging", "state": "approved", "comment": "ok"}),
        ("POST", f"/repos/{REPO}/issues", {"title": "drift", "body": "<!-- marker -->"}),
        ("GET", f"/repos/{REPO}/issues?state=all&per_page=100", None),
        ("PATCH", f"/repos/{REPO}/issues/{max(fake.repo(REPO).issues) + 1}", {"state": "closed"}),  # the POST's
        ("PATCH", f"/repos/{REPO}/check-runs/{run_id}", {"conclusion": "success", "output": {"summary": "ok"}}),
        ("GET", f"/repos/{REPO}/check-runs/{run_id}", None),
        ("POST", f"/repos/{REPO}/deployments/{dep.id}/statuses", {"state": "success", "environment_url": ""}),
        ("GET", f"/repos/{REPO}/deployments/{dep.id}/statuses", None),
    ]:
        answer = call(fake, method, path, token, json=body)
        assert answer.status_code < 300, (method, path, answer.text[:300])

    fake.add_org_member("acme", "alice")  # a user access token (tests/support/fake_oauth.py)
    fake.set_permission(REPO, "alice", "read")
    user = fake.user_token_for("alice")
    inst = repo.installation_id
    for path in ("/user", "/user/memberships/orgs/acme", f"/repos/{REPO}", "/user/installations",
                 f"/user/installations/{inst}/repositories?per_page=100"):
        answer = call(fake, "GET", path, user)
        assert answer.status_code == 200, (path, answer.text[:300])
    listed = call(fake, "GET", f"/user/installations/{inst}/repositories", user).json()["repositories"]
    assert [(r["full_name"], r["permissions"]["pull"], r["permissions"]["push"]) for r in listed] == [
        (REPO, True, False)]

    exercised = {c.operation for c in fake.calls if c.operation}  # codeload downloads are no operation
    assert exercised == {op.operation_id for op in fake.contract.operations}


def test_tarball_redirects_to_a_single_use_archive_of_the_ref(fake, repo, token):
    import io
    import tarfile

    head = repo.branches["main"]
    answer = call(fake, "GET", f"/repos/{REPO}/tarball/main", token, allow_redirects=False)
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert location.startswith(fake.url + "/")
    archive = requests.get(location, timeout=10)
    names = tarfile.open(fileobj=io.BytesIO(archive.content)).getnames()
    assert f"acme-models-{head[:7]}/models/churn/modelbot.yaml" in names
    assert requests.get(location, timeout=10).status_code == 404  # the link is used up


def test_answers_carry_urls_under_the_fakes_own_base_url(fake, repo, token):
    pr = fake.open_pull_request(repo, "feature", files={"a.txt": "a"})
    bodies = [call(fake, "GET", path, token).json()
              for path in (f"/repos/{REPO}", f"/repos/{REPO}/pulls/{pr.number}", f"/repos/{REPO}/pulls/{pr.number}/files")]

    urls = [s for s in _strings(bodies) if re.match(r"^[a-z+]+://", s)]
    assert urls and all(u.startswith(fake.url + "/") for u in urls if not u.startswith("git://")), \
        [u for u in urls if not u.startswith(fake.url)][:5]


def _strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


# --- authentication ------------------------------------------------------------------------------


def test_app_jwt_from_pygithub_mints_installation_tokens(fake, repo):
    integration = GithubIntegration(auth=Auth.AppAuth(fake.app_id, fake.private_key_pem), base_url=fake.url)

    minted = integration.get_access_token(repo.installation_id)

    assert fake.tokens_minted == 1
    remaining = minted.expires_at - dt.datetime.now(dt.timezone.utc)
    assert dt.timedelta(minutes=59) < remaining <= dt.timedelta(hours=1)
    assert client(fake, minted.token).get_repo(REPO).full_name == REPO
    assert integration.get_app().slug == "modelbot"


def test_token_lifetime_is_configurable_and_expired_tokens_are_refused(fake, repo):
    fake.token_lifetime = dt.timedelta(minutes=10)
    try:
        minted = call(fake, "POST", f"/app/installations/{repo.installation_id}/access_tokens",
                      headers={"Authorization": f"Bearer {fake.app_jwt()}"}).json()
    finally:
        fake.token_lifetime = dt.timedelta(hours=1)
    expires = dt.datetime.fromisoformat(minted["expires_at"].replace("Z", "+00:00"))
    assert expires - dt.datetime.now(dt.timezone.utc) <= dt.timedelta(minutes=10)

    fake.expire_tokens()
    refused = call(fake, "GET", f"/repos/{REPO}", minted["token"])

    assert refused.status_code == 401
    assert refused.json() == {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest",
                              "status": "401"}
    assert "expired" in fake.auth_failures[-1]


@pytest.mark.parametrize("jwt_args, why", [
    ({"private_key_pem": "other key"}, "Signature verification failed"),
    ({"iss": 999}, "is not the App id"),
    ({"issued_at": -700, "expires_in": -60}, "expired"),
    ({"expires_in": 3600}, "longer than 10 minutes"),
])
def test_app_jwt_is_verified(fake, repo, jwt_args, why):
    if jwt_args.get("private_key_pem") == "other key":
        jwt_args = {"private_key_pem": generate_app_key()[0]}

    answer = call(fake, "GET", "/app", headers={"Authorization": f"Bearer {fake.app_jwt(**jwt_args)}"})

    assert answer.status_code == 401
    assert set(answer.json()) == {"message", "documentation_url", "status"}
    assert why in fake.auth_failures[-1]
    assert fake.tokens_minted == 0


def test_endpoints_demand_the_right_kind_of_credential(fake, repo, token):
    token_on_app = call(fake, "GET", "/app", token)
    jwt_on_repo = call(fake, "GET", f"/repos/{REPO}", headers={"Authorization": f"Bearer {fake.app_jwt()}"})
    nothing = call(fake, "GET", f"/repos/{REPO}")

    assert (token_on_app.status_code, jwt_on_repo.status_code, nothing.status_code) == (401, 401, 401)
    assert nothing.json()["message"] == "Requires authentication"


def test_a_person_lists_only_installations_and_repositories_they_have_explicit_access_to(fake, repo, token):
    fake.add_org_member("acme", "alice")
    fake.set_permission(REPO, "alice", "triage")
    fake.add_repo("acme/hidden", {"README.md": "x"})
    fake.set_permission("acme/hidden", "alice", "none")
    fake.add_repo("someone/public-thing", {"README.md": "x"}, private=False)  # another installation
    other = fake.repo("someone/public-thing").installation_id
    user = fake.user_token_for("alice")

    installations = call(fake, "GET", "/user/installations", user).json()
    assert [i["id"] for i in installations["installations"]] == [repo.installation_id]
    assert call(fake, "GET", f"/user/installations/{other}/repositories", user).status_code == 404
    names = [r["full_name"] for r in call(
        fake, "GET", f"/user/installations/{repo.installation_id}/repositories", user).json()["repositories"]]
    assert names == [REPO]  # "none" on acme/hidden (private, no base permission) hides that one
    assert call(fake, "GET", "/user/installations", token).status_code == 403  # a person's, not an installation's
    assert fake.violations == []


def test_a_token_sees_only_its_installations_repositories(fake, repo, token):
    fake.add_repo("other-org/secrets")

    assert call(fake, "GET", "/repos/other-org/secrets", token).status_code == 404
    assert call(fake, "GET", "/orgs/other-org/teams/admins/memberships/bob", token).status_code == 404


def test_missing_permission_is_refused_like_github(fake, repo, token):
    fake.installations[repo.installation_id].permissions.pop("deployments")

    answer = call(fake, "POST", f"/repos/{REPO}/deployments", token,
                  json={"ref": "main", "auto_merge": False, "required_contexts": []})

    assert answer.status_code == 403
    assert answer.json()["message"] == "Resource not accessible by integration"


# --- state: git, pull requests, conversation -----------------------------------------------------


def test_pull_request_files_and_trees_agree(fake, repo, token):
    pr = fake.open_pull_request(repo, "feature", files={
        "models/churn/modelbot.yaml": "name: churn\nversion: 2\n",  # modified
        "models/fraud/modelbot.yaml": "name: fraud\n",  # added
        "README.md": None,  # removed
        "models/churn/README.md": None, "models/churn/NOTES.md": "churn model\n",  # renamed
    })
    gh = client(fake, token).get_repo(REPO)
    pull = gh.get_pull(pr.number)

    files = {f.filename: f for f in pull.get_files()}
    tree = {e.path: e for e in gh.get_git_tree(pull.head.sha, recursive=True).tree}

    assert {name: f.status for name, f in files.items()} == {
        "README.md": "removed", "models/churn/NOTES.md": "renamed",
        "models/churn/modelbot.yaml": "modified", "models/fraud/modelbot.yaml": "added"}
    assert files["models/churn/NOTES.md"].previous_filename == "models/churn/README.md"
    assert (files["models/churn/modelbot.yaml"].additions, files["models/churn/modelbot.yaml"].deletions) == (1, 1)
    assert pull.changed_files == 4
    for name, f in files.items():
        if f.status != "removed":
            assert tree[name].sha == f.sha
            assert gh.get_contents(name, ref=pull.head.sha).sha == f.sha
        else:
            assert name not in tree
    assert gh.get_contents("models/fraud/modelbot.yaml", ref="feature").decoded_content == b"name: fraud\n"
    assert {f.filename for f in gh.compare(pull.base.sha, pull.head.sha).files} == set(files)
    assert tree["models"].type == "tree"
    assert [c.sha for c in pull.get_commits()] == [pull.head.sha]


def test_git_objects_hash_like_git(fake):
    repo = fake.add_repo("acme/hash", {"hello.txt": "hello\n"})
    tip = repo.commits[repo.branches["main"]]

    # `printf 'hello\n' | git hash-object --stdin`; and the tree of that single file
    assert repo.trees[tip.tree][0].sha == "ce013625030ba8dba906f756967f9e9ca394464a"
    assert tip.tree == "aaa96ced2d9a1c8e72c56b253a0e2fe78393feb7"


def test_pushing_to_the_head_branch_moves_the_pull_request(fake, repo, token):
    pr = fake.open_pull_request(repo, "feature", files={"a.txt": "1"})
    first = fake.head_sha(repo, pr)
    second = fake.commit(repo, "feature", {"a.txt": "2"})

    pull = client(fake, token).get_repo(REPO).get_pull(pr.number)

    assert pull.head.sha == second != first
    assert pull.commits == 2


def test_merging_closes_the_pull_request_and_moves_the_base(fake, repo, token):
    pr = fake.open_pull_request(repo, "feature", files={"a.txt": "1"})
    merge_sha = fake.merge_pull_request(repo, pr.number, merged_by="carol")

    pull = client(fake, token).get_repo(REPO).get_pull(pr.number)

    assert (pull.state, pull.merged, pull.merge_commit_sha, pull.merged_by.login) == ("closed", True, merge_sha, "carol")
    assert repo.branches["main"] == merge_sha
    assert repo.commits[merge_sha].files["a.txt"] == b"1"


def test_pygithub_drives_the_bots_writes(fake, repo, token):
    pr = fake.open_pull_request(repo, "feature", files={"models/churn/modelbot.yaml": "name: churn\nversion: 2\n"})
    fake.add_comment(repo, pr.number, "please check", user="bob")
    gh = client(fake, token)
    r = gh.get_repo(REPO)
    pull = r.get_pull(pr.number)

    comment = pull.create_issue_comment("<!-- modelbot:report --> plan")
    comment.edit("<!-- modelbot:report --> plan v2")
    run = r.create_check_run("modelbot/policy", pull.head.sha, status="completed", conclusion="failure",
                             output={"title": "Policy", "summary": "1 violation", "annotations": [
                                 {"path": "models/churn/modelbot.yaml", "start_line": 2, "end_line": 2,
                                  "annotation_level": "failure", "message": "version must be pinned"}]})
    deployment = r.create_deployment(pull.head.sha, environment="staging", auto_merge=False, required_contexts=[],
                                     payload={"build": "b-1"}, production_environment=False)
    dep_status = deployment.create_status("in_progress", description="rolling out")
    status = r.get_commit(pull.head.sha).create_status("pending", description="evaluating", context="modelbot/eval")
    reaction = r.get_issue(pr.number).get_comment(comment.id).create_reaction("eyes")

    mine = [c for c in fake.comments_on(repo, pr.number) if c.user.login == "modelbot[bot]"]
    assert [c.body for c in mine] == ["<!-- modelbot:report --> plan v2"]
    assert (comment.user.login, comment.user.type) == ("modelbot[bot]", "Bot")
    assert [c.user.login for c in pull.get_issue_comments()] == ["bob", "modelbot[bot]"]
    stored = fake.check_runs_for(repo, pull.head.sha, "modelbot/policy")[0]
    assert (run.id, run.conclusion, run.output.annotations_count) == (stored.id, "failure", 1)
    assert stored.annotations[0]["message"] == "version must be pinned"
    assert (deployment.environment, deployment.payload, deployment.sha) == ("staging", {"build": "b-1"}, pull.head.sha)
    assert dep_status.state == "in_progress"
    assert (status.state, status.context) == ("pending", "modelbot/eval")
    assert [(s.state, s.context) for s in fake.statuses_for(repo, pull.head.sha)] == [("pending", "modelbot/eval")]
    assert reaction.content == "eyes"
    assert fake.count("POST", r"/issues/\d+/comments$") == 1


def test_reviews_permissions_and_team_memberships(fake, repo, token):
    pr = fake.open_pull_request(repo, "feature", files={"a.txt": "1"})
    head = fake.head_sha(repo, pr)
    fake.add_review(repo, pr.number, "bob", "APPROVED")
    fake.add_review(repo, pr.number, "eve", "CHANGES_REQUESTED", commit_id=repo.branches["main"])
    fake.set_permission(repo, "bob", "maintain")
    fake.set_permission(repo, "eve", "triage")
    fake.add_team_member("acme", "ml-owners", "bob")
    r = client(fake, token).get_repo(REPO)

    reviews = [(v.user.login, v.state, v.commit_id) for v in r.get_pull(pr.number).get_reviews()]
    levels = {login: r.get_collaborator_permission(login) for login in ("bob", "eve", "alice")}
    detail = call(fake, "GET", f"/repos/{REPO}/collaborators/bob/permission", token).json()
    member = call(fake, "GET", "/orgs/acme/teams/ml-owners/memberships/bob", token)
    stranger = call(fake, "GET", "/orgs/acme/teams/ml-owners/memberships/eve", token)

    assert reviews == [("bob", "APPROVED", head), ("eve", "CHANGES_REQUESTED", repo.branches["main"])]
    assert levels == {"bob": "write", "eve": "read", "alice": "none"}
    assert (detail["permission"], detail["role_name"]) == ("write", "maintain")
    assert (member.status_code, member.json()["state"], stranger.status_code) == (200, "active", 404)


def test_deployment_defaults_bite_as_on_github(fake, repo, token):
    fake.create_branch(repo, "behind", "main")
    fake.commit(repo, "main", {"new.txt": "x"})
    pr = fake.open_pull_request(repo, "feature", files={"a.txt": "1"})
    head = fake.head_sha(repo, pr)
    fake.commit(repo, "main", {"newer.txt": "y"})
    call(fake, "POST", f"/repos/{REPO}/statuses/{head}", token, json={"state": "failure", "context": "ci"})

    auto_merged = call(fake, "POST", f"/repos/{REPO}/deployments", token, json={"ref": "feature"})
    conflict = call(fake, "POST", f"/repos/{REPO}/deployments", token, json={"ref": head})
    explicit = call(fake, "POST", f"/repos/{REPO}/deployments", token,
                    json={"ref": head, "auto_merge": False, "required_contexts": []})

    assert auto_merged.status_code == 202 and "Auto-merged main into feature" in auto_merged.json()["message"]
    assert conflict.status_code == 409
    assert conflict.json()["errors"][0]["contexts"] == [{"context": "ci", "state": "failure"}]
    assert explicit.status_code == 201
    assert len(fake.repo(REPO).deployments) == 1


def test_lists_are_paginated_with_a_link_header(fake, repo, token):
    pr = fake.open_pull_request(repo, "feature", files={"a.txt": "1"})
    for i in range(75):
        fake.add_comment(repo, pr.number, f"comment {i}", user="bob")

    first = call(fake, "GET", f"/repos/{REPO}/issues/{pr.number}/comments?per_page=30", token)
    last = call(fake, "GET", f"/repos/{REPO}/issues/{pr.number}/comments?per_page=30&page=3", token)
    via_pygithub = list(client(fake, token, per_page=30).get_repo(REPO).get_issue(pr.number).get_comments())

    assert len(first.json()) == 30 and len(last.json()) == 15
    assert f'<{fake.url}/repos/{REPO}/issues/{pr.number}/comments?per_page=30&page=2>; rel="next"' in first.headers["Link"]
    assert 'rel="last"' in first.headers["Link"] and 'rel="next"' not in last.headers["Link"]
    assert [c.body for c in via_pygithub] == [f"comment {i}" for i in range(75)]
    assert fake.count("GET", r"/comments$") == 5  # 2 direct calls, 3 pages through PyGithub


# --- rate limits and fault injection -------------------------------------------------------------


def test_every_answer_carries_rate_limit_headers(fake, repo, token):
    fake.set_rate_limit(10, limit=5000)

    before = call(fake, "GET", f"/repos/{REPO}", token)
    after = call(fake, "GET", f"/repos/{REPO}", token)
    overview = call(fake, "GET", "/rate_limit", token).json()

    assert int(before.headers["X-RateLimit-Remaining"]) == 9
    assert int(after.headers["X-RateLimit-Remaining"]) == 8
    assert before.headers["X-RateLimit-Limit"] == "5000" and "X-RateLimit-Reset" in after.headers
    assert overview["rate"]["remaining"] == 8


def test_exhausted_rate_limit_is_refused_with_403(fake, repo, token):
    fake.set_rate_limit(0)

    answer = call(fake, "GET", f"/repos/{REPO}", token)

    assert answer.status_code == 403
    assert answer.headers["X-RateLimit-Remaining"] == "0"
    assert "rate limit exceeded" in answer.json()["message"]


def test_rate_limit_helpers_answer_as_github_does(fake, repo, token):
    fake.rate_limit_next("GET", r"/repos/acme/models$", kind="primary")
    fake.rate_limit_next("GET", r"/repos/acme/models$", kind="secondary")
    fake.rate_limit_next("GET", r"/repos/acme/models$", kind="429")

    primary, secondary, too_many, fine = (call(fake, "GET", f"/repos/{REPO}", token) for _ in range(4))

    assert primary.status_code == 403 and primary.headers["X-RateLimit-Remaining"] == "0"
    # an epoch second, one second after the call's second (the call may have been in the second before now)
    now = dt.datetime.now().timestamp()
    assert int(now) <= int(primary.headers["X-RateLimit-Reset"]) <= now + 1.5
    assert secondary.status_code == 403 and secondary.headers["Retry-After"] == "1"
    assert too_many.status_code == 429 and too_many.headers["Retry-After"] == "1"
    assert fine.status_code == 200


def test_pygithub_waits_out_a_primary_rate_limit(fake, repo, token):
    fake.rate_limit_next("GET", r"/repos/acme/models$", kind="primary")
    gh = client(fake, token, retry=GithubRetry(total=3))

    assert gh.get_repo(REPO).name == "models"
    assert fake.count("GET", r"^/repos/acme/models$") == 2


def test_fail_next_answers_an_error_once(fake, repo, token):
    fake.fail_next("GET", r"/pulls/\d+$", status=502)
    pr = fake.open_pull_request(repo, "feature", files={"a.txt": "1"})
    r = client(fake, token).get_repo(REPO)

    with pytest.raises(GithubException) as failed:
        r.get_pull(pr.number)
    assert failed.value.status == 502
    assert r.get_pull(pr.number).number == pr.number


def test_fail_after_acting_shows_a_blind_retry_duplicating_a_comment(fake, repo, token):
    pr = fake.open_pull_request(repo, "feature", files={"a.txt": "1"})
    fake.fail_next("POST", r"/issues/\d+/comments$", status=502, after=True)
    # PyGithub's own retry repeats POSTs on 5xx: the first attempt was performed, the retry posts again.
    retrying = client(fake, token, retry=GithubRetry(total=2, backoff_factor=0))

    retrying.get_repo(REPO).get_issue(pr.number).create_comment("report")

    assert [c.status for c in fake.requests("POST", r"/comments$")] == [502, 201]
    assert [c.body for c in fake.comments_on(repo, pr.number)] == ["report", "report"]


def test_fault_with_custom_headers_and_body(fake, repo, token):
    fake.fail_next("*", r"^/repos/acme/models$", status=503, times=2, headers={"Retry-After": "3"},
                   body={"message": "down for maintenance"})

    answers = [call(fake, "GET", f"/repos/{REPO}", token) for _ in range(3)]

    assert [a.status_code for a in answers] == [503, 503, 200]
    assert answers[0].headers["Retry-After"] == "3" and answers[0].json() == {"message": "down for maintenance"}


def test_reset_forgets_state_calls_and_faults(fake, repo, token):
    fake.fail_next("GET", ".*")
    call(fake, "GET", f"/repos/{REPO}", token)

    fake.reset()

    assert (fake.repos, fake.calls, fake.faults, fake.tokens, fake.violations) == ({}, [], [], {}, [])


# --- the bot's own adapter against the fake ------------------------------------------------------


def test_the_bots_github_adapter_authenticates_against_the_fake(fake, repo):
    from bot.core.config import Secret
    from bot.adapters.github import GitHubApp

    app = GitHubApp(str(fake.app_id), Secret(fake.private_key_pem), fake.url)

    assert app.bot_login() == "modelbot[bot]"
    assert app.installation_token(repo.installation_id) == app.installation_token(repo.installation_id)
    assert fake.tokens_minted == 1
