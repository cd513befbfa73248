"""Reads that scale with the change, not the repository (issue #17 part 5).

The files a refresh needs are read through GitHub's GraphQL API, 100 to a query, whatever the
repository's size; exact bytes come through the git blobs API when GraphQL's text is not the
file (binary, not UTF-8, truncated); the archive is the fallback only. The fake's GraphQL
endpoint refuses what GitHub refuses.
"""

from __future__ import annotations

import json

import pytest
import requests
from github import Auth, Github

from bot.core.manifest import load_manifest
from bot.adapters.github.reader import GRAPHQL_BATCH, MAX_BLOB_READS, MAX_FILE_BYTES, RepoReader
from tests.support import fake_graphql

REPO = "acme/models"
CODEOWNERS = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS")


def manifests(n: int) -> dict[str, str]:
    return {f"models/m{i:03d}/modelbot.yaml": f"name: m{i:03d}\n" for i in range(n)}


@pytest.fixture
def inst(fake_github):
    return fake_github.add_installation("acme").id


@pytest.fixture
def gh(fake_github, inst):
    return Github(auth=Auth.Token(fake_github.mint_token(inst)), base_url=fake_github.url,
                  seconds_between_requests=0, seconds_between_writes=0)


def tip(fake_github) -> str:
    return fake_github.repos[REPO].branches["main"]


@pytest.mark.parametrize("archive_mb", [0, 500], ids=["tiny", "500 MB"])
def test_changed_manifests_and_codeowners_take_a_query_per_hundred_files_whatever_the_repository(
        fake_github, gh, inst, archive_mb):
    files = {**manifests(250), ".github/CODEOWNERS": "* @acme/ml\n"}
    fake_github.add_repo(REPO, files, installation_id=inst)
    if archive_mb:
        fake_github.declare_archive_size(REPO, archive_mb * 1000 * 1000)
    got = RepoReader(gh, REPO).read(tip(fake_github), [*files, *CODEOWNERS])
    assert got == {**{p: v.encode() for p, v in files.items()}, "CODEOWNERS": None, "docs/CODEOWNERS": None}
    assert len(fake_github.graphql_calls()) == 3 == -(-253 // GRAPHQL_BATCH)
    assert [c for c in fake_github.calls if c.path != "/graphql"] == []  # no contents, blobs or archive


def test_binary_non_utf8_and_truncated_files_are_read_exactly_through_the_blobs_api(fake_github, gh, inst):
    odd = {"a/binary.yaml": b"\x00\x01\x02 not text", "a/latin1.yaml": "name: caf\xe9\n".encode("latin-1"),
           "a/long.yaml": b"x" * (fake_graphql.TEXT_LIMIT + 10)}
    fake_github.add_repo(REPO, {**manifests(5), **odd}, installation_id=inst)
    got = RepoReader(gh, REPO).read(tip(fake_github), [*manifests(5), *odd])
    assert {p: got[p] for p in odd} == odd  # the bytes, not GraphQL's UTF-8 rendering of them
    assert fake_github.count("GET", r"/git/blobs/") == 3 and len(fake_github.graphql_calls()) == 1


def test_more_inexact_files_than_the_blob_budget_come_from_the_archive(fake_github, gh, inst):
    binaries = {f"bin/f{i}.yaml": b"\x00" + bytes([i]) for i in range(MAX_BLOB_READS + 1)}
    fake_github.add_repo(REPO, binaries, installation_id=inst)
    got = RepoReader(gh, REPO).read(tip(fake_github), list(binaries))
    assert got == binaries
    assert fake_github.count("GET", r"/git/blobs/") == 0 and fake_github.count("GET", r"/tarball/") == 1


def test_absent_paths_directories_symlinks_and_unsafe_paths_read_as_absent(fake_github, gh, inst):
    fake_github.add_repo(REPO, {**manifests(4), "secret.yaml": "token: x\n"}, installation_id=inst)
    head = fake_github.add_symlink(REPO, "main", "models/link/modelbot.yaml", "../../secret.yaml")
    asked = [*manifests(4), "models/link/modelbot.yaml", "models", "nope.yaml", "../secret.yaml",
             "models/../secret.yaml", "/secret.yaml", "models//m000/modelbot.yaml", "./secret.yaml", "a\0b"]
    got = RepoReader(gh, REPO).read(head, asked)
    assert {p: v for p, v in got.items() if v is not None} == {p: v.encode() for p, v in manifests(4).items()}
    sent = json.dumps([c.json for c in fake_github.graphql_calls()])
    assert "secret.yaml" not in sent  # an unsafe path is never asked for
    # The archive (the fallback) agrees: the symlink is not followed.
    fake_github.fail_next("POST", r"^/graphql$", 404)
    assert RepoReader(gh, REPO).read(head, asked) == got


def test_a_file_over_the_limit_is_read_as_a_bounded_prefix_and_reported_too_large(fake_github, gh, inst):
    big = b"a: 1\n" * (MAX_FILE_BYTES // 4)
    fake_github.add_repo(REPO, {**manifests(4), "models/big/modelbot.yaml": big}, installation_id=inst)
    got = RepoReader(gh, REPO).read(tip(fake_github), [*manifests(4), "models/big/modelbot.yaml"])
    # as the archive always did: MAX_FILE_BYTES + 1 bytes of it, never the whole file
    assert got["models/big/modelbot.yaml"] == big[:MAX_FILE_BYTES + 1]
    assert all(got[p] == text.encode() for p, text in manifests(4).items())
    assert fake_github.count("GET", r"/tarball/") == 1  # only because a file was over the limit
    problems = load_manifest("models/big/modelbot.yaml", got["models/big/modelbot.yaml"]).problems
    assert [p.rule for p in problems] == ["file.too-large"]


def test_graphql_unavailable_falls_back_to_the_streamed_archive(fake_github, gh, inst):
    files = manifests(6)
    fake_github.add_repo(REPO, files, installation_id=inst)
    fake_github.fail_next("POST", r"^/graphql$", 404)  # e.g. a GitHub Enterprise Server without it
    got = RepoReader(gh, REPO).read(tip(fake_github), list(files))
    assert got == {p: v.encode() for p, v in files.items()}
    assert fake_github.count("GET", r"/tarball/") == 1 and fake_github.count("GET", r"^/_codeload/") == 1


def test_a_schema_github_lacks_falls_back_to_the_archive(fake_github, gh, inst, monkeypatch):
    import bot.adapters.github.reader as reader

    fake_github.add_repo(REPO, manifests(6), installation_id=inst)
    monkeypatch.setattr(reader, "_FILE_FIELDS", "mode type lineCount")  # a field this schema does not have
    got = RepoReader(gh, REPO).read(tip(fake_github), list(manifests(6)))
    assert len([v for v in got.values() if v]) == 6 and fake_github.count("GET", r"/tarball/") == 1
    assert any("Field 'lineCount' doesn't exist on type 'TreeEntry'" in v for v in fake_github.violations)
    fake_github.violations.clear()


def test_a_huge_number_of_paths_is_bounded(fake_github, gh, inst):
    fake_github.add_repo(REPO, manifests(3), installation_id=inst)
    asked = [f"x/{i}.yaml" for i in range(3000)] + list(manifests(3))
    got = RepoReader(gh, REPO).read(tip(fake_github), asked)
    assert sum(v is not None for v in got.values()) == 3
    assert len(fake_github.graphql_calls()) == 31  # what GitHub lists at most (3,000 files) and 3 more
    fake_github.calls.clear()
    got = RepoReader(gh, REPO).read(tip(fake_github), [f"y/{i}" for i in range(100_000)])
    assert not any(got.values()) and len(got) == 100_000
    assert len(fake_github.calls) == 2  # beyond 40 queries' worth: the archive, two requests


# --- the fake's GraphQL endpoint holds to GitHub's rules -----------------------------------------------------------


def post(fake_github, inst, query, variables=None, token=None):
    token = token if token is not None else fake_github.mint_token(inst)
    return requests.post(f"{fake_github.url}/graphql", json={"query": query, "variables": variables or {}},
                         headers={"Authorization": f"bearer {token}"} if token else {}, timeout=10)


BLOB_QUERY = ('query($o: String!, $n: String!, $e: String!) { repository(owner: $o, name: $n) '
              '{ object(expression: $e) { ... on Blob { byteSize isBinary isTruncated text oid } } } }')


def test_blob_reads_by_expression_answer_as_github_does(fake_github, inst):
    fake_github.add_repo(REPO, {"a.txt": "hello\n", "b.bin": b"\x00\xff"}, installation_id=inst)
    answer = post(fake_github, inst, BLOB_QUERY, {"o": "acme", "n": "models", "e": "main:a.txt"})
    assert answer.status_code == 200 and answer.headers["X-RateLimit-Resource"] == "graphql"
    blob = answer.json()["data"]["repository"]["object"]
    assert blob["text"] == "hello\n" and blob["byteSize"] == 6 and blob["isBinary"] is False
    binary = post(fake_github, inst, BLOB_QUERY, {"o": "acme", "n": "models", "e": "main:b.bin"}).json()
    assert binary["data"]["repository"]["object"]["text"] is None  # "null if the Blob is binary"
    missing = post(fake_github, inst, BLOB_QUERY, {"o": "acme", "n": "models", "e": "main:nope"}).json()
    assert missing == {"data": {"repository": {"object": None}}}
    other = post(fake_github, inst, BLOB_QUERY, {"o": "someone", "n": "else", "e": "main:a.txt"}).json()
    assert other["data"] == {"repository": None} and other["errors"][0]["type"] == "NOT_FOUND"
    assert fake_github.violations == []


@pytest.mark.parametrize("query, variables, message", [
    ("{ repository(owner: \"acme\", name: \"models\") { sizeOnDisk } }", {},
     "Field 'sizeOnDisk' doesn't exist on type 'Repository'"),
    ("{ repository(owner: \"acme\") { nameWithOwner } }", {}, "Field 'repository' is missing required arguments: name"),
    ("{ repository(owner: \"acme\", name: \"models\") }", {}, "Field must have selections"),
    ("{ repository(owner: \"acme\", name: \"models\") { nameWithOwner { x } } }", {},
     "Selections can't be made on scalars"),
    ("query($p: String!) { repository(owner: \"acme\", name: \"models\") { nameWithOwner } }", {"p": "x"},
     "Variable $p is declared by anonymous query but not used"),
    ("{ repository(owner: $o, name: \"models\") { nameWithOwner } }", {},
     "Variable $o is used by anonymous query but not declared"),
    ("query($o: String) { repository(owner: $o, name: \"models\") { nameWithOwner } }", {"o": "acme"},
     "Type mismatch on variable $o and argument owner (String / String!)"),
    ("query($o: String!) { repository(owner: $o, name: \"models\") { nameWithOwner } }", {},
     "Variable $o of type String! was provided invalid value"),
    ("{ repository(owner: \"acme\", name: \"models\") { object(expression: \"main\") { ... on Issue { id } } } }",
     {}, "No such type Issue, so it can't be a fragment condition"),
    ("{ repository(owner: \"acme\", name: \"models\") { a: nameWithOwner a: object(expression: \"main\") { oid } } }",
     {}, "Field 'a' has a field conflict"),
])
def test_queries_github_refuses_are_refused(fake_github, inst, query, variables, message):
    fake_github.add_repo(REPO, {"a.txt": "x"}, installation_id=inst)
    answer = post(fake_github, inst, query, variables)
    assert answer.status_code == 200 and "data" not in answer.json()
    assert any(message in e["message"] for e in answer.json()["errors"]), answer.json()
    assert any(message in v for v in fake_github.violations)
    fake_github.violations.clear()


def test_points_are_spent_and_enforced_per_installation(fake_github, inst):
    fake_github.add_repo(REPO, {"a.txt": "x"}, installation_id=inst)
    query = "{ rateLimit { cost remaining limit } }"
    first = post(fake_github, inst, query).json()["data"]["rateLimit"]
    assert first == {"cost": 1, "remaining": fake_graphql.POINTS_PER_HOUR - 1, "limit": fake_graphql.POINTS_PER_HOUR}
    fake_github.graphql_budgets[inst].used = fake_graphql.POINTS_PER_HOUR
    limited = post(fake_github, inst, query)
    assert limited.status_code == 200 and limited.json()["errors"][0]["type"] == "RATE_LIMITED"
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    assert post(fake_github, inst, query, token="").status_code == 401
