"""Model contracts (`contract:` in a manifest): pure checks of payloads, answers and changes.

A contract names what a model reads (`input.fields`: name, type, required, range, categories)
and what it answers for one record (`output`: type, shape, range, classes), and carries sample
payloads. Everything here takes values and returns values:

- `payload_problems(input, payload)`: what is wrong with one payload, each problem naming the field;
- `encode_payload(input, payload)`: the request body a sample is sent as (CSV line or JSON object);
- `parse_answer` / `answer_problems(output, body)`: an endpoint's answer read as one record and
  checked against the output contract;
- `read_samples(text, where)`: a JSON Lines file of payloads, bounded, with located errors;
- `contract_changes(live, new)`: what a new contract removes or narrows that the live model accepts
  (backward compatibility), shown in the report.

The checks of a whole validation set and of both models' predictions (numpy) live in
`bot.core.compare.contract`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from bot.core.manifest.model import MAX_SAMPLES, Contract, InputContract, OutputContract
from bot.core.manifest.payloads import _a, _shown, number_problem, payload_problems, value_problem

__all__ = ["MAX_SAMPLES", "ContractError", "payload_problems", "value_problem", "encode_payload",
           "read_samples", "contract_samples", "parse_answer", "answer_problems", "judge_answers", "contract_changes"]

MAX_SAMPLES_BYTES = 256 * 1024   # a samples file larger than this is refused before it is parsed
MAX_PAYLOAD_BYTES = 64 * 1024    # one sample payload, encoded
MAX_ANSWER_BYTES = 64 * 1024     # what is read of one answer
ANSWER_KEYS = ("predictions", "probabilities", "scores", "score", "prediction", "label", "labels", "outputs")


class ContractError(ValueError):
    """Sample payloads that cannot be read or do not match the contract (the message locates it)."""


# --- payloads -------------------------------------------------------------------------------------


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    text = str(value)
    if any(c in text for c in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


def encode_payload(inp: InputContract, payload: Mapping[str, Any]) -> bytes:
    """The request body of one sample: a CSV line with the fields in contract order (a missing
    optional field empty), or a JSON object of the fields given."""
    if inp.content_type == "application/json":
        body = json.dumps({f.name: payload[f.name] for f in inp.fields if f.name in payload},
                          separators=(",", ":"))
    else:
        body = ",".join(_csv_cell(payload.get(f.name)) for f in inp.fields)
    return body.encode("utf-8")


def read_samples(text: bytes | str, where: str, inp: InputContract | None = None) -> list[dict]:
    """Payloads of a JSON Lines file (blank lines skipped): at most MAX_SAMPLES, each an object
    of scalars; with `inp`, each checked against the input contract. Raises ContractError naming
    the file and line."""
    if isinstance(text, bytes):
        if len(text) > MAX_SAMPLES_BYTES:
            raise ContractError(f"{where}: {len(text)} bytes; sample payloads are limited to "
                                f"{MAX_SAMPLES_BYTES} bytes")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ContractError(f"{where}: not UTF-8 (byte {exc.start})") from None
    elif len(text.encode("utf-8")) > MAX_SAMPLES_BYTES:
        raise ContractError(f"{where}: sample payloads are limited to {MAX_SAMPLES_BYTES} bytes")
    out: list[dict] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if len(out) == MAX_SAMPLES:
            raise ContractError(f"{where} line {n}: more than {MAX_SAMPLES} payloads (keep at most "
                                f"{MAX_SAMPLES}: each is sent after every deploy)")
        if len(line.encode("utf-8")) > MAX_PAYLOAD_BYTES:
            raise ContractError(f"{where} line {n}: a payload is limited to {MAX_PAYLOAD_BYTES} bytes")
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ContractError(f"{where} line {n}: not JSON ({exc.msg} at column {exc.colno})") from None
        except (ValueError, RecursionError):  # nested too deep, or an integer too long to read
            raise ContractError(f"{where} line {n}: not a payload (nested too deep or a number too long)") from None
        if not isinstance(value, dict):
            raise ContractError(f"{where} line {n}: a payload is a JSON object of fields, not "
                                f"{type(value).__name__}")
        bad = [k for k, v in value.items() if isinstance(v, (dict, list))]
        if bad:
            raise ContractError(f"{where} line {n}: field {bad[0]!r} is not a scalar")
        if inp is not None:
            problems = payload_problems(inp, value)
            if problems:
                raise ContractError(f"{where} line {n}: " + "; ".join(problems[:5]))
        out.append(value)
    if not out:
        raise ContractError(f"{where}: no payloads (one JSON object per line)")
    return out


def contract_samples(manifest: Any, fetch: Callable[[str, int], bytes]) -> list[dict] | None:
    """The manifest's sample payloads: inline (checked with the manifest's rules), or its JSON
    Lines file read with `fetch(path, max_bytes)` (an adapter) and checked here; None without
    samples. Raises ContractError naming the file and line."""
    c = manifest.contract
    if c is None or c.samples is None:
        return None
    if c.samples.inline is not None:
        return [dict(p) for p in c.samples.inline]
    return read_samples(fetch(c.samples.path, MAX_SAMPLES_BYTES + 1), f"contract.samples.path {c.samples.path}",
                        c.input)


# --- answers --------------------------------------------------------------------------------------


def parse_answer(body: bytes, content_type: str | None) -> list[Any]:
    """The values of one record's answer: JSON (a value, a list, a one-record batch, or an object
    under a usual key such as `predictions`) or CSV (one line of comma-separated values)."""
    text = body[:MAX_ANSWER_BYTES].decode("utf-8", "replace").strip()
    value: Any
    try:
        value = json.loads(text)
    except RecursionError:
        raise ContractError("the answer is nested deeper than one record") from None
    except ValueError:
        if content_type and "json" in content_type:
            raise ContractError(f"the answer is not JSON: {text[:80]!r}") from None
        lines = [ln for ln in text.splitlines() if ln.strip()]
        if len(lines) != 1:
            raise ContractError(f"the answer has {len(lines)} lines for one record: {text[:80]!r}")
        return [_cell(c) for c in lines[0].split(",")]
    if isinstance(value, dict):
        key = next((k for k in ANSWER_KEYS if k in value), None)
        if key is None:
            raise ContractError(f"the answer is a JSON object without any of {', '.join(ANSWER_KEYS)}: "
                                f"{text[:80]!r}")
        value = value[key]
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], (list, dict)):
        value = value[0]  # a batch of one record
        if isinstance(value, dict):
            key = next((k for k in ANSWER_KEYS if k in value), None)
            if key is None:
                raise ContractError(f"the answer's record has none of {', '.join(ANSWER_KEYS)}")
            value = value[key]
    values = value if isinstance(value, list) else [value]
    if any(isinstance(v, (list, dict)) for v in values):
        raise ContractError(f"the answer is nested deeper than one record: {text[:80]!r}")
    return values


def _cell(text: str) -> Any:
    s = text.strip().strip('"')
    try:
        return int(s)
    except ValueError:
        pass
    try:
        return float(s)
    except ValueError:
        return s


def _label(value: Any) -> str:
    """A class label compared as text, a whole float as the integer it is (XGBoost answers 1.0)."""
    if isinstance(value, float) and value.is_integer() and abs(value) <= 2 ** 53:
        return str(int(value))
    return str(value)


def output_value_problem(out: OutputContract, value: Any) -> str | None:
    """Why one answered value breaks the output contract (None: it fits)."""
    if out.type == "string":
        if isinstance(value, (int, float)) and not isinstance(value, bool) and out.classes is not None \
                and _label(value) in {_label(c) for c in out.classes}:
            return None  # a CSV answer reads "1" as a number
        if not isinstance(value, str):
            return f"{_shown(value)} is not a string"
    else:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"{_shown(value)} is not {_a(out.type)}"
        why = number_problem(value)
        if why:
            return why
        if out.type == "integer" and float(value) != int(value):
            return f"{_shown(value)} is not an integer"
        if out.min is not None and value < out.min:
            return f"{value:g} is below the output minimum {out.min:g}"
        if out.max is not None and value > out.max:
            return f"{value:g} is above the output maximum {out.max:g}"
    if out.classes is not None and not out.shape and _label(value) not in {_label(c) for c in out.classes}:
        return f"{_shown(value)} is not one of the classes ({', '.join(str(c) for c in out.classes[:10])})"
    return None


def answer_problems(out: OutputContract, values: list[Any]) -> list[str]:
    """What is wrong with one record's answer: the number of values, then each value."""
    want = out.shape[0] if out.shape else 1
    if len(values) != want:
        return [f"{len(values)} value(s) per record, the contract's output shape says {want}"]
    problems = []
    for i, v in enumerate(values):
        why = output_value_problem(out, v)
        if why:
            problems.append(f"value {i}: {why}" if want > 1 else why)
    return problems


def judge_answers(c: Contract, payloads: list[Mapping[str, Any]], answers: list[Any]) -> list[str]:
    """One message per sample whose answer breaks the contract (empty: all held): the sample's
    number and payload, then the error AWS gave or what in the answer is wrong. `answers`: one
    per payload, each with `body`, `content_type` and `error` (None when AWS answered)."""
    out = []
    for i, (payload, answer) in enumerate(zip(payloads, answers), 1):
        if answer.error:
            problems = [answer.error]
        else:
            try:
                problems = answer_problems(c.output, parse_answer(answer.body, answer.content_type))
            except ContractError as exc:
                problems = [str(exc)]
            except (ValueError, TypeError, OverflowError, RecursionError) as exc:  # never a crash, never a pass
                problems = [f"the answer could not be judged ({type(exc).__name__})"]
        if problems:
            out.append(f"sample {i} {_shown(dict(payload))}: " + "; ".join(problems))
    if len(answers) < len(payloads):
        out.append(f"{len(payloads) - len(answers)} sample(s) were not sent")
    return out


# --- changes against the live model's contract -------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """A difference that can break callers of the live model. `loc`: the field in the new
    manifest it is shown at; `message`: what changed and why it matters."""

    loc: tuple
    message: str


def _range(lo: float | None, hi: float | None) -> str:
    return f"[{'-inf' if lo is None else f'{lo:g}'}, {'inf' if hi is None else f'{hi:g}'}]"


def contract_changes(live: Contract | None, new: Contract | None) -> list[Change]:
    """What `new` removes or narrows that the contract of the live model (`live`, from the base
    branch) accepts, and output changes callers would notice. Empty when nothing narrows."""
    if live is None or new is None:
        if live is not None:
            return [Change(("contract",), "the contract is removed: nothing checks what the model reads "
                                          "and answers any more")]
        return []
    out: list[Change] = []
    inp = ("contract", "input")
    old_fields = {f.name: f for f in live.input.fields}
    new_fields = {f.name: (i, f) for i, f in enumerate(new.input.fields)}
    if new.input.content_type != live.input.content_type:
        out.append(Change(inp + ("content_type",), f"payloads change from {live.input.content_type} to "
                                                   f"{new.input.content_type}: every caller must change"))
    for name, old in old_fields.items():
        if name not in new_fields:
            out.append(Change(inp + ("fields",), f"input field {name!r} is removed: callers of the live model "
                                                 "send it"))
            continue
        i, f = new_fields[name]
        at = inp + ("fields", i)
        if f.type != old.type:
            out.append(Change(at + ("type",), f"input field {name!r} changes type from {old.type} to {f.type}"))
            continue
        if f.required and not old.required:
            out.append(Change(at + ("required",), f"input field {name!r} becomes required: callers of the live "
                                                  "model may leave it out"))
        lo_narrower = f.min is not None and (old.min is None or f.min > old.min)
        hi_narrower = f.max is not None and (old.max is None or f.max < old.max)
        if lo_narrower or hi_narrower:
            out.append(Change(at + ("min" if lo_narrower else "max",),
                              f"input field {name!r} narrows from {_range(old.min, old.max)} to "
                              f"{_range(f.min, f.max)}"))
        if f.categories is not None:
            dropped = sorted(set(old.categories or ()) - set(f.categories)) if old.categories else None
            if old.categories is None:
                out.append(Change(at + ("categories",), f"input field {name!r} now allows only "
                                                        f"{len(f.categories)} categories; the live model "
                                                        "accepts any value"))
            elif dropped:
                out.append(Change(at + ("categories",), f"input field {name!r} no longer allows "
                                                        + ", ".join(repr(c) for c in dropped[:10])
                                                        + (" ..." if len(dropped) > 10 else "")))
    for name, (i, f) in new_fields.items():
        if name not in old_fields and f.required:
            out.append(Change(inp + ("fields", i), f"input field {name!r} is new and required: callers of "
                                                   "the live model do not send it"))
    if new.input.content_type == "text/csv" and live.input.content_type == "text/csv":
        kept_old = [n for n in old_fields if n in new_fields]
        kept_new = [f.name for f in new.input.fields if f.name in old_fields]
        if kept_old != kept_new:
            out.append(Change(inp + ("fields",), "input fields are reordered: CSV callers send them by "
                                                 "position"))
    o, lo = new.output, live.output
    if (o.shape or [1]) != (lo.shape or [1]) or o.type != lo.type:
        out.append(Change(("contract", "output"), f"the answer changes from {lo.type} {lo.shape or []} to "
                                                  f"{o.type} {o.shape or []} per record: callers read it "
                                                  "differently"))
    elif o.classes is not None and lo.classes is not None and [str(c) for c in o.classes] != \
            [str(c) for c in lo.classes]:
        out.append(Change(("contract", "output", "classes"), "the output classes change: callers that map "
                                                             "answers to classes must change"))
    return out
