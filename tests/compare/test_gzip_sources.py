"""Gzip-compressed validation sets and prediction files (issue #11, bounded data).

A csv or jsonl file compressed with gzip (found by its magic bytes, whatever it is called:
`val.csv.gz` with `format: csv`, or a `.csv` that holds gzip) is inflated as a stream a chunk
at a time, never held whole, and refused once more than `compare.max_decompressed_mb` came out,
or at the row, column or line limit while streaming, with the file, the limit and the key that
sets it. The bombs are made at test time: a few hundred KB or less that inflate to a gigabyte.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import json
import lzma
import tracemalloc
import zipfile
import zlib
from types import SimpleNamespace

import numpy as np
import pytest

from bot.core.compare.data import ComparisonDataError, TableLimits, load_table
from bot.app.services.comparison import CompareConfig
from bot.adapters.sources import LocalFetcher, load_prediction_file, load_validation_set, parse_table, \
    prediction_format

MiB = 1024 * 1024


def gz_stream(block: bytes, total: int, head: bytes = b"") -> bytes:
    """gzip of `head` then `block` repeated up to `total` bytes: gzip members back to back (as
    `cat a.gz b.gz` makes), one member of 16 MiB of blocks compressed once and repeated, so the
    inflated text never exists in this process either."""
    per = max(1, 16 * MiB // len(block))
    member = zlib.compressobj(9, zlib.DEFLATED, 31)
    member = member.compress(block * per) + member.flush()
    return (gzip.compress(head) if head else b"") + member * max(1, total // (per * len(block)))


def peak_of(fn):
    """(what fn returned or raised, peak bytes of Python allocations while it ran)."""
    tracemalloc.start()
    try:
        try:
            result = fn()
        except ComparisonDataError as exc:
            result = exc
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def dataset(path: str, fmt: str = "csv", **kw):
    return SimpleNamespace(uri=None, path=path, version=None, digest=kw.get("digest"), format=fmt,
                           label_column="label", id_column=kw.get("id_column"))


CSV = "id,label,x,name\n" + "".join(f"{i:04d},{i % 2},{i / 8},n{i % 3}\n" for i in range(500))


# --- what loads -------------------------------------------------------------------------------------------


def test_a_gzip_validation_set_loads_the_same_values_as_the_plain_file(tmp_path):
    (tmp_path / "val.csv").write_text(CSV)
    packed = gzip.compress(CSV.encode())
    (tmp_path / "val.csv.gz").write_bytes(packed)
    fetcher = LocalFetcher(tmp_path)
    plain = load_validation_set(dataset("val.csv", id_column="id"), fetcher)
    inflated = load_validation_set(dataset("val.csv.gz", id_column="id", digest="sha256:"
                                           + hashlib.sha256(packed).hexdigest()), fetcher)
    assert inflated.n_rows == plain.n_rows == 500
    assert list(inflated.table) == list(plain.table)
    for name in plain.table:
        assert inflated.table[name].tolist() == plain.table[name].tolist(), name
    assert inflated.ids[:2].tolist() == ["0000", "0001"] and inflated.labels.dtype == np.int64
    assert inflated.n_bytes == len(packed) < len(CSV)  # the file's bytes: what max_dataset_mb bounds
    assert inflated.digest == "sha256:" + hashlib.sha256(packed).hexdigest()  # the pin is of the file as stored


def test_gzip_is_found_by_its_content_and_every_member_is_read():
    # `format: csv` on a file without a .gz name, and two gzip members back to back (cat a.gz b.gz)
    two = gzip.compress(b"label,x\n1,2\n") + gzip.compress(b"0,3\n1,4\n")
    out = parse_table(two, "csv", source="data/val.csv")
    assert out["label"].tolist() == [1, 0, 1] and out["x"].tolist() == [2, 3, 4]


def test_a_gzip_jsonl_prediction_file_is_read_by_its_inner_extension(tmp_path):
    assert prediction_format("out/preds.jsonl.gz") == "jsonl"
    assert prediction_format("out/preds.csv.gz") == "csv"
    assert prediction_format("s3://b/out/preds.parquet") == "parquet"
    rows = "".join(json.dumps({"id": f"{i:03d}", "prediction": i / 10, "baseline_prediction": 0.5}) + "\n"
                   for i in range(10))
    (tmp_path / "preds.jsonl.gz").write_bytes(gzip.compress(rows.encode()))
    got = load_prediction_file("preds.jsonl.gz", "prediction", "id", LocalFetcher(tmp_path))
    assert got.n_rows == 10 and got.ids[:2].tolist() == ["000", "001"]
    assert got.candidate.tolist() == [i / 10 for i in range(10)] and got.baseline.tolist() == [0.5] * 10


# --- what is refused, while streaming -------------------------------------------------------------------


def test_a_gzip_bomb_under_the_row_limit_stops_at_the_decompressed_limit_in_little_memory(tmp_path):
    line = b"1," + b"7" * 1000 + b"\n"  # wide rows: 1 GiB is ~1,070,000 rows, the limit is 2,000,000
    bomb = gz_stream(line * 64, 1024 * MiB, head=b"label,x\n")
    assert len(bomb) < 3 * MiB  # 1 GiB once inflated
    (tmp_path / "val.csv.gz").write_bytes(bomb)
    config = CompareConfig(max_decompressed_mb=4, max_rows=2_000_000)
    result, peak = peak_of(lambda: load_validation_set(dataset("val.csv.gz"), LocalFetcher(tmp_path),
                                                       limits=config.table_limits()))
    assert isinstance(result, ComparisonDataError) and result.problem == "too_large"
    assert str(result) == ("validation set val.csv.gz: gzip-compressed and larger once inflated, more than the "
                           "4,194,304 bytes modelbot inflates for a table (compare.max_decompressed_mb in the server "
                           "config; counted while inflating it, stopped there)")
    assert peak < 1 * MiB + len(bomb)  # the file, and a chunk at a time: never the 1 GiB, nor the 4 MiB


def test_the_decompressed_limit_default_is_named_when_no_config_sets_it():
    bomb = gz_stream(b"1,2\n" * 1024, 64 * MiB, head=b"label,x\n")
    limits = TableLimits(max_decompressed_bytes=1 * MiB, max_rows=100_000_000)
    with pytest.raises(ComparisonDataError, match=r"^data/val.csv: gzip-compressed and larger once inflated, more "
                                                  r"than the 1,048,576 bytes modelbot inflates for a table \(the "
                                                  r"default of bot.core.compare.limits.TableLimits.max_decompressed_bytes"):
        load_table(bomb, "csv", source="data/val.csv", limits=limits)


def test_a_gzip_row_bomb_is_refused_at_the_row_limit_while_streaming():
    bomb = gz_stream(b'{"label": 1}\n' * 1024, 512 * MiB)  # ~41 million records
    assert len(bomb) < 1 * MiB
    limits = CompareConfig(max_rows=1000).table_limits()
    result, peak = peak_of(lambda: load_table(bomb, "jsonl", source="preds.jsonl.gz", limits=limits))
    assert isinstance(result, ComparisonDataError)
    assert str(result) == ("preds.jsonl.gz: over 1,000 rows, more than the 1,000 rows modelbot reads "
                           "(compare.max_rows in the server config; counted while reading, before loading it)")
    assert peak < 1 * MiB


def test_gzip_columns_and_lines_are_held_to_their_limits():
    header = ",".join(f"c{i}" for i in range(1500)).encode() + b"\n1" + b",1" * 1499 + b"\n"
    with pytest.raises(ComparisonDataError, match=r"^data/val.csv.gz: 1,500 columns, more than the 1,000 columns "
                                                  r"modelbot reads \(compare.max_columns in the server config"):
        load_table(gzip.compress(header), "csv", source="data/val.csv.gz", limits=CompareConfig().table_limits())
    long_line = gz_stream(b"7" * MiB, 64 * MiB, head=b"label,x\n1,")  # one 64 MiB line
    result, peak = peak_of(lambda: load_table(long_line, "csv", source="data/val.csv.gz"))
    assert isinstance(result, ComparisonDataError) and result.problem == "bad_file"
    assert str(result).startswith("data/val.csv.gz: line 2 is longer, more than the 1,048,576 characters")
    assert peak < 8 * MiB


def test_a_broken_gzip_file_is_refused_with_its_name():
    whole = gzip.compress(CSV.encode())
    for broken in (whole[:len(whole) // 2], whole[:10] + b"\x00" * 40 + whole[50:]):
        with pytest.raises(ComparisonDataError, match=r"^data/val.csv.gz: not a readable gzip file \(") as err:
            load_table(broken, "csv", source="data/val.csv.gz")
        assert err.value.problem == "bad_file"


def test_other_compressions_are_refused_by_name():
    text = CSV.encode()
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as z:
        z.writestr("val.csv", text)
    for data, name in ((bz2.compress(text), "bzip2"), (lzma.compress(text), "xz"), (zipped.getvalue(), "zip")):
        with pytest.raises(ComparisonDataError, match=rf"^data/val.csv.{name}: compressed with {name}, which "
                                                      r"modelbot does not read; give the csv file itself, or "
                                                      r"compressed with gzip$"):
            load_table(data, "csv", source=f"data/val.csv.{name}")
    # a csv whose first column happens to start with the letters of bzip2's magic is still a csv
    assert load_table(b"BZh,label\n1,0\n", "csv")["BZh"].tolist() == [1]


def test_a_gzip_compressed_parquet_file_is_refused_with_why():
    with pytest.raises(ComparisonDataError, match=r"^data/val.parquet.gz: a parquet file compressed as a whole "
                                                  r"\(gzip\), which modelbot does not read; parquet compresses its "
                                                  r"own pages") as err:
        parse_table(gzip.compress(b"PAR1....PAR1"), "parquet", source="data/val.parquet.gz")
    assert err.value.problem == "bad_format"
