"""Reading a pull request's changed files with a bounded number of requests.

The PR's file list is paginated (100 per page). Contents come from the contents API when only
a few files are needed, and otherwise from one tarball of the ref (two HTTP requests whatever
the number of files), extracting only the wanted paths with size limits: the download is
streamed into the decompressor a chunk at a time (never held whole) and refused once more
than `MAX_ARCHIVE_BYTES` came, or up front when its Content-Length says so; the archive is
decompressed as a stream, refused once it has given more than `MAX_ARCHIVE_DECOMPRESSED_BYTES`
or `MAX_ARCHIVE_MEMBERS` entries (nothing is written to disk; only the wanted paths are kept,
each to `MAX_FILE_BYTES` + 1). The caps are keyword arguments of `RepoReader`.
"""

from __future__ import annotations

import gzip
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


class ReadError(Exception):
    """A file or archive could not be read; the message is safe to show."""


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
        """Contents of `paths` at `ref`; None for a path that does not exist there."""
        wanted = sorted(set(paths))
        if not wanted:
            return {}
        if len(wanted) <= self._few:
            return {p: self._content(ref, p) for p in wanted}
        return self._from_archive(ref, set(wanted))

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
