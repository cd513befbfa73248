"""The manifest's JSON Schema, generated from the pydantic model.

`python -m bot.core.manifest.schema` writes bot/schema/manifest.schema.json; `--check` exits 1 if
the committed file differs from a fresh generation. Editors use it for completion; the bot
itself validates with the pydantic model and `bot.core.manifest.rules`, which say more.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bot.core.manifest.model import Manifest

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schema" / "manifest.schema.json"
SCHEMA_ID = "https://github.com/modelbot/modelbot/blob/main/bot/schema/manifest.schema.json"


def generate_schema() -> dict[str, Any]:
    schema = Manifest.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def render_schema() -> str:
    return json.dumps(generate_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    text = render_schema()
    if "--check" in argv:
        current = SCHEMA_PATH.read_text(encoding="utf-8") if SCHEMA_PATH.exists() else ""
        if current != text:
            print(f"{SCHEMA_PATH} is stale: run python -m bot.core.manifest.schema", file=sys.stderr)
            return 1
        return 0
    SCHEMA_PATH.parent.mkdir(parents=True, exist_ok=True)
    SCHEMA_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {SCHEMA_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
