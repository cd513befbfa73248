"""SageMaker data capture, parsed and paired: production and shadow answers to the same request.

Format (SageMaker Developer Guide, "Data capture" / "View collected data"; Model Monitor,
"Ingest Ground Truth labels and merge them with predictions"): one JSON object per line,

    {"captureData": {"endpointInput":  {"observedContentType": "text/csv", "mode": "INPUT",
                                        "data": "...", "encoding": "CSV" | "JSON" | "BASE64"},
                     "endpointOutput": {"observedContentType": "...", "mode": "OUTPUT",
                                        "data": "...", "encoding": "..."}},
     "eventMetadata": {"eventId": "<uuid>", "inferenceTime": "2024-01-01T10:00:00Z",
                       "inferenceId": "<caller's InferenceId, only when the caller passed one>"},
     "eventVersion": "0"}

in objects keyed `<destination prefix>/<endpoint>/<variant>/yyyy/mm/dd/hh/<file>.jsonl` (UTC
hour of capture): `capture_hour_prefix` builds a key prefix, `parse_capture_key` reads one.

- `parse_capture(data, max_records=...)`: bytes the adapter already bounded by size in, a
  `CaptureBatch` out. Never raises for data: a line cut short (the last line without its
  newline, an unterminated string, or a JSON error at the line's end) counts as truncated, any other unreadable line
  or a record without captureData/eventMetadata counts as malformed, lines past `max_records`
  are counted and not parsed. Outputs are decoded to numbers: CSV (comma or newline separated),
  JSON (a number, nested lists of numbers, or the list under the first of `JSON_OUTPUT_KEYS`),
  BASE64 (decoded, then read as JSON or CSV by its observedContentType). An undecodable output
  leaves the record with `output=None` and is counted.
- `input_digest`: SHA-256 of the decoded request body (BASE64 decoded; trailing CR/LF dropped),
  so that records of the same request body compare equal whatever the variant.
- `pair_records(production, shadow)`: pairs by, in order,
  1. inferenceId, when both records carry one. AWS documents that a caller-supplied
     InferenceId "is added to the captured data" (InvokeEndpoint); ASSUMPTION: SageMaker copies
     the request, headers included, to the shadow variant, so that its capture carries the same
     inferenceId. AWS does not document this for shadow variants.
  2. eventId, when the same one appears on both sides. eventId is documented as generated per
     invocation; AWS does not say whether the shadow copy keeps it (ASSUMPTION: if it does,
     equal UUIDs can only be the same invocation, so matching on them is safe; if not, this
     step matches nothing).
  3. otherwise the input digest: what AWS's format guarantees, since the shadow variant receives
     a copy of the production request ("Shadow tests"). Requests with the same body are paired
     in order of inference time (then file order); time only breaks ties, it is never trusted
     for ordering across variants (clock skew), and the pairs of a repeated body are counted as
     `ambiguous` (their answers should agree anyway, the model seeing the same input).
  Records unmatched on either side are counted, never guessed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from types import MappingProxyType

import numpy as np

MAX_RECORDS = 200_000
MAX_PROBLEMS = 5  # sample messages kept per batch
JSON_OUTPUT_KEYS = ("predictions", "prediction", "scores", "score", "probabilities", "probability",
                    "outputs", "output", "predicted_label", "label")
_KEY = re.compile(r"(?:^|/)(?P<endpoint>[^/]+)/(?P<variant>[^/]+)/(?P<y>\d{4})/(?P<m>\d{2})/(?P<d>\d{2})/(?P<h>\d{2})/[^/]+$")


@dataclass(frozen=True)
class CaptureRecord:
    """One captured invocation. `output`: the response as numbers (None when undecodable);
    `inference_time`: UTC, None when missing or unreadable; `line`: its 1-based line number."""

    event_id: str | None
    inference_id: str | None
    inference_time: datetime | None
    input_digest: str | None
    output: tuple[float, ...] | None
    output_content_type: str | None
    line: int


@dataclass(frozen=True)
class CaptureBatch:
    """What one bounded read of capture held, and what was skipped and why."""

    records: tuple[CaptureRecord, ...]
    lines: int = 0
    truncated: int = 0
    malformed: int = 0
    over_cap: int = 0
    undecodable_outputs: int = 0
    bad_times: int = 0
    problems: tuple[str, ...] = ()

    @property
    def skipped(self) -> int:
        return self.truncated + self.malformed + self.over_cap


@dataclass(frozen=True)
class Pairing:
    """Production and shadow answers to the same requests, as arrays of one score each.

    `production[i]` and `shadow[i]` answer the same request; `by` counts pairs per rule
    ("inference_id", "event_id", "input"); `ambiguous`: input pairs among repeated bodies."""

    production: np.ndarray
    shadow: np.ndarray
    by: Mapping[str, int]
    unmatched_production: int
    unmatched_shadow: int
    ambiguous: int
    without_output: int

    @property
    def n(self) -> int:
        return int(len(self.production))


def capture_hour_prefix(destination_prefix: str, endpoint: str, variant: str, hour: datetime) -> str:
    """`<prefix>/<endpoint>/<variant>/yyyy/mm/dd/hh/`, the key prefix of one UTC hour of capture."""
    h = hour.astimezone(timezone.utc) if hour.tzinfo else hour
    base = destination_prefix.strip("/")
    return f"{base + '/' if base else ''}{endpoint}/{variant}/{h:%Y/%m/%d/%H}/"


def parse_capture_key(key: str) -> tuple[str, str, datetime] | None:
    """(endpoint, variant, UTC hour) of a capture object key, None when it is not one."""
    m = _KEY.search(key)
    if not m:
        return None
    try:
        hour = datetime(int(m["y"]), int(m["m"]), int(m["d"]), int(m["h"]), tzinfo=timezone.utc)
    except ValueError:
        return None
    return m["endpoint"], m["variant"], hour


def parse_capture(data: bytes, *, max_records: int = MAX_RECORDS) -> CaptureBatch:
    """Parse capture JSON Lines (see the module docstring); never raises for bad data."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        return CaptureBatch((), problems=("capture data is not bytes",))
    raw = bytes(data)
    lines = raw.split(b"\n")
    ends_cleanly = raw.endswith(b"\n")
    if ends_cleanly:
        lines.pop()
    records: list[CaptureRecord] = []
    counts = {"truncated": 0, "malformed": 0, "over_cap": 0, "undecodable": 0, "bad_times": 0}
    problems: list[str] = []
    n_lines = 0

    def problem(kind: str, number: int, why: str) -> None:
        counts[kind] += 1
        if len(problems) < MAX_PROBLEMS:
            problems.append(f"line {number}: {why}")

    for i, line in enumerate(lines):
        number = i + 1
        if not line.strip():
            continue
        n_lines += 1
        if len(records) >= max_records:
            counts["over_cap"] += 1
            continue
        last = i == len(lines) - 1 and not ends_cleanly
        try:
            obj = json.loads(line)
        except (UnicodeDecodeError, ValueError) as e:
            at_end = isinstance(e, json.JSONDecodeError) and (e.msg.startswith("Unterminated")
                                                              or e.pos >= len(line.rstrip()) - 1)
            if last or at_end:
                problem("truncated", number, "truncated JSON line")
            else:
                problem("malformed", number, f"not JSON ({type(e).__name__})")
            continue
        rec = _record(obj, number, counts)
        if isinstance(rec, str):
            problem("malformed", number, rec)
            continue
        records.append(rec)
    return CaptureBatch(tuple(records), lines=n_lines, truncated=counts["truncated"], malformed=counts["malformed"],
                        over_cap=counts["over_cap"], undecodable_outputs=counts["undecodable"],
                        bad_times=counts["bad_times"], problems=tuple(problems))


def _record(obj, number: int, counts: dict) -> CaptureRecord | str:
    if not isinstance(obj, dict):
        return "not a JSON object"
    cap, meta = obj.get("captureData"), obj.get("eventMetadata")
    if not isinstance(cap, dict) or not isinstance(meta, dict):
        return "no captureData/eventMetadata"
    inp, out = cap.get("endpointInput"), cap.get("endpointOutput")
    if inp is not None and not isinstance(inp, dict) or out is not None and not isinstance(out, dict):
        return "endpointInput/endpointOutput is not an object"
    if inp is None and out is None:
        return "neither endpointInput nor endpointOutput"
    event_id = meta.get("eventId")
    inference_id = meta.get("inferenceId")
    when = _time(meta.get("inferenceTime"))
    if when is None:
        counts["bad_times"] += 1
    digest = None
    if inp is not None:
        body = _body(inp)
        digest = None if body is None else hashlib.sha256(body.rstrip(b"\r\n")).hexdigest()
    output = None
    ctype = None
    if out is not None:
        ctype = out.get("observedContentType") if isinstance(out.get("observedContentType"), str) else None
        output = _decode_output(out)
        if output is None:
            counts["undecodable"] += 1
    return CaptureRecord(event_id=event_id if isinstance(event_id, str) and event_id else None,
                         inference_id=inference_id if isinstance(inference_id, str) and inference_id else None,
                         inference_time=when, input_digest=digest, output=output, output_content_type=ctype,
                         line=number)


def _time(value) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        return None
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)


def _body(part: dict) -> bytes | None:
    data = part.get("data")
    if not isinstance(data, str):
        return None
    if str(part.get("encoding", "")).upper() == "BASE64":
        try:
            return base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            return None
    return data.encode("utf-8", "surrogatepass")


def _decode_output(part: dict) -> tuple[float, ...] | None:
    encoding = str(part.get("encoding", "")).upper()
    data = part.get("data")
    if not isinstance(data, str):
        return None
    if encoding == "CSV":
        return _csv_numbers(data)
    if encoding == "JSON":
        return _json_text_numbers(data)
    if encoding == "BASE64":
        body = _body(part)
        if body is None:
            return None
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return None
        ctype = str(part.get("observedContentType", "")).lower()
        if "csv" in ctype:
            return _csv_numbers(text)
        return _json_text_numbers(text) or _csv_numbers(text)
    return None


def _csv_numbers(text: str) -> tuple[float, ...] | None:
    cells = [c.strip() for c in re.split(r"[,\n\r]+", text.strip()) if c.strip()]
    if not cells:
        return None
    try:
        values = tuple(float(c) for c in cells)
    except ValueError:
        return None
    return values if all(math.isfinite(v) for v in values) else None


def _json_text_numbers(text: str) -> tuple[float, ...] | None:
    try:
        obj = json.loads(text)
    except ValueError:
        return None
    values = _json_numbers(obj, depth=0)
    return tuple(values) if values else None


def _json_numbers(obj, depth: int) -> list[float] | None:
    if depth > 8:
        return None
    if isinstance(obj, bool):
        return None
    if isinstance(obj, (int, float)):
        return [float(obj)] if math.isfinite(obj) else None
    if isinstance(obj, list):
        out: list[float] = []
        for item in obj:
            got = _json_numbers(item, depth + 1)
            if got is None:
                return None
            out.extend(got)
        return out or None
    if isinstance(obj, dict):
        for key in JSON_OUTPUT_KEYS:
            if key in obj:
                return _json_numbers(obj[key], depth + 1)
    return None


def scores(records: Iterable[CaptureRecord], index: int = 0) -> np.ndarray:
    """Output number `index` of every record that has one, as a float array."""
    return np.array([r.output[index] for r in records if r.output is not None and len(r.output) > index],
                    dtype=np.float64)


def pair_records(production: Sequence[CaptureRecord], shadow: Sequence[CaptureRecord], *,
                 index: int = 0) -> Pairing:
    """Pair production and shadow records of the same request (rules in the module docstring);
    each side's score is output number `index`."""
    used_p: set[int] = set()
    used_s: set[int] = set()
    pairs: list[tuple[int, int]] = []
    by = {"inference_id": 0, "event_id": 0, "input": 0}

    def match(attr: str, rule: str) -> None:
        first: dict[str, int] = {}
        for j, r in enumerate(shadow):
            key = getattr(r, attr)
            if key is not None and j not in used_s and key not in first:
                first[key] = j
        for i, r in enumerate(production):
            key = getattr(r, attr)
            if i in used_p or key is None or key not in first:
                continue
            j = first.pop(key)
            used_p.add(i)
            used_s.add(j)
            pairs.append((i, j))
            by[rule] += 1

    match("inference_id", "inference_id")
    match("event_id", "event_id")

    def order(r: CaptureRecord) -> tuple:
        t = r.inference_time
        return (0, t.timestamp(), r.line) if t is not None else (1, 0.0, r.line)

    groups_p: dict[str, list[int]] = {}
    groups_s: dict[str, list[int]] = {}
    for i, r in enumerate(production):
        if i not in used_p and r.input_digest is not None:
            groups_p.setdefault(r.input_digest, []).append(i)
    for j, r in enumerate(shadow):
        if j not in used_s and r.input_digest is not None:
            groups_s.setdefault(r.input_digest, []).append(j)
    ambiguous = 0
    for digest, ps in groups_p.items():
        ss = groups_s.get(digest)
        if not ss:
            continue
        ps = sorted(ps, key=lambda i: order(production[i]))
        ss = sorted(ss, key=lambda j: order(shadow[j]))
        k = min(len(ps), len(ss))
        if len(ps) > 1 or len(ss) > 1:
            ambiguous += k
        for i, j in zip(ps[:k], ss[:k]):
            used_p.add(i)
            used_s.add(j)
            pairs.append((i, j))
            by["input"] += 1
    prod_scores, shadow_scores = [], []
    without = 0
    for i, j in pairs:
        a, b = production[i].output, shadow[j].output
        if a is None or b is None or len(a) <= index or len(b) <= index:
            without += 1
            continue
        prod_scores.append(a[index])
        shadow_scores.append(b[index])
    return Pairing(production=np.array(prod_scores, dtype=np.float64), shadow=np.array(shadow_scores, dtype=np.float64),
                   by=MappingProxyType(by), unmatched_production=len(production) - len(used_p), unmatched_shadow=len(shadow) - len(used_s),
                   ambiguous=ambiguous, without_output=without)
