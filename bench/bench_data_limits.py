"""Benchmark: peak memory of loading validation sets, prediction files and archives, within and
over the limits (issue #11).

    .venv/bin/python bench/bench_data_limits.py [--keep]

Each case runs in a fresh child process: the input is written to a file first (by this
process), the child imports numpy, pyarrow and bot.adapters.sources, reads the file's bytes,
records its peak RSS (VmHWM of /proc/self/status: ru_maxrss would carry this process's peak
into the child), loads the input with the server config's default limits
(`compare.*`, bot.app.services.comparison.CompareConfig; local scoring's 100,000 rows for the "local"
cases) and records its peak RSS again. The baseline is a child that only imports (same
modules) and reads nothing, measured in the same run; ratios are peak / baseline.

Cases: (a) inputs at the limits: 100,000 rows x 20 columns (an id, a label, 18 features) as
csv, jsonl and parquet, and the largest table the decoded-size limit lets through (parquet,
1,000,000 rows x 28 float columns = 224 MB decoded; 30 columns write 271 MB of pages, over the
256 MiB limit, once pyarrow's abandoned dictionary pages are counted); (b) bombs: a 20,000,000-row parquet of one
repeated value, a parquet of one 64 KiB string repeated 20,000 times, a 10,000,000-row csv, a
csv with a 50 MB line, a gzip'd csv, and a tar.gz of 512 MB of zeros (read with a 256 MB
decompressed limit).

Goals: every bomb is refused and adds at most 32 MB to the child's peak RSS over what it held
before the load (its own file bytes); every input within the limits loads and adds at most
4 x its decoded table (8 bytes a number, 4 a character of fixed-width text) + 64 MB, and parquet
another 128 MB (pyarrow's reader and allocator: about 80 MB for a 17 MB file here). Exits 1 if a goal
is missed.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MiB = 1024 * 1024
BOMB_EXTRA_MB = 32

CHILD = r"""
import json, resource, sys
import numpy, pyarrow, pyarrow.compute, pyarrow.parquet
from dataclasses import replace
from bot.core.compare.data import ComparisonDataError
from bot.app.services.comparison import CompareConfig
from bot.adapters.sources import parse_table
from bot.adapters.github.reader import ReadError, RepoReader

spec = json.loads(sys.argv[1])


def rss():
    # Peak RSS of this process in MB: VmHWM, which exec resets (ru_maxrss keeps the parent's
    # peak across fork + exec), else ru_maxrss.
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if spec["kind"] == "baseline":
    print(json.dumps({"before": rss(), "after": rss(), "error": None, "rows": 0}))
    sys.exit(0)
data = open(spec["path"], "rb").read()
before = rss()
error, rows = None, 0
try:
    if spec["kind"] == "archive":
        RepoReader(None, "acme/models", max_decompressed_bytes=spec["max_decompressed"]).extract(
            data, {"models/a.yaml"}, where="the archive")
    else:
        limits = CompareConfig().table_limits(local=spec.get("local", False))
        table = parse_table(data, spec["fmt"], source=spec["name"], text_columns=spec.get("text", []), limits=limits)
        rows = len(next(iter(table.values())))
except (ComparisonDataError, ReadError) as exc:
    error = str(exc)
print(json.dumps({"before": before, "after": rss(), "error": error, "rows": rows}))
"""


def child(spec: dict) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(spec)], cwd=ROOT, capture_output=True, text=True,
                         timeout=600)
    if out.returncode:
        return {"before": 0, "after": 0, "error": f"child failed: {out.stderr.strip().splitlines()[-1:]}",
                "rows": 0, "crashed": True}
    return json.loads(out.stdout)


def typical(rows: int):
    import numpy as np

    rng = np.random.default_rng(7)
    cols = {"id": [f"r{i:07d}" for i in range(rows)], "label": (rng.random(rows) < 0.3).astype(np.int64)}
    for j in range(18):
        cols[f"f{j}"] = np.round(rng.normal(size=rows), 6)
    return cols


def as_csv(cols) -> bytes:
    names = list(cols)
    buf = io.StringIO()
    buf.write(",".join(names) + "\n")
    for row in zip(*(cols[n] for n in names)):
        buf.write(",".join(str(v) for v in row) + "\n")
    return buf.getvalue().encode()


def as_jsonl(cols) -> bytes:
    names = list(cols)
    return "".join(json.dumps({n: (v.item() if hasattr(v, "item") else v) for n, v in zip(names, row)}) + "\n"
                   for row in zip(*(cols[n] for n in names))).encode()


def as_parquet(table, **kwargs) -> bytes:
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd", **kwargs)
    return buf.getvalue()


def cases(tmp: Path):
    import numpy as np
    import pyarrow as pa

    t = typical(100_000)
    decoded_typical = 100_000 * (19 * 8 + 8 * 4)  # 19 numbers, an 8-character id (fixed width: 4 bytes a char)
    yield "csv 100k x 20 (local limits)", dict(fmt="csv", local=True, text=["id"]), as_csv(t), decoded_typical
    yield "jsonl 100k x 20 (local limits)", dict(fmt="jsonl", local=True, text=["id"]), as_jsonl(t), decoded_typical
    yield "parquet 100k x 20 (local limits)", dict(fmt="parquet", local=True, text=["id"]), \
        as_parquet(pa.table(t)), decoded_typical
    rng = np.random.default_rng(3)
    wide = pa.table({f"f{j}": rng.normal(size=1_000_000) for j in range(28)})
    yield "parquet 1M x 28 floats (near decoded limit)", dict(fmt="parquet"), as_parquet(wide), 1_000_000 * 28 * 8
    del wide
    schema = pa.schema([("label", pa.int64())])
    zeros = pa.record_batch([pa.array(np.zeros(2_000_000, dtype=np.int64))], schema=schema)
    buf = io.BytesIO()
    import pyarrow.parquet as pq

    with pq.ParquetWriter(buf, schema, compression="zstd") as w:
        for _ in range(10):
            w.write_batch(zeros)
    yield "bomb: parquet 20M rows of one value", dict(fmt="parquet", local=True), buf.getvalue(), None
    n = 20_000
    note = pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype=np.int32)), pa.array(["x" * 65536]))
    yield "bomb: parquet 64 KiB string x 20k", dict(fmt="parquet"), \
        as_parquet(pa.table({"label": np.arange(n) % 2, "note": note})), None
    yield "bomb: csv 10M rows", dict(fmt="csv"), b"label\n" + b"1\n" * 10_000_000, None
    yield "bomb: csv with a 50 MB line", dict(fmt="csv"), b"label,x\n1," + b"7" * (50 * MiB) + b"\n", None
    yield "bomb: gzip csv (100 MB inflated)", dict(fmt="csv"), \
        gzip.compress(b"label,x\n" + b"1,0\n" * (25 * MiB), compresslevel=1), None
    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w:gz", compresslevel=1) as archive:
        info = tarfile.TarInfo("repo-abc/big.bin")
        info.size = 512 * MiB

        class Zeros(io.RawIOBase):
            left = info.size

            def readable(self):
                return True

            def readinto(self, b):
                k = min(len(b), self.left)
                b[:k] = bytes(k)
                self.left -= k
                return k

        archive.addfile(info, io.BufferedReader(Zeros(), 1 << 20))
    yield "bomb: tar.gz of 512 MB zeros", dict(kind="archive", max_decompressed=256 * MiB), tar.getvalue(), None


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keep", action="store_true", help="keep the input files (printed)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-data-limits-"))
    base = child({"kind": "baseline"})
    print(f"baseline (imports numpy, pyarrow, bot.adapters.sources; reads nothing): peak RSS {base['after']:.0f} MB")
    print(f"{'case':42} {'file MB':>8} {'peak MB':>8} {'x base':>7} {'+load MB':>9} {'goal MB':>8}  result")
    ok = True
    for i, (name, spec, data, decoded) in enumerate(cases(tmp)):
        path = tmp / f"case{i}"
        path.write_bytes(data)
        seen = child({"kind": "table", "path": str(path), "name": f"data/case{i}", **spec})
        extra = seen["after"] - seen["before"]
        if decoded is None:
            goal = BOMB_EXTRA_MB
            passed = seen["error"] is not None and not seen.get("crashed") and extra <= goal
            result = (seen["error"] or "LOADED")[:110]
        else:
            goal = 4 * decoded / MiB + 64 + (128 if spec["fmt"] == "parquet" else 0)
            passed = seen["error"] is None and extra <= goal
            result = f"loaded {seen['rows']:,} rows" if seen["error"] is None else seen["error"][:110]
        ok &= passed
        print(f"{name:42} {len(data) / MiB:8.1f} {seen['after']:8.0f} {seen['after'] / base['after']:7.2f} "
              f"{extra:9.0f} {goal:8.0f}  {'PASS' if passed else 'FAIL'} {result}")
        if not args.keep:
            path.unlink()
    if not args.keep:
        tmp.rmdir()
    else:
        print(f"inputs kept in {tmp}")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
