"""Batch transform: the candidate and the live model scored by SageMaker on the fixed set.

For sets too large to score in the bot. The worker starts one transform job per model and
polls them through the queue (never in the request path); nothing here waits.

- Input: one CSV object without header, `<row index>,<feature 1>,...`, written once per
  dataset digest under the server's `compare.work_prefix`. The jobs send the model only the
  features (`DataProcessing.InputFilter: "$[1:]"`) and join each input record to its
  inference (`JoinSource: Input`), so every output line starts with the row index it belongs
  to: `<row index>,<features...>,<prediction(s)>`. `parse_joined_output` reads that back
  (and the JSON form `{"SageMakerInput": [...], "SageMakerOutput": ...}`); rows are matched by
  index, so order, missing and duplicate rows are all detected.
- Models: the baseline is the live model itself (its SageMaker model name); the candidate gets
  a model `mbc-<key>-model` from the manifest's source (artifact image + ModelDataUrl, a
  framework's SageMaker image (`bot.adapters.aws.images`) + ModelDataUrl, or a registry package) run
  as the environment's execution role.
- Names are derived from the cache key, so starting twice creates nothing twice.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass

import numpy as np

from bot.core.compare.limits import MAX_LINE_CHARS, ComparisonDataError
from bot.adapters.aws.session import unavailable
from botocore.exceptions import BotoCoreError, ClientError

OUTPUT_SUFFIX = ".out"
RUNNING = ("InProgress", "Stopping")


@dataclass(frozen=True)
class TransformModel:
    """A model to transform with: an existing SageMaker model, or a CreateModel request."""

    label: str  # candidate | baseline
    model_name: str
    create: dict | None = None


def job_name(key: str, label: str) -> str:
    return f"mbc-{key[:24]}-{label[0]}"


def input_csv(validation) -> tuple[bytes, int]:
    """The transform input (row index + numeric features, no header) and its field count."""
    names, matrix, text = validation.numeric_features()
    if text:
        raise ComparisonDataError(
            "feature_types", f"{validation.location}: column(s) {', '.join(map(repr, text))} hold text; the batch "
                             "transform input is the numeric feature columns (everything but the label and id)")
    buf = io.StringIO()
    for i, row in enumerate(matrix):
        buf.write(str(i))
        for v in row:
            buf.write("," + ("" if not np.isfinite(v) else repr(float(v))))
        buf.write("\n")
    return buf.getvalue().encode(), 1 + len(names)


def _call(fn, where: str, call: str, **kwargs):
    try:
        return fn(**kwargs)
    except ClientError as exc:
        message = str(exc.response.get("Error", {}).get("Message") or "")
        if "already exist" in message.lower():
            return None
        raise ComparisonDataError("aws_unavailable", unavailable(exc, where=where, call=call).reason) from None
    except BotoCoreError as exc:
        raise ComparisonDataError("aws_unavailable", unavailable(exc, where=where, call=call).reason) from None


def start(sm, s3, *, key: str, validation, models: list[TransformModel], work_prefix: str,
          instance_type: str, instance_count: int, tags: dict[str, str]) -> dict:
    """Upload the input (once per dataset digest) and start one job per model; the job state."""
    prefix = work_prefix if work_prefix.endswith("/") else work_prefix + "/"
    data, n_fields = input_csv(validation)
    input_uri = f"{prefix}inputs/{validation.digest.split(':', 1)[-1]}.csv"
    if not s3.exists(input_uri):
        s3.put(input_uri, data)
    tag_list = [{"Key": k, "Value": v} for k, v in sorted(tags.items())]
    jobs = {}
    for m in models:
        name = job_name(key, m.label)
        if m.create is not None:
            _call(sm.create_model, f"model {m.model_name}", "sagemaker:CreateModel",
                  **{**m.create, "ModelName": m.model_name, "Tags": tag_list})
        output_path = f"{prefix}outputs/{name}"
        _call(sm.create_transform_job, f"transform job {name}", "sagemaker:CreateTransformJob",
              TransformJobName=name, ModelName=m.model_name, BatchStrategy="MultiRecord",
              TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": input_uri}},
                              "ContentType": "text/csv", "SplitType": "Line"},
              TransformOutput={"S3OutputPath": output_path, "Accept": "text/csv", "AssembleWith": "Line"},
              TransformResources={"InstanceType": instance_type, "InstanceCount": instance_count},
              DataProcessing={"InputFilter": "$[1:]", "JoinSource": "Input"},
              Tags=tag_list)
        jobs[m.label] = {"name": name, "model": m.model_name,
                         "output": f"{output_path}/{input_uri.rsplit('/', 1)[1]}{OUTPUT_SUFFIX}",
                         "status": "InProgress"}
    return {"input": input_uri, "n_fields": n_fields, "n_rows": validation.n_rows, "jobs": jobs}


def poll(sm, state: dict) -> dict:
    """Each job's status (and failure reason) from DescribeTransformJob; returns a new state."""
    jobs = {}
    for label, job in state["jobs"].items():
        if job.get("status") in ("Completed", "Failed", "Stopped"):
            jobs[label] = job
            continue
        answer = _call(sm.describe_transform_job, f"transform job {job['name']}", "sagemaker:DescribeTransformJob",
                       TransformJobName=job["name"]) or {}
        jobs[label] = {**job, "status": answer.get("TransformJobStatus", "Unknown"),
                       "reason": answer.get("FailureReason")}
    return {**state, "jobs": jobs}


def stop(sm, state: dict) -> list[str]:
    """Best effort: stop jobs still running (a comparison that timed out or was superseded);
    the names of the jobs SageMaker accepted to stop."""
    stopped = []
    for job in state.get("jobs", {}).values():
        if job.get("status") in RUNNING:
            try:
                sm.stop_transform_job(TransformJobName=job["name"])
                stopped.append(job["name"])
            except Exception:  # noqa: BLE001 - stopping is a courtesy; the result is already decided
                pass
    return stopped


def finished(state: dict) -> bool:
    return all(j.get("status") not in RUNNING for j in state["jobs"].values())


def failures(state: dict) -> list[str]:
    return [f"{label} job {j['name']} {j['status'].lower()}" + (f": {j['reason']}" if j.get("reason") else "")
            for label, j in state["jobs"].items() if j.get("status") in ("Failed", "Stopped", "Unknown")]


def read_predictions(s3, state: dict, label: str, *, max_bytes: int) -> np.ndarray:
    """The label's predictions in row order, from its joined output object."""
    job = state["jobs"][label]
    blob = s3.fetch(job["output"], max_bytes=max_bytes)
    keys, values = parse_joined_output(blob.data, n_input_fields=state["n_fields"], source=job["output"],
                                       max_rows=state["n_rows"])
    return align(keys, values, state["n_rows"], f"{label} batch transform output ({job['output']})")


def parse_joined_output(data: bytes, *, n_input_fields: int, source: str = "batch transform output",
                        max_rows: int | None = None):
    """(row keys, predictions) from output joined to its input (JoinSource: Input).

    CSV lines are the input record's fields followed by the inference (one number, several
    comma-separated numbers, or a JSON list); JSON lines are {"SageMakerInput": [key, ...],
    "SageMakerOutput": inference}. The key is the input's first field. Read line by line: a line
    longer than `data.MAX_LINE_CHARS`, or more answers than the `max_rows` rows of the input, is
    refused when it is reached, before the rest of the output is held.
    """
    keys, values = [], []
    try:
        for n, line in _output_lines(data, source):
            if not line.strip():
                continue
            if max_rows is not None and len(keys) >= max_rows:
                raise ComparisonDataError("id_mismatch", f"{source}: more answers than the {max_rows:,} rows of the "
                                                         f"transform input at line {n} (rows answered more than "
                                                         "once, or rows that are not in the input)")
            key, row = _joined_record(line, n, n_input_fields, source)
            keys.append(key)
            values.append(row)
    except UnicodeDecodeError:
        raise ComparisonDataError("bad_file", f"{source}: not UTF-8 text") from None
    return keys, values


def _output_lines(data: bytes, source: str):
    cap = MAX_LINE_CHARS
    fh = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", newline=None)
    n = 0
    while line := fh.readline(cap + 2):
        n += 1
        line = line.rstrip("\n")
        if len(line) > cap:
            raise ComparisonDataError("bad_file", f"{source}: line {n} is longer than {cap:,} characters "
                                                  "(bot.core.compare.limits.MAX_LINE_CHARS)")
        yield n, line


def _joined_record(line: str, n: int, n_input_fields: int, source: str) -> tuple[int, list[float]]:
    if line.lstrip().startswith("{"):
        try:
            obj = json.loads(line)
            key, out = obj["SageMakerInput"][0], obj["SageMakerOutput"]
        except (ValueError, KeyError, IndexError, TypeError, RecursionError):
            raise ComparisonDataError("bad_file", f"{source}: line {n} is not a joined JSON record "
                                                  "({\"SageMakerInput\": [...], \"SageMakerOutput\": ...})") from None
    else:
        fields = next(csv.reader([line]))
        if len(fields) <= n_input_fields:
            raise ComparisonDataError(
                "bad_file", f"{source}: line {n} has {len(fields)} fields, expected the {n_input_fields} input "
                            "fields followed by the inference (was the job run with JoinSource: Input?)")
        key, rest = fields[0], ",".join(fields[n_input_fields:]).strip()
        out = _inference(rest)
    if isinstance(out, dict):
        out = next((out[k] for k in ("predictions", "probabilities", "score") if k in out), out)
    try:
        return int(float(key)), [float(v) for v in (out if isinstance(out, list) else [out])]
    except (TypeError, ValueError, OverflowError):
        raise ComparisonDataError("non_numeric", f"{source}: line {n}: the inference {str(out)[:60]!r} or "
                                                 f"the row key {str(key)[:20]!r} is not a number") from None


def _inference(rest: str):
    if rest[:1] in "[{":
        try:
            return json.loads(rest)
        except ValueError:
            pass
    parts = [p for p in rest.split(",")]
    return parts if len(parts) > 1 else parts[0]


def align(keys: list[int], values: list[list[float]], n_rows: int, what: str) -> np.ndarray:
    """Predictions in row order (row index = key); missing, extra and duplicate rows raise."""
    if not keys:
        raise ComparisonDataError("empty", f"{what}: no predictions")
    widths = {len(v) for v in values}
    if len(widths) != 1:
        raise ComparisonDataError("bad_shape", f"{what}: rows have different numbers of outputs ({sorted(widths)})")
    k = arr = np.asarray(keys, dtype=np.int64)
    dup = np.bincount(arr[(arr >= 0) & (arr < n_rows)], minlength=n_rows)
    extra = arr[(arr < 0) | (arr >= n_rows)]
    if len(extra):
        raise ComparisonDataError("id_mismatch", f"{what}: {len(extra)} row(s) that are not in the input "
                                                 f"(e.g. {', '.join(map(str, extra[:5].tolist()))})")
    if (dup > 1).any():
        raise ComparisonDataError("duplicate_ids", f"{what}: rows answered more than once "
                                                   f"(e.g. {', '.join(map(str, np.flatnonzero(dup > 1)[:5].tolist()))})")
    if (dup == 0).any():
        missing = np.flatnonzero(dup == 0)
        raise ComparisonDataError("id_mismatch", f"{what}: no prediction for {len(missing)} of {n_rows} rows "
                                                 f"(e.g. rows {', '.join(map(str, missing[:5].tolist()))})")
    out = np.empty((n_rows, widths.pop()), dtype=np.float64)
    out[k] = np.asarray(values, dtype=np.float64)
    return out[:, 0] if out.shape[1] == 1 else out
