"""Build manifest texts for table tests; `«` marks where a problem is expected."""

from __future__ import annotations

import textwrap

MARK = "«"

SECTIONS = {
    "header": "apiVersion: modelbot/v1\nkind: ModelDeployment\n",
    "metadata": """
        metadata:
          name: fraud
          owners: [alice]
        """,
    "model": """
        model:
          artifact:
            uri: s3://acme-models/fraud/model.tar.gz
            image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud:1.0.0
        """,
    "provenance": """
        provenance:
          data_version: "2024-06-01"
          build_id: "build-1"
        """,
    "validation": "",
    "environments": """
        environments:
          production:
            mode: realtime
            instance_type: ml.m5.large
            instance_count: 4
        """,
}


def doc(**sections: str) -> str:
    """A manifest from the default sections, with some replaced (a value of "" drops one)."""
    parts = []
    for name, default in SECTIONS.items():
        text = sections.pop(name, default)
        parts.append(textwrap.dedent(text).strip("\n") + "\n" if text.strip() else "")
    assert not sections, f"unknown sections {sorted(sections)}"
    return "".join(parts)


def locate(text: str) -> tuple[str, int, int]:
    """Remove the marker; return the clean text and the marker's 1-based line and column."""
    index = text.index(MARK)
    before = text[:index]
    line = before.count("\n") + 1
    column = len(before.rsplit("\n", 1)[-1]) + 1
    return text.replace(MARK, "", 1), line, column
