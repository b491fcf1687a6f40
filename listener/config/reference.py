"""The key reference of ``docs/config.md``, written from the schema itself.

An installer reads the reference, not :mod:`listener.config.schema`; generating it
from the fields' own documentation and ranges keeps the two from drifting
(``tests/test_config_reference.py`` fails when the committed file is stale).

Regenerate with ``python -m listener.config.reference > docs/config.md``.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, get_args, get_origin

from listener.config.rules import NO_RULE, FieldRule, rule_of
from listener.config.schema import Config

HEADER = """# Configuration keys

Every key of `listener.toml`, generated from `listener/config/schema.py` by
`python -m listener.config.reference > docs/config.md` (a test fails when this file is stale).
Unknown keys are refused (one a release retired, such as `analytics.interruption_exact` or
`parties.elevation_deg`, is named as retired: delete its line); `listener check-config FILE`
validates a file without running anything.
A key left out keeps the default shown; rules between keys (dominance's on share above its off
share, a party's channel among the captured ones, distinct pins, …) are checked too, and an error
names both keys. A path (a key whose allowed column says so) may start with `~/` for the home folder;
a relative one is read from the folder of the config file, not the working folder: `ca_file = "ca.pem"`
in /etc/listener/listener.toml is /etc/listener/ca.pem. Units are in the key's name (`_s` seconds, `_ms`
milliseconds, `_hz` hertz, `_deg` degrees, `_db` decibels) except `[array] sample_rate` (Hz) and
`mics` (metres).
"""


def _shown(value: Any) -> str:
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, str):
        return f'`"{value}"`'
    return f"`{value}`"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _allowed(hint: Any, rule: FieldRule) -> str:
    """What the type and range allow, and the rule the key's checks add (``allowed``): a format in place of
    "text", a bound set by another key after the range."""
    typed, also = _typed(hint, rule), rule.allowed
    if not also:
        return typed
    return _cell(also) if typed in ("text", "") else f"{typed}; {_cell(also)}"


def _typed(hint: Any, rule: FieldRule) -> str:
    if rule.choices is not None:
        return ", ".join(f'`"{choice}"`' for choice in rule.choices())
    low, high = rule.low, rule.high
    listed = any(get_origin(arg) is tuple for arg in (hint, *get_args(hint)))
    if low is not None and high is not None:
        return ("a list, each " if listed else "") + f"{_number(low)} – {_number(high)}"
    if listed:
        return "a list of [x, y, z]"
    literal = [arg for arg in get_args(hint) if get_origin(arg) is typing.Literal]
    if get_origin(hint) is typing.Literal or literal:
        choices = get_args(hint) if get_origin(hint) is typing.Literal else get_args(literal[0])
        return ", ".join(f'`"{choice}"`' for choice in choices)
    if hint is bool:
        return "true, false"
    if rule.path:
        return "a path"
    return "text" if hint is str else ""


def _cell(text: str) -> str:
    # a table cell: "|" would end it and "<name>" would be read as an HTML tag
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _section(name: str, table: type) -> list[str]:
    hints = typing.get_type_hints(table)
    lines = [f"## `[{name}]`", "", "| key | default | allowed | meaning |", "|---|---|---|---|"]
    for spec in dataclasses.fields(table):
        rule = rule_of(spec)
        if rule is NO_RULE:  # as before, when its missing "doc" raised KeyError: a key with no meaning to show
            raise TypeError(f"config key {name}.{spec.name} is not declared with listener.config.rules.field()")
        allowed = _allowed(hints[spec.name], rule)
        doc = _cell(rule.doc)
        lines.append(f"| `{spec.name}` | {_cell(_shown(spec.default))} | {allowed} | {doc} |")
    return [*lines, ""]


def render_reference() -> str:
    """The whole of ``docs/config.md``."""
    lines = [HEADER]
    hints = typing.get_type_hints(Config)
    for section in dataclasses.fields(Config):
        lines.extend(_section(section.name, hints[section.name]))
    return "\n".join(lines)


if __name__ == "__main__":
    print(render_reference(), end="")
