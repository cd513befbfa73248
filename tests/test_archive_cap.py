"""The repository archive (GitHub's tarball link) is streamed with a byte cap (issue #11).

The archive is the reader's fallback (issue #17 part 5: GraphQL reads the files first); these
tests take it by making GraphQL unavailable, as on a GitHub Enterprise Server without it.

The download feeds the decompressor a chunk at a time and is never held whole; it is refused
up front when its Content-Length is over `max_archive_bytes`, and otherwise once more than that
came, whatever the headers said, with a message naming the repository, the ref, the limit and
where it is set. The caps on what the archive decompresses to, and on its entries, still hold.
"""

from __future__ import annotations

import io
import os
import tarfile
import tracemalloc

import pytest
from github import Auth, Github, GithubException

from bot.adapters.github.reader import FEW_FILES, ReadError, RepoReader

MiB = 1024 * 1024
REPO = "acme/models"
TOKEN = "ArchiveLinkTicket0123456789"


def tar_gz(files: dict[str, bytes], top: str = "acme-models-abc1234/") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(top + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


MANIFESTS = {f"models/m{i}/modelbot.yaml": f"name: m{i}\n".encode() for i in range(FEW_FILES + 1)}


# --- through the fake GitHub: the tarball redirect and the codeload download -----------------------------------


@pytest.fixture
def gh(fake_github):
    inst = fake_github.add_installation("acme").id
    files = {p: d.decode() for p, d in MANIFESTS.items()}
    files["data/noise.bin"] = os.urandom(3 * MiB).hex()  # 6 MB of text that gzip cannot shrink below 3 MB
    fake_github.add_repo(REPO, files, installation_id=inst)
    fake_github.fail_next("POST", r"^/graphql$", 404, times=100)  # no GraphQL here: the archive answers
    return Github(auth=Auth.Token(fake_github.mint_token(inst)), base_url=fake_github.url,
                  seconds_between_requests=0, seconds_between_writes=0)


def test_an_archive_within_the_cap_is_read(gh, fake_github):
    head = fake_github.repos[REPO].branches["main"]
    got = RepoReader(gh, REPO).read(head, list(MANIFESTS))
    assert got == MANIFESTS
    assert fake_github.count("GET", r"/tarball/") == 1  # more than FEW_FILES: the archive, not the contents API


def test_an_archive_over_the_cap_is_refused_from_its_content_length(gh, fake_github):
    head = fake_github.repos[REPO].branches["main"]
    with pytest.raises(ReadError) as err:
        RepoReader(gh, REPO, max_archive_bytes=1 * MiB).read(head, list(MANIFESTS))
    assert str(err.value) == (f"the archive of acme/models at {head[:7]} is larger than 1,048,576 bytes, the most "
                              "modelbot downloads (bot.adapters.github.reader.MAX_ARCHIVE_BYTES)")
    assert "token" not in str(err.value)


# --- a download that does not say its length, or lies about it --------------------------------------------------


class _Requester:
    def requestJson(self, method, url, follow_302_redirect=True):  # noqa: N802 - PyGithub's name
        assert method == "GET" and url.endswith("/tarball/abc1234def") and follow_302_redirect is False
        return 302, {"location": f"https://codeload.example/acme/models/legacy.tar.gz/abc1234def?token={TOKEN}"}, None

    def graphql_query(self, query, variables):  # no GraphQL here: the archive answers
        raise GithubException(404, {"message": "Not Found"}, {})


class _Gh:
    requester = _Requester()


class _Body:
    """A streamed HTTP answer: chunks of `data` handed out one at a time, counting what was taken."""

    def __init__(self, data: bytes, headers: dict | None = None, chunk: int = 64 * 1024):
        self.data, self.headers, self.chunk, self.taken = data, headers or {}, chunk, 0
        self.status_code = 200

    def iter_content(self, size):
        for i in range(0, len(self.data), self.chunk):
            piece = self.data[i:i + self.chunk]
            self.taken += len(piece)
            yield piece

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.fixture
def download(monkeypatch):
    """Install `body` as what GET of the archive link answers."""
    import bot.adapters.github.reader as reader

    def install(body: _Body):
        def get(url, stream=False, timeout=None):
            assert stream and url.endswith(f"?token={TOKEN}")
            return body
        monkeypatch.setattr(reader.requests, "get", get)
        return body
    return install


def python_peak(fn):
    tracemalloc.start()
    try:
        try:
            result = fn()
        except ReadError as exc:
            result = exc
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def big_archive(noise_mb: int) -> bytes:
    return tar_gz({**MANIFESTS, "data/noise.bin": os.urandom(noise_mb * MiB)})


@pytest.mark.parametrize("headers", [{}, {"Content-Length": "1000"}], ids=["no length", "a lying length"])
def test_a_streamed_archive_is_cut_off_at_the_cap_without_being_held(download, headers):
    data = big_archive(6)  # incompressible: 6 MB on the wire
    body = download(_Body(data, headers))
    reader = RepoReader(_Gh(), REPO, max_archive_bytes=2 * MiB)
    result, peak = python_peak(lambda: reader.read("abc1234def", list(MANIFESTS)))
    assert isinstance(result, ReadError)
    assert str(result) == ("the archive of acme/models at abc1234 is larger than 2,097,152 bytes, the most modelbot "
                           "downloads (bot.adapters.github.reader.MAX_ARCHIVE_BYTES)")
    assert 2 * MiB < body.taken <= 2 * MiB + body.chunk  # it stopped taking right after the cap
    assert peak < 1 * MiB  # a chunk at a time: not the 2 MiB read, let alone the 6 MB


def test_an_archive_within_the_cap_is_extracted_from_the_stream_without_being_held(download):
    data = big_archive(3)
    body = download(_Body(data))
    result, peak = python_peak(lambda: RepoReader(_Gh(), REPO, max_archive_bytes=8 * MiB).read("abc1234def",
                                                                                               list(MANIFESTS)))
    assert result == MANIFESTS
    assert body.taken == len(data) > 3 * MiB
    assert peak < 1 * MiB


def test_the_member_caps_still_hold_on_a_streamed_archive(download):
    zeros = tar_gz({**MANIFESTS, "data/zeros.bin": bytes(32 * MiB)})  # small on the wire, 32 MB inflated
    assert len(zeros) < 1 * MiB
    download(_Body(zeros))
    with pytest.raises(ReadError, match=r"^the archive of acme/models at abc1234 decompresses to more than "
                                        r"8,388,608 bytes \(bot.adapters.github.reader.MAX_ARCHIVE_DECOMPRESSED_BYTES\)$"):
        RepoReader(_Gh(), REPO, max_decompressed_bytes=8 * MiB).read("abc1234def", list(MANIFESTS))
    download(_Body(tar_gz({f"f{i}": b"" for i in range(50)})))
    with pytest.raises(ReadError, match=r"has more than 20 entries \(bot.adapters.github.reader.MAX_ARCHIVE_MEMBERS\)"):
        RepoReader(_Gh(), REPO, max_members=20).read("abc1234def", list(MANIFESTS))
    download(_Body(tar_gz({**MANIFESTS, "big.yaml": bytes(3 * MiB)})))
    got = RepoReader(_Gh(), REPO).read("abc1234def", [*MANIFESTS, "big.yaml"])
    assert len(got["big.yaml"]) == MiB + 1  # a wanted file over MAX_FILE_BYTES: a bounded prefix


def test_a_truncated_download_is_an_unreadable_archive(download):
    data = big_archive(1)
    download(_Body(data[: len(data) // 2]))
    with pytest.raises(ReadError, match=r"^the archive of acme/models at abc1234 is not a readable .tar.gz"):
        RepoReader(_Gh(), REPO).read("abc1234def", list(MANIFESTS))
