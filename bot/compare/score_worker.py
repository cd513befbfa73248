"""The scoring subprocess: loads XGBoost / ONNX models and scores a feature matrix, under limits.

Run by `bot.compare.scoring` as a script (`python -I score_worker.py WORKDIR`), never imported by
the bot: it imports only numpy and the model's framework. It lowers its own resource limits
(address space, CPU seconds, file size, no core dumps) before it reads any model, so a hostile
or broken artifact hits a wall instead of the worker; the parent adds a wall-clock timeout and
gives it an environment without credentials.

WORKDIR holds `request.json` ({"limits", "task", "feature_names", "text_columns", "models":
[{"label", "kind", "path", "allow_pickle"}]}) and `features.npy` (float64, rows x features).
It writes `pred_<i>.npy` per model and `result.json`: per model {"ok": true, "contract": {...}}
or {"ok": false, "problem": code, "error": message}. Pickles are loaded only when the request
says `allow_pickle` (a location the server config trusts); nothing else is ever unpickled.
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
        except Exception as exc:  # noqa: BLE001 - whatever the model does, report it
            results.append({"ok": False, "problem": "scoring_failed",
                            "error": f"{type(exc).__name__}: {str(exc)[:1500]}"})
    (workdir / "result.json").write_text(json.dumps(results))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main(sys.argv))
