"""The scoring subprocess: loads XGBoost / ONNX models and scores a feature matrix, under limits.

Run by `bot.compare.scoring` as a script (`python -I score_worker.py WORKDIR`), never imported by
the bot: it imports only numpy, the model's framework and ctypes (for unshare). It lowers its
own resource limits (address space, CPU seconds, file size, no core dumps) before it reads any
model, so a hostile or broken artifact hits a wall instead of the worker; the parent adds a
wall-clock timeout and gives it an environment without credentials.

Before that, still single-threaded and before it reads a model, it isolates itself (`isolate`):

1. Kernel: it moves into a new, empty network namespace (`unshare(2)` through ctypes; Python
   3.11 has no `os.unshare`): no interfaces but a loopback that is down, so any connection,
   from Python or from a framework's native code, fails with ENETUNREACH. It tries a user and
   network namespace first (`CLONE_NEWUSER | CLONE_NEWNET`: works unprivileged where user
   namespaces are enabled, and as root it also gives up root's capabilities in the host's
   namespaces, so native code cannot `setns(2)` back into the host's network), then a network
   namespace alone (root or CAP_SYS_ADMIN). When the kernel refuses both (EPERM: containers
   without the capability, user namespaces disabled), it goes on without, unless the request
   requires it (the server config's `compare.require_network_isolation`): then it loads
   nothing and reports why.
2. Always: a Python audit hook (`sys.addaudithook`, which cannot be removed) that raises
   `SandboxViolation` on the documented events that open sockets, resolve names or start
   programs (`socket.__new__`, `socket.connect`, `socket.getaddrinfo`, `subprocess.Popen`,
   `os.system`, `os.exec`, `os.posix_spawn`, `os.fork`, ...: `BLOCKED_EVENTS`), so a model
   loader cannot reach the network or run a program through Python.

The level in effect ("user+network namespace", "network namespace" or "audit hook only") is
returned with the results.

WORKDIR holds `request.json` ({"limits", "sandbox": {"require_network_isolation"}, "task",
"feature_names", "text_columns", "models": [{"label", "kind", "path", "allow_pickle"}]}) and
`features.npy` (float64, rows x features). It writes `pred_<i>.npy` per model and `result.json`:
{"isolation": level, "models": [per model {"ok": true, "contract": {...}} or {"ok": false,
"problem": code, "error": message}]}, or {"refused": {"problem", "error"}} when the required
isolation is unavailable. Pickles are loaded only when the request says `allow_pickle` (a
location the server config trusts); nothing else is ever unpickled.
"""

from __future__ import annotations

import json
import os
import resource
import sys
from pathlib import Path


class ContractError(Exception):
    def __init__(self, problem: str, message: str):
        super().__init__(message)
        self.problem = problem


# --- isolation ---------------------------------------------------------------------------------------

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
USER_NETWORK_NAMESPACE = "user+network namespace"
NETWORK_NAMESPACE = "network namespace"
AUDIT_HOOK_ONLY = "audit hook only"

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


class IsolationUnavailable(Exception):
    """Kernel network isolation was required and the kernel refused it."""


def _unshare(flags: int) -> None:
    """unshare(2) through libc (Python 3.11 has no os.unshare); OSError with the errno on failure."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(ctypes.c_int(flags)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def enter_network_namespace() -> tuple[str | None, str]:
    """(level, "") after moving this process into a new, empty network namespace, else (None, why).

    A user+network namespace first: unprivileged where user namespaces are allowed, and as root
    it drops root's capabilities in the host's namespaces (a network namespace alone would let
    root's native code setns(2) back into the host's network). Must run while the process has
    one thread (CLONE_NEWUSER requires it): before numpy or a framework is imported.
    """
    if not sys.platform.startswith("linux"):
        return None, f"network namespaces are Linux-only (this is {sys.platform})"
    why = []
    for flags, level in ((CLONE_NEWUSER | CLONE_NEWNET, USER_NETWORK_NAMESPACE), (CLONE_NEWNET, NETWORK_NAMESPACE)):
        try:
            _unshare(flags)
        except (OSError, AttributeError) as exc:  # AttributeError: a libc without unshare
            why.append(f"{level}: {getattr(exc, 'strerror', None) or exc}")
            continue
        return level, ""
    return None, "; ".join(why)


def _audit(event: str, args) -> None:
    what = BLOCKED_EVENTS.get(event)
    if what is not None:
        raise SandboxViolation(f"the scoring sandbox does not allow {what} ({event})")


def install_audit_hook() -> None:
    """Block BLOCKED_EVENTS in this process from now on (an audit hook cannot be removed)."""
    sys.addaudithook(_audit)


def isolate(*, require_network: bool = False) -> str:
    """Network namespace (if the kernel allows) and audit hook; the level in effect.

    IsolationUnavailable, before the audit hook and before anything is loaded, when
    `require_network` and no namespace could be created.
    """
    level, why = enter_network_namespace()
    if level is None and require_network:
        raise IsolationUnavailable(why)
    install_audit_hook()
    return level or AUDIT_HOOK_ONLY


def _limit(limits: dict) -> None:
    mem = int(limits.get("memory_mb", 2048)) * 1024 * 1024
    cpu = int(limits.get("cpu_seconds", 300))
    fsize = int(limits.get("max_output_mb", 512)) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


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
    try:
        isolation = isolate(require_network=bool(sandbox.get("require_network_isolation")))
    except IsolationUnavailable as exc:
        refused = {"problem": "isolation_unavailable", "error": str(exc)}
        (workdir / "result.json").write_text(json.dumps({"refused": refused}))
        return 0
    _limit(request.get("limits", {}))
    import numpy as np

    features = np.load(workdir / "features.npy", allow_pickle=False)
    names, text_columns, task = request["feature_names"], request.get("text_columns", []), request["task"]
    loaders = {"xgboost": _xgboost, "onnx": _onnx, "pickle": _pickle}
    results = []
    for i, model in enumerate(request["models"]):
        try:
            if model["kind"] == "pickle" and not model.get("allow_pickle"):
                raise ContractError("pickle_refused", "refusing to unpickle an untrusted artifact")
            preds, contract = loaders[model["kind"]](model["path"], features, names, text_columns, task)
            preds = _shape_for(task, preds)
            contract["output_shape"] = [None, *preds.shape[1:]]
            np.save(workdir / f"pred_{i}.npy", np.ascontiguousarray(preds, dtype=np.float64), allow_pickle=False)
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
    (workdir / "result.json").write_text(json.dumps({"isolation": isolation, "models": results}))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main(sys.argv))
