"""The finder kinds a config may name are the kinds ``find-images`` reports, and each is
documented: the schema's enum, the engine's :class:`Kind` and docs/editing.md agree."""

from __future__ import annotations

import json
import re
from pathlib import Path

from promoter.config import schema_text
from promoter.edit.model import Kind

DOCS = Path(__file__).resolve().parent.parent.parent / "docs"


def test_schema_kind_enum_is_every_kind_find_images_reports() -> None:
    schema = json.loads(schema_text())
    assert schema["$defs"]["kind"]["enum"] == [k.value for k in Kind]


def test_every_kind_has_a_row_in_the_editing_table() -> None:
    rows = re.findall(r"^\| `([a-z]+)` \|", (DOCS / "editing.md").read_text(), re.MULTILINE)
    assert sorted(k.value for k in Kind) == sorted(rows)
