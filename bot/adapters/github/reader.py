"""Reading a pull request's changed files with requests that scale with the change, not the repository.

The PR's file list is paginated (100 per page). Contents come from the contents API when only
a few files are needed (one request each), and otherwise from GitHub's GraphQL API: up to
`GRAPHQL_BATCH` files per query, each an alias of `Commit.file(path:)` with its blob's size,
oid and text, so a refresh costs ceil(files / 100) requests whose bytes are the files' own,
whatever the size of the repository. GraphQL gives a blob's text as UTF-8 (null for a binary
blob, cut short for a large one), so a text is used only when its git blob hash is the blob's
oid, i.e. it is the file's exact bytes; the others (binary, not UTF-8, truncated) are read
exactly through the git blobs API, at most `MAX_BLOB_READS` per read. A file over
`MAX_FILE_BYTES` is known from its size alone and read, as before, as a bounded prefix from the
archive (the manifest loader then reports it too large at its line); symlinks, submodules and
directories read as absent (None), as in the archive; a path that is not a plain relative path
(`..`, `.`, empty segments, a leading `/`, NUL) is never asked for and reads as absent.

The archive of the ref is the fallback only: when GraphQL is unavailable or errs (GitHub
Enterprise without it, a schema it lacks, rate limits), for more than `MAX_GRAPHQL_QUERIES`
queries' worth of paths, or for more exact-bytes reads than `MAX_BLOB_READS`. It extracts only
the wanted paths with size limits: the download is streamed into the decompressor a chunk at a
time (never held whole) and refused once more than `MAX_ARCHIVE_BYTES` came, or up front when
its Content-Length says so; the archive is decompressed as a stream, refused once it has given
more than `MAX_ARCHIVE_DECOMPRESSED_BYTES` or `MAX_ARCHIVE_MEMBERS` entries (nothing is written
to disk; only the wanted regular files are kept, each to `MAX_FILE_BYTES` + 1). The caps are
keyword arguments of `RepoReader`.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import logging
import tarfile
import zlib
from dataclasses import dataclass
from typing import Iterable

import requests
from github import GithubException
from github.ContentFile import ContentFile
from github.File import File
from github.PaginatedList import PaginatedList
from urllib.parse import quote

log = logging.getLogger(__name__)

FEW_FILES = 3
MAX_ARCHIVE_BYTES = 200 * 1024 * 1024
MAX_ARCHIVE_DECOMPRESSED_BYTES = 2 * 1024 * 1024 * 1024
MAX_ARCHIVE_MEMBERS = 200_000
MAX_FILE_BYTES = 1024 * 1024
# GraphQL: files per query. GitHub's documented query limits ("Rate limits and query limits for
# the GraphQL API": at most 500,000 nodes a call, counted over connections, of which this query
# has none; a score of 1 point a query without connections; 10 s before a call is cut off) leave
# the batch to the client: 100 files of manifests and CODEOWNERS is one point and well inside the
# time limit. A refresh of a 200-manifest PR takes 2 queries at the head and 3 at the base.
GRAPHQL_BATCH = 100
MAX_GRAPHQL_QUERIES = 40  # one read: 4,000 paths (GitHub lists at most 3,000 changed files); beyond, the archive
MAX_BLOB_READS = 10       # one read: exact bytes of binary / non-UTF-8 / truncated texts; beyond, the archive
MAX_PATH_CHARS = 4096
# TreeEntry.mode (https://docs.github.com/en/graphql/reference/objects#treeentry) is git's mode
# as an integer: 0o100644 / 0o100755 files, 0o120000 symlinks, 0o160000 submodules, 0o040000 trees.
_REGULAR_MODES = frozenset({0o100644, 0o100755})

# Commit.file(path:) returns the TreeEntry at a path, null when there is none
# (https://docs.github.com/en/graphql/reference/objects#commit); Blob's byteSize, isBinary,
# isTruncated, oid and text (null when binary) are in https://docs.github.com/en/graphql/reference/objects#blob.
_FILE_FIELDS = "mode type object { ... on Blob { byteSize isBinary isTruncated oid text } }"


class ReadError(Exception):
    """A file or archive could not be read; the message is safe to show."""


class _GraphQLUnavailable(Exception):
    """GraphQL did not answer the read: the archive answers it instead."""


@dataclass(frozen=True)
class ChangedFile:
    path: str
    status: str  # added | modified | removed | renamed | copied | changed | unchanged
    previous_path: str | None = None


class RepoReader:
    def __init__(self, gh, full_name: str, *, few_files: int | None = None,
                 max_archive_bytes: int = MAX_ARCHIVE_BYTES, timeout: float = 30.0,
                 max_decompressed_bytes: int = MAX_ARCHIVE_DECOMPRESSED_BYTES, max_members: int = MAX_ARCHIVE_MEMBERS):
        self._gh, self.full_name = gh, full_name
        self._few = FEW_FILES if few_files is None else few_files
        self._max_archive, self._timeout = max_archive_bytes, timeout
        self._max_decompressed, self._max_members = max_decompressed_bytes, max_members

    @property
    def _requester(self):
        return self._gh.requester

    def changed_files(self, number: int) -> list[ChangedFile]:
        """Every file the pull request changes (GitHub lists up to 3,000)."""
        files = PaginatedList(File, self._requester, f"/repos/{self.full_name}/pulls/{number}/files",
                              {"per_page": 100})
        return [ChangedFile(f.filename, f.status, f.previous_filename) for f in files]

    def tree_paths(self, ref: str, limit: int = 100_000) -> tuple[list[str], bool]:
        """Every file path at `ref` (one request: the recursive git tree), and whether the list
        is complete (GitHub truncates very large trees; at most `limit` paths are kept)."""
        _, data = self._requester.requestJsonAndCheck("GET", f"/repos/{self.full_name}/git/trees/{_quote(ref)}",
                                                      parameters={"recursive": "1"})
        paths = [e["path"] for e in data.get("tree", []) if e.get("type") == "blob"]
        return paths[:limit], not data.get("truncated") and len(paths) <= limit

    def read(self, ref: str, paths: Iterable[str]) -> dict[str, bytes | None]:
        """Contents of `paths` at `ref`; None for a path that does not exist there (or is a
        symlink, a submodule, a directory, or not a plain relative path)."""
        wanted = sorted(set(paths))
        found: dict[str, bytes | None] = {p: None for p in wanted if not _plain_path(p)}
        wanted = [p for p in wanted if p not in found]
        if not wanted:
            return found
        if len(wanted) <= self._few:
            found.update({p: self._content(ref, p) for p in wanted})
            return found
        if len(wanted) > MAX_GRAPHQL_QUERIES * GRAPHQL_BATCH:
            found.update(self._from_archive(ref, set(wanted)))
            return found
        try:
            found.update(self._from_graphql(ref, wanted))
        except _GraphQLUnavailable as exc:
            log.warning("GraphQL read failed, reading the archive instead",
                        extra={"repository": self.full_name, "ref": ref[:12], "reason": str(exc)})
            found.update(self._from_archive(ref, set(wanted)))
        return found

    def _from_graphql(self, ref: str, wanted: list[str]) -> dict[str, bytes | None]:
        """The files through GraphQL, GRAPHQL_BATCH to a query; exact bytes or the git blobs API."""
        owner, _, name = self.full_name.partition("/")
        found: dict[str, bytes | None] = {}
        inexact: list[tuple[str, str]] = []  # (path, blob oid): text that is not the file's bytes
        oversized: list[str] = []            # over MAX_FILE_BYTES: a bounded prefix, from the archive
        for start in range(0, len(wanted), GRAPHQL_BATCH):
            batch = wanted[start:start + GRAPHQL_BATCH]
            query, variables = _files_query(batch)
            variables.update(owner=owner, name=name, ref=ref)
            try:
                _, answer = self._requester.graphql_query(query, variables)
            except GithubException as exc:
                raise _GraphQLUnavailable(f"HTTP {exc.status}: {_message(exc)}") from None
            repository = (answer.get("data") or {}).get("repository")
            if repository is None:
                raise _GraphQLUnavailable("no repository in the answer")
            commit = repository.get("commit") or {}
            if "oid" not in commit:  # the ref names no commit (or not a commit)
                found.update(dict.fromkeys(batch))
                continue
            for i, path in enumerate(batch):
                found[path] = self._entry(ref, path, commit.get(f"f{i}"), inexact, oversized)
        if oversized:
            # As before GraphQL: the archive keeps MAX_FILE_BYTES + 1 bytes of each, and the
            # manifest loader reports the file as too large at its line (the report still comes).
            found.update(self._from_archive(ref, set(oversized)))
        if len(inexact) > MAX_BLOB_READS:
            found.update(self._from_archive(ref, {p for p, _ in inexact}))
        else:
            for path, oid in inexact:
                found[path] = self._blob(oid)
        log.info("read files through GraphQL", extra={
            "repository": self.full_name, "ref": ref[:12], "wanted": len(wanted),
            "found": sum(v is not None for v in found.values()), "queries": -(-len(wanted) // GRAPHQL_BATCH),
            "blob_reads": len(inexact)})
        return found

    def _entry(self, ref: str, path: str, entry, inexact: list, oversized: list) -> bytes | None:
        """A file's bytes from its TreeEntry; None when it is not a regular file. Queues the
        blob in `inexact` when the text GraphQL gave is not exactly the file's bytes, and the
        path in `oversized` when the file is larger than MAX_FILE_BYTES."""
        if not entry or entry.get("type") != "blob" or entry.get("mode") not in _REGULAR_MODES:
            return None  # absent, a directory, a submodule ("commit") or a symlink: never followed
        blob = entry.get("object") or {}
        if not blob.get("oid"):
            return None  # no blob behind the entry: nothing to read (never GET /git/blobs/None)
        size = blob.get("byteSize", 0)
        if size > MAX_FILE_BYTES:
            oversized.append(path)
            return None
        text = blob.get("text")
        if text is not None and not blob.get("isTruncated"):
            data = text.encode("utf-8", "surrogatepass")
            if len(data) == size and _blob_oid(data) == blob.get("oid"):
                return data
        inexact.append((path, blob.get("oid")))
        return None

    def _blob(self, oid: str) -> bytes:
        """One blob's exact bytes (GET /repos/{owner}/{repo}/git/blobs/{file_sha}, base64)."""
        _, data = self._requester.requestJsonAndCheck("GET", f"/repos/{self.full_name}/git/blobs/{oid}")
        if data.get("encoding") != "base64":
            raise ReadError(f"GitHub gave blob {oid[:7]} of {self.full_name} as {data.get('encoding')!r}, not base64")
        return base64.b64decode(data.get("content") or "")

    def _content(self, ref: str, path: str) -> bytes | None:
        try:
            headers, data = self._requester.requestJsonAndCheck(
                "GET", f"/repos/{self.full_name}/contents/{_quote(path)}", parameters={"ref": ref})
        except GithubException as exc:
            if exc.status == 404:
                return None
            raise
        if isinstance(data, list) or data.get("type") != "file":
            return None
        content = ContentFile(self._requester, headers, data)
        if content.encoding != "base64":  # files over 1 MB come without content
            raise ReadError(f"{path} at {ref[:7]} is too large to read through the contents API")
        return content.decoded_content

    def _from_archive(self, ref: str, wanted: set[str]) -> dict[str, bytes | None]:
        status, headers, _ = self._requester.requestJson("GET", f"/repos/{self.full_name}/tarball/{ref}",
                                                         follow_302_redirect=False)
        location = headers.get("location") or headers.get("Location")
        if status != 302 or not location:
            raise ReadError(f"GitHub did not offer an archive of {self.full_name} at {ref[:7]} (HTTP {status})")
        found: dict[str, bytes | None] = dict.fromkeys(wanted)
        where = f"the archive of {self.full_name} at {ref[:7]}"
        too_large = (f"{where} is larger than {self._max_archive:,} bytes, the most modelbot downloads "
                     "(bot.adapters.github.reader.MAX_ARCHIVE_BYTES)")
        # The link is temporary and carries its own authorisation: never log it.
        with requests.get(location, stream=True, timeout=self._timeout) as resp:
            if resp.status_code != 200:
                raise ReadError(f"{where} answered HTTP {resp.status_code}")
            declared = str(resp.headers.get("Content-Length") or "")
            if declared.isdigit() and int(declared) > self._max_archive:
                raise ReadError(too_large)  # said up front: nothing of it is read
            # Streamed: the download feeds the decompressor a chunk at a time, never held whole,
            # and is refused once more than the cap came (whatever Content-Length said).
            download = _Download(resp.iter_content(1 << 16), self._max_archive, too_large)
            found.update(self.extract(download, wanted, where=where))
        log.info("read files from archive", extra={"repository": self.full_name, "ref": ref[:12],
                                                   "wanted": len(wanted), "found": sum(v is not None for v in found.values()),
                                                   "archive_bytes": download.count})
        return found

    def extract(self, raw, wanted: set[str], *, where: str) -> dict[str, bytes]:
        """The wanted paths (without the archive's top directory) of a .tar.gz (its bytes, or a
        readable stream of them), decompressed as a stream within the decompressed-bytes and
        entry-count limits."""
        found: dict[str, bytes] = {}
        source = io.BytesIO(raw) if isinstance(raw, (bytes, bytearray, memoryview)) else raw
        stream = _Capped(gzip.GzipFile(fileobj=source), self._max_decompressed,
                         f"{where} decompresses to more than {self._max_decompressed:,} bytes "
                         "(bot.adapters.github.reader.MAX_ARCHIVE_DECOMPRESSED_BYTES)")
        try:
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                for i, member in enumerate(tar):
                    if i >= self._max_members:
                        raise ReadError(f"{where} has more than {self._max_members:,} entries "
                                        "(bot.adapters.github.reader.MAX_ARCHIVE_MEMBERS)")
                    if not member.isfile():
                        continue
                    path = member.name.split("/", 1)[1] if "/" in member.name else member.name
                    if path in wanted:
                        # Over MAX_FILE_BYTES: keep a bounded prefix, the manifest loader reports the size.
                        found[path] = tar.extractfile(member).read(min(member.size, MAX_FILE_BYTES) + 1)
        except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise ReadError(f"{where} is not a readable .tar.gz ({exc})") from None
        return found


class _Capped(io.RawIOBase):
    """A stream that raises ReadError(message) once more than `limit` bytes were read from it."""

    def __init__(self, inner, limit: int, message: str):
        self._inner, self._limit, self._message, self.count = inner, limit, message, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = self._limit + 1 - self.count
        chunk = self._inner.read(min(size, self._limit + 1 - self.count) if self.count <= self._limit else 1)
        self.count += len(chunk)
        if self.count > self._limit:
            raise ReadError(self._message)
        return chunk

    def readinto(self, b) -> int:
        chunk = self.read(len(b))
        b[:len(chunk)] = chunk
        return len(chunk)


class _Download(io.RawIOBase):
    """The bytes of an iterator of chunks (a streamed HTTP body) as a readable stream, holding
    at most one chunk; ReadError(message) once more than `limit` bytes came from it."""

    def __init__(self, chunks, limit: int, message: str):
        self._chunks, self._limit, self._message = iter(chunks), limit, message
        self._pending, self.count = memoryview(b""), 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self.count += len(chunk)
            if self.count > self._limit:
                raise ReadError(self._message)
            self._pending = memoryview(chunk)
        n = min(len(b), len(self._pending))
        b[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def _quote(path: str) -> str:
    return quote(path, safe="/")


def _plain_path(path: str) -> bool:
    """A relative path of non-empty segments, none `.` or `..`, no NUL: what a git tree can hold."""
    return (isinstance(path, str) and 0 < len(path) <= MAX_PATH_CHARS and "\0" not in path
            and all(seg not in ("", ".", "..") for seg in path.split("/")))


def _blob_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _files_query(paths: list[str]) -> tuple[str, dict]:
    """One query reading `paths` at $ref: the paths are variables (never spliced into the text)."""
    declared = "".join(f", $p{i}: String!" for i in range(len(paths)))
    fields = " ".join(f"f{i}: file(path: $p{i}) {{ {_FILE_FIELDS} }}" for i in range(len(paths)))
    query = (f"query($owner: String!, $name: String!, $ref: String!{declared}) "
             f"{{ repository(owner: $owner, name: $name) {{ commit: object(expression: $ref) "
             f"{{ ... on Commit {{ oid {fields} }} }} }} }}")
    return query, {f"p{i}": p for i, p in enumerate(paths)}


def _message(exc: GithubException) -> str:
    data = exc.data if isinstance(exc.data, dict) else {}
    errors = data.get("errors") or []
    if errors and isinstance(errors[0], dict):
        return str(errors[0].get("message", ""))[:200]
    return str(data.get("message", ""))[:200]
