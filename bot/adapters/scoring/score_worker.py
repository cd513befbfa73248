"""The scoring subprocess: loads XGBoost / ONNX models (and trusted pickles) and scores a feature matrix, sandboxed.

Run by `bot.adapters.scoring.runner` as a script (`python -I -B score_worker.py WORKDIR`), never imported
by the bot: it imports only numpy, the model's framework, ctypes and its neighbour `sandbox.py`
(loaded by path). The bot gives it an environment without credentials, a wall-clock timeout
and a process-group kill.

Before it imports numpy or reads a model, still single-threaded, it sandboxes itself
(`sandbox.apply`, where each layer is described): a network namespace, a separate uid when the
bot is root, a user namespace without capabilities, no new privileges, not dumpable, Landlock
(read-only Python installation and system libraries, read-write work directory, nothing else),
rlimits (address space, CPU seconds, file size, open files, processes, no core dumps), and last
a seccomp filter (no sockets, no programs, no process creation but threads, no ptrace, no
process_vm_readv, no mount/unshare/setns/keyctl/bpf/io_uring/..., no setrlimit or prlimit64
changing a limit: EPERM); then a Python audit hook
(`BLOCKED_EVENTS`, which cannot be removed) that names what a Python-level attempt was refused.
A layer the kernel refuses is recorded with why, never fatal by itself; the layers in effect
are returned with the results, and the bot turns them into the report's line
(`sandbox.summary`).

What it then refuses, before loading anything:
* everything, when the request requires network isolation (the server config's
  `compare.require_network_isolation`) and neither the network namespace nor the seccomp
  filter is in effect: {"refused": ...};
* a trusted pickle, when any of the five properties (`sandbox.properties`) is missing and the
  request does not accept weaker isolation (`compare.accept_weaker_isolation`).

WORKDIR holds `request.json` ({"limits", "sandbox": {"require_network_isolation",
"accept_weaker_isolation"}, "task", "feature_names", "text_columns", "models": [{"label", "kind",
"path", "allow_pickle"}]}) and `features.npy` (float64, rows x features). It writes
`pred_<i>.npy` per model and `result.json`: {"sandbox": layers, "models": [per model {"ok": true,
"contract": {...}} or {"ok": false, "problem": code, "error": message}]}, or {"refused":
{"problem", "error"}, "sandbox": layers}. The layers also go, before any model is read, as the
first line of stdout ({"sandbox": layers}): the one the bot believes. Pickles are loaded only when the request says
`allow_pickle` (a location the server config trusts); nothing else is ever unpickled.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import sys
from pathlib import Path


class ContractError(Exception):
    def __init__(self, problem: str, message: str):
        super().__init__(message)
        self.problem = problem


# --- isolation ---------------------------------------------------------------------------------------


def load_sandbox():
    """bot/adapters/scoring/sandbox.py, loaded by path (this script never imports the bot's package)."""
    if "modelbot_sandbox" in sys.modules:
        return sys.modules["modelbot_sandbox"]
    spec = importlib.util.spec_from_file_location("modelbot_sandbox", Path(__file__).with_name("sandbox.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules["modelbot_sandbox"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


# Documented audit events (https://docs.python.org/3/library/audit_events.html) that reach the
# network or start a program, with what the message calls them.
BLOCKED_EVENTS = {
    **dict.fromkeys(("socket.__new__", "socket.bind", "socket.connect", "socket.sendto", "socket.sendmsg",
                     "socket.sethostname"), "opening or using a socket"),
    **dict.fromkeys(("socket.getaddrinfo", "socket.getnameinfo", "socket.gethostbyname", "socket.gethostbyaddr"),
                    "resolving a host name"),
    **dict.fromkeys(("urllib.Request", "http.client.connect", "ftplib.connect", "smtplib.connect", "imaplib.open",
                     "nntplib.connect", "poplib.connect", "telnetlib.Telnet.open", "webbrowser.open"),
                    "a network connection"),
    **dict.fromkeys(("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
                     "os.forkpty", "os.startfile", "pty.spawn"), "starting a program or process"),
    **dict.fromkeys(("os.kill", "os.killpg"), "signalling another process"),
}


class SandboxViolation(PermissionError):
    """What a blocked audit event raises in the scoring process."""


def _audit(event: str, args) -> None:
    what = BLOCKED_EVENTS.get(event)
    if what is not None:
        raise SandboxViolation(f"the scoring sandbox does not allow {what} ({event})")


def install_audit_hook() -> None:
    """Block BLOCKED_EVENTS in this process from now on (an audit hook cannot be removed)."""
    sys.addaudithook(_audit)


def isolate(workdir: Path, limits: dict):
    """Every layer of the sandbox this kernel allows, then the audit hook; the Layers. The
    models lie in the work directory, so Landlock needs no rule of their own."""
    return load_sandbox().apply(str(workdir), limits, audit_hook=install_audit_hook)


def write_output(path: Path, data: bytes) -> None:
    """A new regular file at `path`: whatever a model's code left there (a symlink to a file of
    the host, a hard link) is removed first, never written through."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _select(names: list[str], text_columns: list[str], wanted: list[str], features, what: str):
    index = {n: i for i, n in enumerate(names)}
    text = [w for w in wanted if w in text_columns]
    if text:
        raise ContractError("feature_types", f"{what} expects numeric features, but the validation set's "
                                             f"column(s) {', '.join(map(repr, text))} hold text")
    missing = [w for w in wanted if w not in index]
    if missing:
        raise ContractError(
            "missing_features",
            f"{what} expects features the validation set does not have: {', '.join(map(repr, missing[:20]))}"
            + (f" (and {len(missing) - 20} more)" if len(missing) > 20 else "")
            + f"; its feature columns are {', '.join(map(repr, names[:20]))}")
    return features[:, [index[w] for w in wanted]]


def _positional(n_expected: int | None, names: list[str], text_columns: list[str], features, what: str):
    if text_columns:
        raise ContractError("feature_types", f"{what} takes a numeric feature vector, but the validation set's "
                                             f"column(s) {', '.join(map(repr, text_columns))} hold text")
    if n_expected is not None and n_expected != features.shape[1]:
        raise ContractError(
            "feature_count",
            f"{what} expects {n_expected} features, the validation set has {features.shape[1]} feature "
            f"columns besides the label and id ({', '.join(map(repr, names[:20]))}"
            f"{', ...' if len(names) > 20 else ''})")
    return features


def _xgboost(path: str, features, names, text_columns, task):
    import numpy as np
    import xgboost as xgb

    booster = xgb.Booster()
    booster.load_model(path)
    booster.set_param({"nthread": 1})
    try:
        objective = json.loads(booster.save_config())["learner"]["objective"]["name"]
    except (KeyError, ValueError):
        objective = None
    expected = list(booster.feature_names) if booster.feature_names else None
    contract = {"framework": "xgboost", "feature_names": expected, "n_features": int(booster.num_features()),
                "objective": objective}
    what = f"the XGBoost model (objective {objective})"
    if expected:
        x = _select(names, text_columns, expected, features, what)
        dm = xgb.DMatrix(x, feature_names=expected, nthread=1)
    else:
        x = _positional(contract["n_features"], names, text_columns, features, what)
        dm = xgb.DMatrix(x, nthread=1)
    if task == "multiclass" and objective == "multi:softmax":
        raise ContractError("output_type", "the XGBoost model's objective multi:softmax outputs class labels, "
                                           "not probabilities; train with multi:softprob")
    return np.asarray(booster.predict(dm), dtype=np.float64), contract


def _onnx_shape(shape) -> list:
    return [d if isinstance(d, int) else None for d in shape]


def _onnx(path: str, features, names, text_columns, task):
    import numpy as np
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])
    inputs = session.get_inputs()
    outputs = session.get_outputs()
    contract = {"framework": "onnx",
                "inputs": [{"name": i.name, "shape": _onnx_shape(i.shape), "type": i.type} for i in inputs],
                "outputs": [{"name": o.name, "shape": _onnx_shape(o.shape), "type": o.type} for o in outputs]}
    dtype = {"tensor(float)": np.float32, "tensor(double)": np.float64}
    for i in inputs:
        if i.type not in dtype:
            raise ContractError("feature_types", f"the ONNX model's input {i.name!r} is {i.type}; modelbot feeds "
                                                 "numeric tensors (float or double) only")
    what = "the ONNX model"
    if len(inputs) == 1:
        shape = _onnx_shape(inputs[0].shape)
        width = shape[1] if len(shape) == 2 else None
        contract["feature_names"], contract["n_features"] = None, width
        x = _positional(width, names, text_columns, features, what)
        feeds = {inputs[0].name: x.astype(dtype[inputs[0].type])}
    else:  # one input per feature, named after its column
        wanted = [i.name for i in inputs]
        contract["feature_names"], contract["n_features"] = wanted, len(wanted)
        x = _select(names, text_columns, wanted, features, what)
        feeds = {}
        for j, i in enumerate(inputs):
            col = x[:, j:j + 1].astype(dtype[i.type])
            feeds[i.name] = col if len(_onnx_shape(i.shape)) == 2 else col[:, 0]
    answers = session.run(None, feeds)
    return _onnx_output(outputs, answers, task), contract


def _onnx_output(outputs, answers, task):
    import numpy as np

    def as_float(value):
        if isinstance(value, list) and value and isinstance(value[0], dict):  # ZipMap: [{class: p}, ...]
            keys = sorted(value[0])
            return np.array([[row[k] for k in keys] for row in value], dtype=np.float64)
        arr = np.asarray(value)
        return arr.astype(np.float64) if arr.dtype.kind == "f" else None

    floats = [(o.name, m) for o, m in ((o, as_float(v)) for o, v in zip(outputs, answers)) if m is not None]
    if task in ("binary", "multiclass"):
        for name, m in floats:
            if "prob" in name.lower():
                return m
        for name, m in floats:
            if m.ndim == 2:
                return m
    if floats:
        return floats[0][1]
    raise ContractError("output_type", "the ONNX model has no numeric output modelbot can read as predictions "
                                       f"(outputs: {', '.join(o.name for o in outputs)})")


def _pickle(path: str, features, names, text_columns, task):
    import pickle

    import numpy as np

    with open(path, "rb") as fh:
        model = pickle.load(fh)  # noqa: S301 - only for locations the server config trusts
    expected = [str(n) for n in getattr(model, "feature_names_in_", [])] or None
    n = getattr(model, "n_features_in_", None)
    contract = {"framework": type(model).__module__.split(".")[0], "feature_names": expected,
                "n_features": int(n) if n is not None else None}
    what = f"the pickled {type(model).__name__}"
    x = _select(names, text_columns, expected, features, what) if expected else \
        _positional(contract["n_features"], names, text_columns, features, what)
    if task in ("binary", "multiclass") and hasattr(model, "predict_proba"):
        return np.asarray(model.predict_proba(x), dtype=np.float64), contract
    return np.asarray(model.predict(x), dtype=np.float64), contract


def _shape_for(task: str, preds):
    if task == "binary" and preds.ndim == 2 and preds.shape[1] == 2:
        return preds[:, 1]
    if task in ("binary", "regression") and preds.ndim == 2 and preds.shape[1] == 1:
        return preds[:, 0]
    return preds


def main(argv: list[str]) -> int:
    workdir = Path(argv[1])
    request = json.loads((workdir / "request.json").read_text())
    sandbox = request.get("sandbox", {})
    S = load_sandbox()
    layers = isolate(workdir, request.get("limits", {}))
    # The layers go to the bot on stdout now, before any model's code runs: what that code may
    # write later cannot change the first line the bot reads.
    sys.stdout.write(json.dumps({"sandbox": layers.to_dict()}) + "\n")
    sys.stdout.flush()
    missing = [p.key for p in S.missing(layers)]
    if sandbox.get("require_network_isolation") and S.NETWORK in missing:
        refused = {"problem": "isolation_unavailable", "error": S.summary(layers)}
        write_output(workdir / "result.json", json.dumps({"refused": refused, "sandbox": layers.to_dict()}).encode())
        return 0
    import numpy as np

    features = np.load(workdir / "features.npy", allow_pickle=False)
    names, text_columns, task = request["feature_names"], request.get("text_columns", []), request["task"]
    loaders = {"xgboost": _xgboost, "onnx": _onnx, "pickle": _pickle}
    results = []
    for i, model in enumerate(request["models"]):
        try:
            if model["kind"] == "pickle" and not model.get("allow_pickle"):
                raise ContractError("pickle_refused", "refusing to unpickle an untrusted artifact")
            if model["kind"] == "pickle" and missing and not sandbox.get("accept_weaker_isolation"):
                # a property of this host, not of the model: not cached against it
                raise ContractError("internal", S.refusal(layers))
            preds, contract = loaders[model["kind"]](model["path"], features, names, text_columns, task)
            preds = _shape_for(task, preds)
            contract["output_shape"] = [None, *preds.shape[1:]]
            buf = io.BytesIO()
            np.save(buf, np.ascontiguousarray(preds, dtype=np.float64), allow_pickle=False)
            write_output(workdir / f"pred_{i}.npy", buf.getvalue())
            results.append({"ok": True, "contract": contract})
        except ContractError as exc:
            results.append({"ok": False, "problem": exc.problem, "error": str(exc)})
        except ImportError as exc:
            package = {"xgboost": "xgboost", "onnx": "onnxruntime"}.get(model["kind"], exc.name or "?")
            results.append({"ok": False, "problem": "framework_missing",
                            "error": f"scoring {model['kind']} models locally needs the {package} package, which "
                                     "this modelbot installation does not have (install modelbot's `compare` "
                                     "extra), or use `validation.predictions.source: batch_transform` or `pipeline`"})
        except MemoryError:
            results.append({"ok": False, "problem": "scoring_memory", "error": "ran out of memory"})
        except SandboxViolation as exc:
            results.append({"ok": False, "problem": "sandbox_violation",
                            "error": f"loading or running the model was stopped: {exc}"})
        except Exception as exc:  # noqa: BLE001 - whatever the model does, report it
            results.append({"ok": False, "problem": "scoring_failed",
                            "error": f"{type(exc).__name__}: {str(exc)[:1500]}"})
    write_output(workdir / "result.json", json.dumps({"sandbox": layers.to_dict(), "models": results}).encode())
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main(sys.argv))
