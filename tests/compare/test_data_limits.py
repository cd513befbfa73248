"""Tables and archives are held to their limits before they are materialised (issue #11).

Each bomb is made at test time (a few hundred KB that decode to gigabytes) and must be refused
with a message naming the file, the limit and where it is set, while the memory it takes stays
small: Python allocations through tracemalloc, pyarrow's through its pool, or the peak RSS
(VmHWM, Linux) of a subprocess against the same subprocess's before the load.
"""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
import tarfile
import textwrap
import tracemalloc
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from bot.adapters.aws import batch  # noqa: E402
from bot.core.compare.data import ComparisonDataError, TableLimits, load_table  # noqa: E402
from bot.app.services.comparison import CompareConfig  # noqa: E402
from bot.adapters.sources import LocalFetcher, load_validation_set, parse_table  # noqa: E402
from bot.adapters.github.reader import ReadError, RepoReader  # noqa: E402

MiB = 1024 * 1024
ROOT = Path(__file__).resolve().parents[2]


def parquet_bytes(batches, schema, **kwargs) -> bytes:
    buf = io.BytesIO()
    with pq.ParquetWriter(buf, schema, compression="zstd", **kwargs) as writer:
        for b in batches:
            writer.write_batch(b)
    return buf.getvalue()


def row_bomb(n_rows=20_000_000, chunk=2_000_000) -> bytes:
    """n_rows of one repeated label, dictionary-encoded: a few hundred KB."""
    schema = pa.schema([("label", pa.int64())])
    zeros = pa.record_batch([pa.array(np.zeros(chunk, dtype=np.int64))], schema=schema)
    return parquet_bytes([zeros] * (n_rows // chunk), schema)


def peak_rss_of_load(tmp_path, data: bytes, fmt: str, limits: str) -> dict:
    """Load `data` in a fresh interpreter; its peak RSS before and after the load (KiB)."""
    path = tmp_path / f"input.{fmt}"
    path.write_bytes(data)
    script = textwrap.dedent(f"""
        import json, sys
        import numpy, pyarrow, pyarrow.compute, pyarrow.parquet
        from bot.core.compare.data import ComparisonDataError, TableLimits
        from bot.adapters.sources import parse_table
        def peak():  # VmHWM: exec resets it; ru_maxrss keeps the parent's (pytest's) peak
            for line in open("/proc/self/status"):
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        data = open({str(path)!r}, "rb").read()
        before = peak()
        try:
            parse_table(data, {fmt!r}, source="data/val.{fmt}", limits={limits})
            error = None
        except ComparisonDataError as exc:
            error = [exc.problem, str(exc)]
        after = peak()
        print(json.dumps({{"before": before, "after": after, "error": error}}))
    """)
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def python_peak(fn) -> tuple[object, int]:
    """(what fn returned or raised, peak bytes of Python allocations while it ran)."""
    tracemalloc.start()
    try:
        try:
            result = fn()
        except (ComparisonDataError, ReadError) as exc:
            result = exc
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# --- where the limits are set -----------------------------------------------------------------------


def test_the_server_config_sets_the_limits_and_the_messages_name_the_keys():
    config = CompareConfig(max_rows=500, max_columns=7, max_decompressed_mb=3, local_max_rows=50)
    limits = config.table_limits()
    assert (limits.max_rows, limits.max_columns, limits.max_decompressed_bytes) == (500, 7, 3 * MiB)
    assert limits.place("max_rows") == "compare.max_rows in the server config"
    local = config.table_limits(local=True)
    assert local.max_rows == 50 and local.count_rows_to == 500
    assert local.place("max_rows") == "compare.local_max_rows in the server config"
    assert TableLimits().place("max_columns") == "the default of bot.core.compare.limits.TableLimits.max_columns"


# --- Parquet ---------------------------------------------------------------------------------------


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="peak RSS read from /proc (Linux)")
def test_a_parquet_row_bomb_is_refused_from_its_footer_in_little_memory(tmp_path):
    data = row_bomb()
    assert len(data) < 1 * MiB  # 20,000,000 rows
    limits = "TableLimits(max_rows=100_000, where={'max_rows': 'compare.max_rows in the server config'})"
    seen = peak_rss_of_load(tmp_path, data, "parquet", limits)
    assert seen["error"] == ["too_large", "data/val.parquet: 20,000,000 rows, more than the 100,000 rows modelbot "
                             "reads (compare.max_rows in the server config; from the Parquet footer, before "
                             "reading any data)"]
    assert seen["after"] - seen["before"] < 20 * 1024  # KiB: nothing was decoded (a full read takes 160 MB+)


def test_the_local_row_limit_says_where_it_is_set_and_how_to_score_more(tmp_path):
    table = pa.table({"label": np.arange(300) % 2, "x": np.arange(300) / 7})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    limits = CompareConfig(local_max_rows=100).table_limits(local=True)
    with pytest.raises(ComparisonDataError) as err:
        parse_table(buf.getvalue(), "parquet", source="data/val.parquet", limits=limits)
    assert err.value.problem == "too_large_for_local"
    assert str(err.value) == ("data/val.parquet: 300 rows, more than the 100 rows modelbot scores locally "
                              "(compare.local_max_rows in the server config; from the Parquet footer, before reading "
                              "any data); use `validation.predictions.source: batch_transform` to score a set this "
                              "large with SageMaker batch transform")


def test_repeated_long_text_is_counted_from_the_dictionary_before_it_is_expanded():
    # 20,000 rows of one 64 KiB string: 1.3 GB once decoded, a few KB of file whose footer and
    # page headers are all small (the dictionary page holds the string once).
    n = 20_000
    schema = pa.schema([("label", pa.int64()), ("note", pa.dictionary(pa.int32(), pa.string()))])
    note = pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype=np.int32)), pa.array(["x" * 65536]))
    batch_ = pa.record_batch([pa.array(np.arange(n) % 2), note], schema=schema)
    data = parquet_bytes([batch_], schema)
    assert len(data) < 200 * 1024
    limits = TableLimits(max_decompressed_bytes=64 * MiB)
    pa_before = pa.total_allocated_bytes()
    result, peak = python_peak(lambda: parse_table(data, "parquet", source="data/val.parquet", limits=limits))
    assert isinstance(result, ComparisonDataError) and result.problem == "too_large", result
    assert str(result).startswith("data/val.parquet: about ")
    assert "bytes once decompressed and decoded into columns, more than the 67,108,864 bytes modelbot holds for " \
           "a table (the default of bot.core.compare.limits.TableLimits.max_decompressed_bytes; counted while reading)" \
           in str(result)
    assert peak < 16 * MiB and pa.total_allocated_bytes() - pa_before < 16 * MiB


def _overlong(value: int, length: int) -> bytes:
    """`value` as a zigzag varint padded to `length` bytes (Thrift readers accept the padding)."""
    z = value << 1
    out = bytearray()
    for i in range(length):
        byte = z & 0x7F
        z >>= 7
        out.append(byte | (0x80 if i < length - 1 else 0))
    return bytes(out)


def _varint(value: int) -> bytes:
    z, out = value << 1, bytearray()
    while True:
        if z < 0x80:
            return bytes(out + bytes([z]))
        out.append((z & 0x7F) | 0x80)
        z >>= 7


def test_a_footer_that_lies_is_caught_by_the_page_headers():
    n = 300_000  # 2.4 MB of int64 in one plain page, a few KB compressed
    table = pa.table({"label": pa.array(np.zeros(n, dtype=np.int64))})
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd", use_dictionary=False, data_page_size=64 * MiB)
    data = bytearray(buf.getvalue())
    meta = pq.ParquetFile(io.BytesIO(bytes(data))).metadata
    col = meta.row_group(0).column(0)
    footer_len = int.from_bytes(data[-8:-4], "little")
    start = len(data) - 8 - footer_len
    footer = bytes(data[start:-8])
    # The footer now says 1 row, 1 value, 100 bytes: every check on it passes.
    for true in {n, col.total_uncompressed_size, meta.row_group(0).total_byte_size}:
        enc = _varint(true)
        assert enc in footer
        footer = footer.replace(b"\x16" + enc, b"\x16" + _overlong(1 if true == n else 100, len(enc)))
    data[start:-8] = footer
    lied = pq.ParquetFile(io.BytesIO(bytes(data))).metadata
    assert lied.num_rows == 1 and lied.row_group(0).column(0).total_uncompressed_size == 100
    limits = TableLimits(max_decompressed_bytes=1 * MiB)
    with pytest.raises(ComparisonDataError, match=r"data/val.parquet: about 2,40\d,\d{3} bytes once decompressed .*"
                                                  r"from the Parquet page headers, before reading any data"):
        parse_table(bytes(data), "parquet", source="data/val.parquet", limits=limits)


def test_a_parquet_file_within_the_limits_loads_as_before():
    schema = pa.schema([("id", pa.string()), ("label", pa.int64()), ("p", pa.float64()), ("name", pa.string()),
                        ("flag", pa.bool_()), ("n", pa.int32())])
    table = pa.table({"id": ["007", "008", "009"], "label": [1, 0, 1], "p": [0.25, None, 0.5],
                      "name": ["a", None, "a"], "flag": [True, False, True], "n": [1, None, 3]}, schema=schema)
    buf = io.BytesIO()
    pq.write_table(table, buf)
    out = parse_table(buf.getvalue(), "parquet", source="v.parquet", text_columns=["id"])
    assert out["id"].tolist() == ["007", "008", "009"] and out["id"].dtype.kind == "U"
    assert out["label"].dtype == np.int64 and out["label"].tolist() == [1, 0, 1]
    assert out["p"][0] == 0.25 and np.isnan(out["p"][1])
    assert out["name"].tolist() == ["a", "", "a"]
    assert out["flag"].dtype == bool and out["n"][2] == 3.0 and np.isnan(out["n"][1])


def test_too_many_parquet_columns_are_refused_from_the_footer():
    table = pa.table({f"c{i}": [0] for i in range(30)})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    with pytest.raises(ComparisonDataError, match=r"v.parquet: 30 columns, more than the 20 columns modelbot reads "
                                                  r"\(compare.max_columns in the server config; from the Parquet footer"):
        parse_table(buf.getvalue(), "parquet", source="v.parquet",
                    limits=CompareConfig(max_columns=20).table_limits())


# --- csv and jsonl ---------------------------------------------------------------------------------


def test_csv_rows_are_counted_without_being_kept_and_refused_at_the_limit():
    data = b"label\n" + b"1\n" * 5_000_000  # 10 MB
    limits = CompareConfig(max_rows=1000).table_limits()
    result, peak = python_peak(lambda: load_table(data, "csv", limits=limits, source="data/val.csv"))
    assert isinstance(result, ComparisonDataError) and result.problem == "too_large"
    assert str(result) == ("data/val.csv: over 1,000 rows, more than the 1,000 rows modelbot reads (compare.max_rows "
                           "in the server config; counted while reading, before loading it)")
    assert peak < 1 * MiB


def test_a_csv_with_a_50_mb_line_is_refused_when_the_line_limit_is_reached():
    data = b"label,x\n1," + b"7" * (50 * MiB) + b"\n"
    result, peak = python_peak(lambda: load_table(data, "csv", source="data/val.csv"))
    assert isinstance(result, ComparisonDataError) and result.problem == "bad_file"
    assert str(result) == ("data/val.csv: line 2 is longer, more than the 1,048,576 characters modelbot reads in one "
                           "line (bot.core.compare.limits.MAX_LINE_CHARS; read that far)")
    assert peak < 8 * MiB


def test_a_gzip_csv_bomb_is_refused_while_it_is_inflated():
    bomb = gzip.compress(b"label,x\n" + b"1,0\n" * (25 * MiB), compresslevel=1)  # 100 MB of csv
    assert len(bomb) < 1 * MiB
    result, peak = python_peak(lambda: load_table(bomb, "csv", source="data/val.csv"))
    assert isinstance(result, ComparisonDataError) and result.problem == "too_large"
    assert str(result) == ("data/val.csv: over 1,000,000 rows, more than the 1,000,000 rows modelbot reads (the "
                           "default of bot.core.compare.limits.TableLimits.max_rows; counted while reading, before loading it)")
    assert peak < 1 * MiB  # streamed: 4 MB of it inflated a chunk at a time (tests/compare/test_gzip_sources.py)


def test_csv_columns_and_decoded_text_are_refused_before_loading():
    header = ",".join(f"c{i}" for i in range(1500)).encode()
    with pytest.raises(ComparisonDataError, match=r"data/val.csv: 1,500 columns, more than the 1,000 columns "
                                                  r"modelbot reads \(compare.max_columns in the server config; the "
                                                  r"header line\)"):
        load_table(header + b"\n", "csv", source="data/val.csv", limits=CompareConfig().table_limits())
    wide = b"label,note\n" + b"".join(b"1,%s\n" % (b"y" * 20_000) for _ in range(200))  # 4 MB of text
    limits = TableLimits(max_decompressed_bytes=1 * MiB)
    result, peak = python_peak(lambda: load_table(wide, "csv", source="data/val.csv", limits=limits))
    assert isinstance(result, ComparisonDataError) and "once decompressed and decoded into columns" in str(result)
    assert "counted while reading, before loading it" in str(result)
    assert peak < 1 * MiB


def test_a_csv_at_the_limits_loads_the_same_values():
    rows = 2000
    data = "id,label,p,name\n" + "".join(f"{i:04d},{i % 2},{i / 8 if i % 3 else ''},n{i % 5}\n" for i in range(rows))
    out = load_table(data.encode(), "csv", text_columns=["id"], limits=TableLimits(max_rows=rows, max_columns=4))
    assert out["id"][:2].tolist() == ["0000", "0001"] and out["label"].dtype == np.int64
    assert out["p"].dtype == np.float64 and np.isnan(out["p"][0]) and out["p"][1] == 1 / 8
    assert out["name"][:3].tolist() == ["n0", "n1", "n2"] and len(out["label"]) == rows


def test_jsonl_rows_and_keys_are_held_to_the_limits():
    many = b"".join(b'{"label": 1}\n' for _ in range(3000))
    with pytest.raises(ComparisonDataError, match=r"p.jsonl: over 2,000 rows, more than the 2,000 rows modelbot reads"):
        load_table(many, "jsonl", source="p.jsonl", limits=TableLimits(max_rows=2000))
    keys = json.dumps({f"k{i}": i for i in range(50)}).encode() + b"\n"
    with pytest.raises(ComparisonDataError, match=r"p.jsonl: 11 columns, more than the 10 columns modelbot reads"):
        load_table(keys, "jsonl", source="p.jsonl", limits=TableLimits(max_columns=10))
    ok = load_table(b'{"id": 1, "proba": [0.2, 0.8]}\n{"id": 2, "proba": [0.6, 0.4], "x": true}\n', "jsonl")
    assert ok["proba"].shape == (2, 2) and ok["id"].dtype == np.int64 and ok["x"].tolist() == [None, True]


def test_the_validation_set_names_itself_and_the_bytes_limit(tmp_path):
    (tmp_path / "val.csv").write_bytes(b"label\n" + b"1\n" * 100)
    ds = SimpleNamespace(uri=None, path="val.csv", version=None, digest=None, format="csv", label_column="label",
                         id_column=None)
    config = CompareConfig(max_rows=10)
    with pytest.raises(ComparisonDataError, match=r"^validation set val.csv: over 10 rows, more than the 10 rows modelbot reads "
                                                  r"\(compare.max_rows in the server config"):
        load_validation_set(ds, LocalFetcher(tmp_path), limits=config.table_limits())
    with pytest.raises(ComparisonDataError, match=r"val.csv: 206 bytes, more than the 50 bytes modelbot reads; the "
                                                  r"limit is compare.max_dataset_mb in the server config"):
        load_validation_set(ds, LocalFetcher(tmp_path), max_bytes=50, limits=config.table_limits())


def test_batch_output_with_more_answers_than_input_rows_is_refused_as_it_is_read():
    body = b"".join(b"%d,1.0,0.5\n" % i for i in range(100_000))
    with pytest.raises(ComparisonDataError, match=r"out: more answers than the 10 rows of the transform input at "
                                                  r"line 11"):
        batch.parse_joined_output(body, n_input_fields=2, source="out", max_rows=10)


# --- repository archives ------------------------------------------------------------------------------


class _Zeros(io.RawIOBase):
    def __init__(self, n):
        self.left = n

    def readable(self):
        return True

    def readinto(self, b):
        k = min(len(b), self.left)
        b[:k] = bytes(k)
        self.left -= k
        return k


def _tar_gz(members) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as tar:
        for name, size in members:
            info = tarfile.TarInfo(name)
            info.size = size
            tar.addfile(info, io.BufferedReader(_Zeros(size)))
    return buf.getvalue()


def test_a_repository_archive_bomb_is_refused_while_it_is_decompressed():
    bomb = _tar_gz([("repo-abc/big.bin", 64 * MiB), ("repo-abc/models/a.yaml", 10)])
    reader = RepoReader(None, "acme/models", max_decompressed_bytes=8 * MiB)
    result, peak = python_peak(lambda: reader.extract(bomb, {"models/a.yaml"}, where="the archive of acme/models"))
    assert isinstance(result, ReadError)
    assert str(result) == ("the archive of acme/models decompresses to more than 8,388,608 bytes "
                           "(bot.adapters.github.reader.MAX_ARCHIVE_DECOMPRESSED_BYTES)")
    assert peak < 4 * MiB


def test_archive_entries_are_counted_and_wanted_files_kept_bounded():
    many = _tar_gz([(f"repo-abc/f{i}", 0) for i in range(50)])
    with pytest.raises(ReadError, match=r"has more than 20 entries \(bot.adapters.github.reader.MAX_ARCHIVE_MEMBERS\)"):
        RepoReader(None, "acme/models", max_members=20).extract(many, set(), where="the archive")
    ok = _tar_gz([("repo-abc/models/a.yaml", 10), ("repo-abc/big", 3 * MiB)])
    found = RepoReader(None, "acme/models").extract(ok, {"models/a.yaml", "big"}, where="the archive")
    assert found["models/a.yaml"] == bytes(10) and len(found["big"]) == 1024 * 1024 + 1
    with pytest.raises(ReadError, match="the archive is not a readable .tar.gz"):
        RepoReader(None, "acme/models").extract(b"\x1f\x8b not gzip", set(), where="the archive")
