"""Where comparison inputs come from: the validation set, prediction files and model artifacts.

Adapters over bytes. A fetcher turns a location into a `Blob`: an S3 URI through boto3
(`S3Fetcher`), a repository path through GitHub at the pull request's head (`RepoFetcher`), or a
path in a local checkout for `modelbot check` (`LocalFetcher`); `Fetchers` routes `s3://` to
the first and everything else to the second. `fingerprint` is the cheap identity of a location
(S3 HeadObject's version id or ETag, the git blob sha) used for cache keys without downloading.

The loaders check what a file must be before the pure core sees it: the pin (sha256 digest of
the bytes, or the S3 version), the size, the format (csv and jsonl through `data.load_table`,
plain or gzip-compressed, parquet through pyarrow when it is installed), the label and id columns, and the limits
(`data.TableLimits`: rows, columns, decoded bytes) before a table is materialised. Every failure is a
`ComparisonDataError` whose message names the location, so the pull request shows why.
"""

from __future__ import annotations

import base64
import hashlib
import io
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Mapping, Protocol

import numpy as np

from bot.core.compare.data import (
    ComparisonDataError,
    TableLimits,
    is_gzip,
    load_table,
    other_compression,
    require_columns,
    text_array,
    text_bytes,
)
from bot.adapters.aws.session import client, unavailable
from botocore.exceptions import BotoCoreError, ClientError
from dataclasses import replace
from github import GithubException
from urllib.parse import quote

MAX_DATASET_BYTES = 256 * 1024 * 1024
MAX_PREDICTIONS_BYTES = 256 * 1024 * 1024
BASELINE_PREFIX = "baseline_"
# Problems that may go away without any change to the inputs (an object uploaded later, AWS
# throttling, a slow machine): never cached, always retried on the next push or /validate.
TRANSIENT = frozenset({"unreachable", "aws_unavailable", "scoring_timeout", "scoring_memory", "internal"})

# Requests made by the fetchers in this process, by kind ("s3:get", "s3:head", "github:get",
# "local:read"): what the cache saves is observable (tests, logs).
REQUESTS: Counter = Counter()
_requests_lock = threading.Lock()


def _count(kind: str) -> None:
    with _requests_lock:
        REQUESTS[kind] += 1


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def is_s3(location: str) -> bool:
    return location.startswith("s3://")


def split_s3(uri: str) -> tuple[str, str]:
    """(bucket, key) of an s3:// URI; a ComparisonDataError for anything else."""
    if not is_s3(uri) or "/" not in uri[5:] or not uri[5:].split("/", 1)[1]:
        raise ComparisonDataError("bad_location", f"{uri}: not an S3 object URI (s3://bucket/key)")
    bucket, key = uri[5:].split("/", 1)
    return bucket, key


@dataclass(frozen=True, eq=False)
class Blob:
    """The bytes at a location, with what identifies that content."""

    location: str
    data: bytes
    version: str | None = None  # S3 VersionId, git blob sha
    etag: str | None = None

    @property
    def digest(self) -> str:
        return sha256_digest(self.data)

    @property
    def name(self) -> str:
        return PurePosixPath(self.location.split("?", 1)[0]).name


class Fetcher(Protocol):
    def fetch(self, location: str, *, version: str | None = None, max_bytes: int,
              too_large_hint: str = "") -> Blob: ...

    def fingerprint(self, location: str, *, version: str | None = None) -> str: ...


def _too_large(location: str, size: int, max_bytes: int, hint: str = "") -> ComparisonDataError:
    return ComparisonDataError(
        "too_large", f"{location}: {size:,} bytes, more than the {max_bytes:,} bytes modelbot reads"
                     + (f"; {hint}" if hint else ""))


# --- S3 ---------------------------------------------------------------------------------------------


class S3Fetcher:
    """S3 objects through boto3. `session` is a boto3 Session or a function returning one
    (called once, lazily: reading no S3 object needs no credentials)."""

    def __init__(self, session: Any | Callable[[], Any]):
        self._session = session
        self._client = None
        self._lock = threading.Lock()

    @property
    def client(self):
        with self._lock:
            if self._client is None:
                try:
                    session = self._session() if callable(self._session) else self._session
                except Exception as exc:  # AwsUnavailable: no credentials, role not assumable
                    raise ComparisonDataError("aws_unavailable", f"cannot read from S3: "
                                                                 f"{getattr(exc, 'reason', exc)}") from None
                self._client = client(session, "s3")
            return self._client

    def _error(self, exc: Exception, uri: str, version: str | None, call: str) -> ComparisonDataError:
        where = uri + (f" (version {version})" if version else "")
        if isinstance(exc, ClientError):
            code = str(exc.response.get("Error", {}).get("Code") or "")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            plain = {"NoSuchKey": "no such object", "404": "no such object", "NotFound": "no such object",
                     "NoSuchBucket": "no such bucket", "NoSuchVersion": "no such version",
                     "AccessDenied": "access denied", "403": "access denied",
                     "InvalidArgument": "invalid request (is the version id right?)"}.get(code or str(status))
            if plain:
                return ComparisonDataError("unreachable", f"cannot read {where}: {plain} (s3:{call} {code or status})")
        reason = unavailable(exc, where=where, call=f"s3:{call}").reason
        return ComparisonDataError("unreachable", f"cannot read {where}: {reason}")

    def head(self, uri: str, *, version: str | None = None) -> dict:
        bucket, key = split_s3(uri)
        kwargs = {"Bucket": bucket, "Key": key, **({"VersionId": version} if version else {})}
        _count("s3:head")
        try:
            return self.client.head_object(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, uri, version, "HeadObject") from None

    def fingerprint(self, location: str, *, version: str | None = None) -> str:
        answer = self.head(location, version=version)
        ident = answer.get("VersionId") if answer.get("VersionId") not in (None, "null") else answer.get("ETag")
        ident = str(ident or answer.get("LastModified")).strip('"')  # ETags come quoted
        return f"{location}@{ident}"

    def fetch(self, location: str, *, version: str | None = None, max_bytes: int,
              too_large_hint: str = "") -> Blob:
        bucket, key = split_s3(location)
        kwargs = {"Bucket": bucket, "Key": key, **({"VersionId": version} if version else {})}
        _count("s3:get")
        try:
            answer = self.client.get_object(**kwargs)
            size = int(answer.get("ContentLength") or 0)
            if size > max_bytes:
                answer["Body"].close()
                raise _too_large(location, size, max_bytes, too_large_hint)
            data = answer["Body"].read(max_bytes + 1)
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, location, version, "GetObject") from None
        if len(data) > max_bytes:
            raise _too_large(location, len(data), max_bytes, too_large_hint)
        got_version = answer.get("VersionId")
        return Blob(location, data, got_version if got_version not in (None, "null") else None,
                    answer.get("ETag"))

    def put(self, uri: str, data: bytes, content_type: str = "text/csv") -> None:
        bucket, key = split_s3(uri)
        _count("s3:put")
        try:
            self.client.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, uri, None, "PutObject") from None

    def exists(self, uri: str) -> bool:
        try:
            self.head(uri)
            return True
        except ComparisonDataError:
            return False


# --- repository files --------------------------------------------------------------------------------


class RepoFetcher:
    """Files of a GitHub repository at one ref (the pull request's head), through the contents
    API, and the git blob API for files over its 1 MB limit. Each path is read at most once."""

    def __init__(self, requester, full_name: str, ref: str):
        self._requester, self.full_name, self.ref = requester, full_name, ref
        self._memo: dict[str, Blob] = {}

    def _read(self, path: str, max_bytes: int, hint: str = "") -> Blob:
        path = path.strip("/")
        if path in self._memo:
            blob = self._memo[path]
        else:
            where = f"{path} at {self.ref[:7]}"
            try:
                _count("github:get")
                _, data = self._requester.requestJsonAndCheck(
                    "GET", f"/repos/{self.full_name}/contents/{quote(path, safe='/')}", parameters={"ref": self.ref})
                if isinstance(data, list) or data.get("type") != "file":
                    raise ComparisonDataError("unreachable", f"{where}: not a file in the repository")
                size = int(data.get("size") or 0)
                if size > max_bytes:
                    raise _too_large(path, size, max_bytes, hint)
                if data.get("encoding") == "base64" and data.get("content") is not None and size <= 1024 * 1024:
                    raw = base64.b64decode(data["content"])
                else:  # the contents API leaves out files over 1 MB: the blob API has them (to 100 MB)
                    _count("github:get")
                    _, blob_data = self._requester.requestJsonAndCheck(
                        "GET", f"/repos/{self.full_name}/git/blobs/{data['sha']}")
                    raw = base64.b64decode(blob_data.get("content") or "")
            except GithubException as exc:
                if exc.status == 404:
                    raise ComparisonDataError("unreachable", f"{where}: no such file in the repository") from None
                raise ComparisonDataError("unreachable", f"{where}: GitHub answered HTTP {exc.status}") from None
            blob = Blob(path, raw, version=data.get("sha"))
            self._memo[path] = blob
        if len(blob.data) > max_bytes:
            raise _too_large(path, len(blob.data), max_bytes, hint)
        return blob

    def fetch(self, location: str, *, version: str | None = None, max_bytes: int, too_large_hint: str = "") -> Blob:
        return self._read(location, max_bytes, too_large_hint)

    def fingerprint(self, location: str, *, version: str | None = None) -> str:
        blob = self._read(location, MAX_DATASET_BYTES)
        return f"git:{blob.version or blob.digest}"


class LocalFetcher:
    """Files under a local checkout (`modelbot check`); paths may not leave `root`."""

    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()

    def _path(self, location: str) -> Path:
        full = (self.root / location).resolve()
        if self.root != full and self.root not in full.parents:
            raise ComparisonDataError("bad_location", f"{location}: outside the checkout {self.root}")
        return full

    def fetch(self, location: str, *, version: str | None = None, max_bytes: int, too_large_hint: str = "") -> Blob:
        full = self._path(location)
        _count("local:read")
        try:
            size = full.stat().st_size
            if size > max_bytes:
                raise _too_large(location, size, max_bytes, too_large_hint)
            data = full.read_bytes()
        except FileNotFoundError:
            raise ComparisonDataError("unreachable", f"{location}: no such file under {self.root}") from None
        except IsADirectoryError:
            raise ComparisonDataError("unreachable", f"{location}: a directory, not a file") from None
        except OSError as exc:
            raise ComparisonDataError("unreachable", f"{location}: cannot read ({exc.strerror})") from None
        return Blob(location, data)

    def fingerprint(self, location: str, *, version: str | None = None) -> str:
        return self.fetch(location, max_bytes=MAX_DATASET_BYTES).digest


@dataclass
class Fetchers:
    """Routes `s3://` locations to `s3` and every other location (a repository path) to `repo`."""

    s3: Any = None
    repo: Any = None

    def _pick(self, location: str):
        target = self.s3 if is_s3(location) else self.repo
        if target is None:
            what = "S3" if is_s3(location) else "repository files"
            raise ComparisonDataError("unreachable", f"{location}: {what} cannot be read here")
        return target

    def fetch(self, location: str, *, version: str | None = None, max_bytes: int, too_large_hint: str = "") -> Blob:
        return self._pick(location).fetch(location, version=version, max_bytes=max_bytes, too_large_hint=too_large_hint)

    def fingerprint(self, location: str, *, version: str | None = None) -> str:
        return self._pick(location).fingerprint(location, version=version)


# --- tables -------------------------------------------------------------------------------------------


def parse_table(data: bytes, fmt: str, *, source: str, text_columns=(),
                limits: TableLimits | None = None) -> dict[str, np.ndarray]:
    """csv / jsonl (bot.core.compare.data.load_table) or parquet (pyarrow) bytes into named columns,
    refused before they are materialised when over `limits` (rows, columns, decoded bytes)."""
    limits = limits or TableLimits()
    if fmt in ("csv", "jsonl"):  # gzip-compressed too: inflated as a bounded stream
        return load_table(data, fmt, text_columns=text_columns, limits=limits, source=source)
    if fmt == "parquet":
        whole = "gzip" if is_gzip(data) else other_compression(data)
        if whole:
            raise ComparisonDataError("bad_format", f"{source}: a parquet file compressed as a whole ({whole}), which "
                                                    "modelbot does not read; parquet compresses its own pages: give "
                                                    "the .parquet file itself")
        return _parquet(data, source, text_columns, limits)
    raise ComparisonDataError("bad_format", f"{source}: unsupported format {fmt!r}; expected csv, jsonl or parquet")


# Parquet: the footer says how many rows and columns there are and how large each column chunk
# is once decompressed; the page headers say it again for each page (what the reader will
# actually decompress), and the values are decoded batch by batch with a running count.
PARQUET_BATCH_ROWS = 16_384
MAX_PARQUET_PAGES = 100_000
# Bytes a decoded value of each physical type takes at least (BYTE_ARRAY: its offset; the
# characters are counted from the data while reading).
_PHYSICAL_BYTES = {"BOOLEAN": 1, "INT32": 4, "INT64": 8, "INT96": 12, "FLOAT": 4, "DOUBLE": 8, "BYTE_ARRAY": 8}


def _parquet(data: bytes, source: str, text_columns, limits: TableLimits) -> dict[str, np.ndarray]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ComparisonDataError(
            "parquet_unavailable",
            f"{source}: parquet needs pyarrow, which this modelbot installation does not have "
            "(install modelbot with the `compare` extra), or store the set as csv or jsonl") from None
    import pyarrow as pa

    try:
        meta = pq.ParquetFile(io.BytesIO(data)).metadata  # the footer only
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise ComparisonDataError("bad_file", f"{source}: not a readable parquet file ({exc})") from None
    footer = "from the Parquet footer, before reading any data"
    limits.check_columns(source, max(meta.num_columns, len(meta.schema.to_arrow_schema().names)), footer)
    limits.check_rows(source, meta.num_rows, footer, exact=True)
    encoded = decoded = 0
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        limits.check_rows(source, group.num_rows, f"row group {g} of the Parquet footer", exact=True)
        for c in range(group.num_columns):
            chunk = group.column(c)
            encoded += max(chunk.total_uncompressed_size, 0)
            decoded += max(chunk.num_values, 0) * _PHYSICAL_BYTES.get(chunk.physical_type, 8)
    decoded = max(decoded, meta.num_rows * meta.num_columns * 8)  # every column becomes int64/float64 at least
    limits.check_decoded(source, max(encoded, decoded), footer)
    pages = _parquet_pages(data, meta, source)
    limits.check_decoded(source, max(pages["uncompressed"], pages["values"] * 8),
                         "from the Parquet page headers, before reading any data")

    try:
        schema = meta.schema.to_arrow_schema()
        textual = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
                   or pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type)]
        # Text is read as dictionaries (a value repeated a million times is kept once) and its
        # decoded size counted from the dictionary's lengths before any of it is expanded.
        reader = pq.ParquetFile(io.BytesIO(data), read_dictionary=textual)
        batches, rows, held = [], 0, 0
        for batch in reader.iter_batches(batch_size=PARQUET_BATCH_ROWS, use_threads=False):
            rows += batch.num_rows
            limits.check_rows(source, rows, "counted while reading, the footer said fewer", exact=True)
            held += _numpy_bytes(batch, pa)  # the Arrow batches are about as large again, until converted
            limits.check_decoded(source, held, "counted while reading")
            batches.append(batch)
        table = pa.Table.from_batches(batches, schema=reader.schema_arrow) if batches else \
            reader.schema_arrow.empty_table()
    except ComparisonDataError:
        raise
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise ComparisonDataError("bad_file", f"{source}: not a readable parquet file ({exc})") from None
    del batches
    return _columns(table, text_columns, pa)


def _numpy_bytes(batch, pa) -> int:
    """What the batch's columns take as numpy arrays (text: its characters, dictionaries expanded)."""
    import pyarrow.compute as pc

    total = 0
    for column in batch.columns:
        typ = column.type
        if pa.types.is_dictionary(typ):
            lengths = pc.binary_length(column.dictionary) if _is_text(typ.value_type, pa) else None
            if lengths is None:
                total += 8 * len(column)
                continue
            per_row = pc.take(lengths, column.indices)
        elif _is_text(typ, pa):
            per_row = pc.binary_length(column)
        else:
            total += max(8 * len(column), column.nbytes)
            continue
        longest = pc.max(per_row).as_py() or 0
        total += text_bytes(len(column), longest, pc.sum(per_row).as_py() or 0)
    return total


def _is_text(typ, pa) -> bool:
    return pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_binary(typ) \
        or pa.types.is_large_binary(typ)


def _columns(table, text_columns, pa) -> dict[str, np.ndarray]:
    import pyarrow.compute as pc

    out: dict[str, np.ndarray] = {}
    for name, column in zip(table.column_names, table.columns):
        if pa.types.is_dictionary(column.type):
            if _is_text(column.type.value_type, pa):  # to_pylist expands the dictionary one value at a time
                values = column.to_pylist()
                out[name] = _text([str(v) for v in values] if name in text_columns else
                                  ["" if v is None else v for v in values]) \
                    if name in text_columns or all(isinstance(v, str) or v is None for v in values) else \
                    _objects(values)
                continue
            column = column.cast(column.type.value_type)
        typ = column.type
        if name in text_columns:
            out[name] = _text([str(v) for v in column.to_pylist()])
        elif pa.types.is_boolean(typ):
            out[name] = np.array(column.to_pylist(), dtype=object) if column.null_count else \
                column.to_numpy(zero_copy_only=False).astype(bool)
        elif pa.types.is_integer(typ) and not column.null_count:
            out[name] = column.to_numpy(zero_copy_only=False).astype(np.int64)
        elif pa.types.is_integer(typ) or pa.types.is_floating(typ):
            out[name] = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64)
        elif pa.types.is_decimal(typ):
            out[name] = np.array([np.nan if v is None else float(v) for v in column.to_pylist()], dtype=np.float64)
        elif pa.types.is_list(typ) or pa.types.is_large_list(typ) or pa.types.is_fixed_size_list(typ):
            values = column.to_pylist()
            try:
                out[name] = np.array(values, dtype=np.float64)
            except (TypeError, ValueError):
                out[name] = _objects(values)
        else:
            values = column.to_pylist()
            out[name] = _text(["" if v is None else v for v in values]) \
                if all(isinstance(v, str) or v is None for v in values) else _objects(values)
    return out


def _objects(values: list) -> np.ndarray:
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return arr


def _text(values: list[str]) -> np.ndarray:
    lengths = [len(v) for v in values]
    return text_array(values, max(lengths, default=0), sum(lengths))


def _parquet_pages(data: bytes, meta, source: str) -> dict[str, int]:
    """Sum of the page headers' uncompressed sizes and value counts over every column chunk: what
    the reader will decompress and decode, whatever the footer says. A header that cannot be
    read, or a page outside its chunk, is refused."""
    total = {"uncompressed": 0, "values": 0, "pages": 0}
    view = memoryview(data)
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for c in range(group.num_columns):
            chunk = group.column(c)
            start = chunk.dictionary_page_offset if chunk.has_dictionary_page and chunk.dictionary_page_offset \
                else chunk.data_page_offset
            end = start + chunk.total_compressed_size
            if start < 4 or end > len(data) or chunk.total_compressed_size < 0:
                raise ComparisonDataError("bad_file", f"{source}: not a readable parquet file (column chunk "
                                                      f"{chunk.path_in_schema} of row group {g} lies outside the file)")
            pos = start
            while pos < end:
                try:
                    header, pos = _thrift_struct(view, pos, end)
                except (IndexError, ValueError):
                    raise ComparisonDataError("bad_file", f"{source}: not a readable parquet file (unreadable page "
                                                          f"header in column {chunk.path_in_schema}, row group {g})") \
                        from None
                compressed, uncompressed = header.get(3), header.get(2)
                if not isinstance(compressed, int) or not isinstance(uncompressed, int) or compressed < 0 \
                        or uncompressed < 0 or pos + compressed > end:
                    raise ComparisonDataError("bad_file", f"{source}: not a readable parquet file (a page of column "
                                                          f"{chunk.path_in_schema}, row group {g}, has a bad size)")
                pos += compressed
                total["uncompressed"] += uncompressed
                for sub in (5, 7, 8):  # data page, dictionary page, data page v2: num_values is field 1
                    if isinstance(header.get(sub), dict) and isinstance(header[sub].get(1), int):
                        total["values"] += max(header[sub][1], 0)
                total["pages"] += 1
                if total["pages"] > MAX_PARQUET_PAGES:
                    raise ComparisonDataError("too_large", f"{source}: more than {MAX_PARQUET_PAGES:,} pages "
                                                           "(bot.adapters.sources.MAX_PARQUET_PAGES)")
    return total


# Thrift compact protocol (how Parquet writes its page headers), just enough to read integers
# and skip everything else: https://github.com/apache/thrift/blob/master/doc/specs/thrift-compact-protocol.md


def _varint(b, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end:
            raise IndexError("truncated")
        byte = b[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _zigzag(n: int) -> int:
    return (n >> 1) ^ -(n & 1)


def _thrift_value(b, pos: int, end: int, typ: int, depth: int, in_container: bool):
    if typ in (1, 2):  # bool: in a struct field the type is the value; in a list, one byte
        return (typ == 1, pos) if not in_container else (b[pos] == 1, pos + 1)
    if typ == 3:
        return b[pos], pos + 1
    if typ in (4, 5, 6):
        v, pos = _varint(b, pos, end)
        return _zigzag(v), pos
    if typ == 7:
        return None, pos + 8
    if typ == 8:
        n, pos = _varint(b, pos, end)
        if pos + n > end:
            raise IndexError("truncated")
        return None, pos + n
    if typ in (9, 10):
        head = b[pos]
        pos += 1
        size, elem = head >> 4, head & 0x0F
        if size == 15:
            size, pos = _varint(b, pos, end)
        for _ in range(size):
            _, pos = _thrift_value(b, pos, end, elem, depth + 1, True)
        return None, pos
    if typ == 11:
        size, pos = _varint(b, pos, end)
        if size:
            kinds = b[pos]
            pos += 1
            for _ in range(size):
                _, pos = _thrift_value(b, pos, end, kinds >> 4, depth + 1, True)
                _, pos = _thrift_value(b, pos, end, kinds & 0x0F, depth + 1, True)
        return None, pos
    if typ == 12:
        return _thrift_struct(b, pos, end, depth + 1)
    raise ValueError(f"unknown thrift type {typ}")


def _thrift_struct(b, pos: int, end: int, depth: int = 0) -> tuple[dict, int]:
    if depth > 16:
        raise ValueError("nested too deeply")
    fields, last = {}, 0
    while True:
        if pos >= end:
            raise IndexError("truncated")
        head = b[pos]
        pos += 1
        if head == 0:
            return fields, pos
        typ, delta = head & 0x0F, head >> 4
        if delta:
            fid = last + delta
        else:
            v, pos = _varint(b, pos, end)
            fid = _zigzag(v)
        last = fid
        fields[fid], pos = _thrift_value(b, pos, end, typ, depth, False)


def _n_rows(table: Mapping[str, np.ndarray]) -> int:
    return next((len(v) for v in table.values()), 0)


# --- the validation set -------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ValidationSet:
    """The loaded validation set: labels, optional row ids, and every other column as a feature."""

    location: str
    format: str
    digest: str  # sha256 of the bytes read
    version: str | None
    n_bytes: int
    table: Mapping[str, np.ndarray]
    label_column: str
    id_column: str | None
    labels: np.ndarray
    ids: np.ndarray | None
    feature_names: tuple[str, ...] = field(default=())

    @property
    def n_rows(self) -> int:
        return int(len(self.labels))

    def numeric_features(self) -> tuple[list[str], np.ndarray, list[str]]:
        """(names, float64 matrix (n, f), text columns left out) of the feature columns."""
        names, cols, text = [], [], []
        for name in self.feature_names:
            col = self.table[name]
            if col.dtype.kind in "biuf":
                names.append(name)
                cols.append(col.astype(np.float64))
            else:
                text.append(name)
        matrix = np.column_stack(cols) if cols else np.zeros((self.n_rows, 0))
        return names, matrix, text


def dataset_location(ds) -> str:
    """Where the manifest's dataset lives: its S3 URI or repository path."""
    return ds.uri or ds.path


def _bytes_hint(limits: TableLimits, default: str, hint: str = "") -> str:
    """What a refusal over the bytes limit adds: where the limit is set, then `hint`."""
    return f"the limit is {limits.where.get('max_bytes') or default}" + (f"; {hint}" if hint else "")


def load_validation_set(ds, fetcher, *, max_bytes: int = MAX_DATASET_BYTES, too_large_hint: str = "",
                        limits: TableLimits | None = None) -> ValidationSet:
    """Read and check the manifest's `validation.dataset` (bot.core.manifest.model.Dataset), refused
    before it is materialised when over `max_bytes` or `limits` (rows, columns, decoded bytes)."""
    limits = replace(limits or TableLimits(), subject="validation set")
    location = dataset_location(ds)
    version = ds.version if is_s3(location) else None  # a repository file is pinned by the commit
    blob = fetcher.fetch(location, version=version, max_bytes=max_bytes,
                         too_large_hint=_bytes_hint(limits, "bot.adapters.sources.MAX_DATASET_BYTES", too_large_hint))
    if ds.digest and blob.digest != ds.digest:
        raise ComparisonDataError(
            "digest_mismatch",
            f"{location}: the content's digest {blob.digest} does not match the digest pinned in the "
            f"manifest {ds.digest}; the validation set changed (or the pin is wrong)")
    source = location + (f" (version {ds.version})" if ds.version else "")
    text = [ds.id_column] if ds.id_column else []
    table = parse_table(blob.data, ds.format, source=source, text_columns=text, limits=limits)
    if not table:
        raise ComparisonDataError("empty", f"{source}: the validation set is empty: no columns and no rows")
    needed = [ds.label_column] + ([ds.id_column] if ds.id_column else [])
    cols = require_columns(table, needed, source)
    labels, ids = cols[0], (cols[1] if ds.id_column else None)
    if _n_rows(table) == 0:
        raise ComparisonDataError("empty", f"{source}: the validation set is empty: no rows to compare")
    features = tuple(n for n in table if n not in needed)
    shown_version = (blob.version or ds.version) if is_s3(location) else ds.version  # not the git blob sha
    return ValidationSet(location, ds.format, blob.digest, shown_version, len(blob.data), table,
                         ds.label_column, ds.id_column, labels, ids, features)


# --- prediction files -----------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class PredictionFile:
    """A pipeline's predictions: the candidate's column, and the live model's when the pipeline
    scored it too (`baseline_<column>`)."""

    location: str
    digest: str
    ids: np.ndarray | None
    candidate: np.ndarray
    baseline: np.ndarray | None
    n_rows: int


def _prediction_column(table: Mapping[str, np.ndarray], column: str) -> np.ndarray | None:
    """`column`, or the probability columns `column_0..column_{k-1}` stacked (multiclass csv)."""
    if column in table:
        return table[column]
    parts = []
    while f"{column}_{len(parts)}" in table:
        parts.append(table[f"{column}_{len(parts)}"])
    if len(parts) >= 2:
        try:
            return np.column_stack([np.asarray(p, dtype=np.float64) for p in parts])
        except (TypeError, ValueError):
            return np.column_stack(parts)
    return None


def prediction_format(location: str) -> str:
    """The format of a prediction file by its extension, below a compression suffix
    (`predictions.jsonl.gz` is jsonl; the gzip is found by its magic bytes when read)."""
    path = PurePosixPath(location.split("?", 1)[0])
    if path.suffix.lower() in (".gz", ".gzip"):
        path = path.with_suffix("")
    return {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
            ".parquet": "parquet", ".pq": "parquet"}.get(path.suffix.lower(), "csv")


def load_prediction_file(location: str, column: str, id_column: str | None, fetcher, *,
                         max_bytes: int = MAX_PREDICTIONS_BYTES, limits: TableLimits | None = None) -> PredictionFile:
    """The pipeline's prediction file (csv, jsonl or parquet by its extension).

    Columns: the dataset's id column (when it has one; rows are joined by it, in any order),
    `column` with the candidate's prediction (binary: P(positive); multiclass: a JSON list per
    row, or one column per class `column_0` .. `column_{k-1}`; regression: the value), and
    optionally `baseline_<column>` with the live model's prediction when the pipeline scored it.
    Refused before it is materialised when over `max_bytes` or `limits`.
    """
    limits = replace(limits or TableLimits(), subject="prediction file")
    blob = fetcher.fetch(location, max_bytes=max_bytes,
                         too_large_hint=_bytes_hint(limits, "bot.adapters.sources.MAX_PREDICTIONS_BYTES"))
    text = [id_column] if id_column else []
    table = parse_table(blob.data, prediction_format(location), source=location, text_columns=text, limits=limits)
    candidate = _prediction_column(table, column)
    if candidate is None:
        raise ComparisonDataError(
            "missing_column",
            f"{location}: missing the prediction column {column!r} (validation.predictions.column); columns "
            f"present: {', '.join(map(repr, table)) or '(none)'}")
    ids = None
    if id_column:
        if id_column not in table:
            raise ComparisonDataError(
                "missing_column",
                f"{location}: missing the row id column {id_column!r} (validation.dataset.id_column) needed to "
                f"join the predictions to the labels; columns present: {', '.join(map(repr, table))}")
        ids = table[id_column]
    baseline = _prediction_column(table, BASELINE_PREFIX + column)
    return PredictionFile(location, blob.digest, ids, candidate, baseline, len(candidate))
