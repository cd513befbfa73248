"""What the comparison refuses before it materialises data: `TableLimits` (rows, columns,
decoded and decompressed bytes, line length) and the `ComparisonDataError` every refusal raises.
Pure, and free of numpy: the server config's `compare:` block is parsed with it by every
process, the gunicorn master included (`bot.core.compare.data` reads tables within them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


class ComparisonDataError(ValueError):
    """The evaluation data cannot be compared; `problem` is a stable short code, str() says why."""

    def __init__(self, problem: str, message: str):
        super().__init__(message)
        self.problem = problem


MiB = 1024 * 1024
# One csv / jsonl line is read at most this long (a csv record may span lines inside quotes; each
# field is also held to the csv module's field_size_limit(), 131,072 characters by default).
MAX_LINE_CHARS = 1 * MiB


@dataclass(frozen=True)
class TableLimits:
    """What one table (a validation set or a prediction file) may hold, checked before it is
    materialised: from the Parquet footer and page headers, or while counting a csv/jsonl file
    without keeping its values, and again while reading it.

    `max_decompressed_bytes` bounds the table once decompressed and decoded into columns: 8 bytes
    a number, the characters (plus a pointer) of a text cell; with the file's own bytes that is
    what loading it holds in memory. `where` names where each limit is set (a server config key)
    for the messages; `count_rows_to` lets a refusal say exactly how many rows a file has up to
    that many (counting holds nothing). The rows limit's problem code, wording and hint can be
    set (local scoring's limit points to batch transform).
    """

    max_rows: int = 1_000_000
    max_columns: int = 1_000
    max_decompressed_bytes: int = 256 * MiB
    max_line_chars: int = MAX_LINE_CHARS
    count_rows_to: int = 0
    rows_what: str = "rows modelbot reads"
    rows_problem: str = "too_large"
    rows_hint: str = ""
    subject: str = ""  # "validation set", "prediction file": said before the file's name
    where: Mapping[str, str] = field(default_factory=dict)

    def place(self, name: str) -> str:
        return self.where.get(name) or {"max_line_chars": "bot.core.compare.limits.MAX_LINE_CHARS"}.get(
            name, f"the default of bot.core.compare.limits.TableLimits.{name}")

    def refuse(self, source: str, name: str, value: str, limit: str, basis: str, *,
               problem: str = "too_large", hint: str = "") -> ComparisonDataError:
        who = f"{self.subject} {source}" if self.subject else source
        return ComparisonDataError(problem, f"{who}: {value}, more than the {limit} ({self.place(name)}; {basis})"
                                   + (f"; {hint}" if hint else ""))

    @property
    def rows_counted(self) -> int:
        """Rows counted before a streaming read stops: the limit, or `count_rows_to` when larger."""
        return max(self.max_rows, self.count_rows_to)

    def check_rows(self, source: str, n: int, basis: str, *, exact: bool = False) -> None:
        """Refuse `n` rows over the limit; not `exact`: a streaming count, which stops one row
        past `rows_counted`."""
        if n > self.max_rows:
            value = f"{n:,} rows" if exact or n <= self.rows_counted else f"over {self.rows_counted:,} rows"
            raise self.refuse(source, "max_rows", value, f"{self.max_rows:,} {self.rows_what}", basis,
                              problem=self.rows_problem, hint=self.rows_hint)

    def check_columns(self, source: str, n: int, basis: str) -> None:
        if n > self.max_columns:
            raise self.refuse(source, "max_columns", f"{n:,} columns", f"{self.max_columns:,} columns modelbot reads",
                              basis)

    def check_decoded(self, source: str, n_bytes: int, basis: str) -> None:
        if n_bytes > self.max_decompressed_bytes:
            raise self.refuse(source, "max_decompressed_bytes", f"about {n_bytes:,} bytes once decompressed and "
                              "decoded into columns", f"{self.max_decompressed_bytes:,} bytes modelbot holds for a "
                              "table", basis)
