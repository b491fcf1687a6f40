"""docs/config.md is the schema's own documentation, not a copy that drifts."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from listener.config.reference import render_reference
from listener.config.schema import Config

REFERENCE = Path(__file__).resolve().parents[1] / "docs" / "config.md"


def test_the_committed_reference_is_the_schema_rendered_now() -> None:
    # regenerate with: python -m listener.config.reference > docs/config.md
    assert REFERENCE.read_text(encoding="utf-8") == render_reference()


def test_every_key_of_every_table_is_listed_with_its_range() -> None:
    text = render_reference()
    for table in dataclasses.fields(Config):
        assert f"## `[{table.name}]`" in text
        for key in dataclasses.fields(table.type if isinstance(table.type, type) else type(table.default)):
            assert f"| `{key.name}` |" in text
    assert "| `port` | `1883` | 1 – 65535 | broker port |" in text
    assert '| `overflow` | `"auto"` | `"auto"`, `"skip"`, `"wait"` |' in text
    assert '| `language` | `"en"` | `"en"` |' in text  # the lexicons shipped, not any text
    assert "| `mic_channels` | not set | a list, each 0 – 31 |" in text
    assert "&lt;topic_prefix&gt;" in text
