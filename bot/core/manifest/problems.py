"""Problems: what is wrong, where (file, line, column, field) and what was expected.

Every check in the manifest, policy and plan code answers with `Problem` values instead of
raising, so that one run reports everything a person has to fix.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Iterable, Literal

Severity = Literal["error", "warning"]

_MAX_VALUE_CHARS = 80


@dataclass(frozen=True)
class Problem:
    """One finding. `line`/`column` are 1-based; `field` is a dotted path (`a.b[0].c`).

    `rule` names the check (e.g. `aws.endpoint-name`, `yaml.alias`, or for policy the setting
    `policy.environments.production.allowed_instance_types`); `configured_at` says where that
    rule is configured (`config/modelbot.yaml: policy...`) when it comes from the server config.
    """

    path: str
    line: int
    column: int
    field: str
    value: Any
    message: str
    expected: str | None = None
    rule: str | None = None
    severity: Severity = "error"
    configured_at: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    @property
    def value_repr(self) -> str:
        """The offending value, shortened for display (never the whole of a huge input)."""
        text = repr(self.value)
        return text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 3] + "..."

    def format(self) -> str:
        """`path:line:col: severity: field: message (got X; expected Y) [rule]` on one line."""
        where = f"{self.path}:{self.line}:{self.column}"
        text = f"{where}: {self.severity}: "
        if self.field:
            text += f"{self.field}: "
        text += self.message
        extras = []
        if self.value is not None:
            extras.append(f"got {self.value_repr}")
        if self.expected:
            extras.append(f"expected {self.expected}")
        if extras:
            text += " (" + "; ".join(extras) + ")"
        if self.rule:
            text += f" [{self.configured_at or self.rule}]"
        return text

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["value"] = self.value_repr if self.value is not None else None
        return data


def sort_problems(problems: Iterable[Problem]) -> list[Problem]:
    """Order by file, position, then field: the order a person reads a file in."""
    return sorted(problems, key=lambda p: (p.path, p.line, p.column, p.field, p.message))


def has_errors(problems: Iterable[Problem]) -> bool:
    return any(p.is_error for p in problems)
