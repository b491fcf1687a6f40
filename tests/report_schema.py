"""The shipped JSON Schema of ``listener analyze --json`` (listener.analysis/1), for the tests to check reports by."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import jsonschema

SCHEMA: dict[str, Any] = json.loads(
    (resources.files("listener") / "data" / "schemas" / "analysis.json").read_text(encoding="utf-8")
)


def validate(report: object) -> None:
    """Raises jsonschema.ValidationError, naming the key, if ``report`` does not follow the schema."""
    jsonschema.Draft202012Validator(SCHEMA).validate(report)
