"""What each config key allows, kept with its field: the loader enforces it, docs/config.md shows it.

A schema declares a key with :func:`field`; :func:`rule_of` gives back its :class:`FieldRule`. The rule
rides in the dataclass field's ``metadata`` (the one place dataclasses keep such things) under a single
key, so that every reader gets typed attributes, not a dict of strings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

_RULE_KEY = "listener.rule"


@dataclasses.dataclass(frozen=True, slots=True)
class FieldRule:
    """One key's documentation and what it takes.

    ``path``: a file or folder, ``~`` expanded. ``choices``: the values allowed where they are found at run
    time (files shipped in the package), for the reference to list; the rule itself is applied where the value
    is used. ``allowed``: the rule (a format, a bound set by another key) for the reference, where type and
    range do not say it. ``accepts``: whether a text passes that rule, so that no hint suggests a value the
    rule then refuses (``example``, else the default, is suggested instead).
    """

    doc: str
    low: float | None = None
    high: float | None = None
    path: bool = False
    choices: Callable[[], Sequence[str]] | None = None
    allowed: str | None = None
    accepts: Callable[[str], bool] | None = None
    example: object = None


NO_RULE = FieldRule(doc="")


def field(
    default: Any,
    doc: str,
    *,
    min: float | None = None,  # noqa: A002
    max: float | None = None,  # noqa: A002
    path: bool = False,
    choices: Callable[[], Sequence[str]] | None = None,
    allowed: str | None = None,
    accepts: Callable[[str], bool] | None = None,
    example: str | None = None,
) -> Any:
    """A config field with its documentation and allowed range (see :class:`FieldRule`)."""
    if isinstance(default, (list, dict)):
        raise TypeError("config defaults must be immutable")
    rule = FieldRule(doc, min, max, path, choices, allowed, accepts, default if example is None else example)
    return dataclasses.field(default=default, metadata={_RULE_KEY: rule})


def rule_of(spec: dataclasses.Field[Any]) -> FieldRule:
    """The rule :func:`field` gave ``spec`` (:data:`NO_RULE` for a field declared without it)."""
    rule = spec.metadata.get(_RULE_KEY, NO_RULE)
    assert isinstance(rule, FieldRule)
    return rule
