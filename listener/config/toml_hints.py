"""What a TOML syntax error most likely means, said as the fix an installer can type.

tomllib names the line and column and the parser's own complaint ("Invalid value"); the
mistakes behind it are few and typical of hand-edited files: text without quotes
(``host = 192.168.1.10``), Python's or YAML's booleans (``True``, ``yes``), a unit after a
number (``16k``), a key or a table written twice.
"""

from __future__ import annotations

import re

_WHERE = re.compile(r"\(at line (\d+), column \d+\)")
_ASSIGNMENT = re.compile(r"^\s*([A-Za-z0-9_.\"'-]+)\s*=\s*(.*?)\s*$")
_TABLE_TWICE = re.compile(r"Cannot declare \((.*)\) twice")
_BOOLEAN_WORDS = {"true": "true", "false": "false", "yes": "true", "no": "false", "on": "true", "off": "false"}
_NUMBER_WITH_UNIT = re.compile(r"^[-+]?\d+(\.\d+)?\s*[A-Za-z]+$")
# a value under one of these is never echoed: a password typed into the file must not reach the journal
_SECRET = re.compile(r"pass|secret|token|key", re.IGNORECASE)
_MAX_SHOWN = 60


def syntax_hint(text: str, message: str) -> str:
    """``message`` (tomllib's) with the line it points at and the likely fix, or as it is."""
    table = _TABLE_TWICE.search(message)
    if table:
        name = ".".join(part.strip(" '\"") for part in table.group(1).split(",") if part.strip())
        return f"table [{name}] appears twice: merge its keys under one [{name}] ({message})"
    where = _WHERE.search(message)
    if where is None:
        return message
    number = int(where.group(1))
    lines = text.splitlines()
    if not 1 <= number <= len(lines):
        return message
    assignment = _ASSIGNMENT.match(lines[number - 1])
    if assignment is None:
        return message
    key, value = assignment.groups()
    fix = _fix(key, value.split("#")[0].strip(), message)
    shown = f"{key} = …" if _SECRET.search(key) else _shorten(f"{key} = {value}")
    return f"line {number}, {shown}: {fix} ({message})" if fix else f"line {number}, {shown} ({message})"


def _fix(key: str, value: str, message: str) -> str:
    if message.startswith("Cannot overwrite a value"):
        return f"{key} is set twice in its table: keep one"
    lowered = value.lower()
    if (lowered in _BOOLEAN_WORDS and value != lowered) or lowered in ("yes", "no", "on", "off"):
        return f"write true or false in lower case: {key} = {_BOOLEAN_WORDS[lowered]}"
    if _NUMBER_WITH_UNIT.match(value):
        return "write a plain number without a unit: the unit is in the key's name (docs/config.md)"
    if value and value[0] not in "\"'[{" and not _SECRET.search(key):
        return f'put text in double quotes: {key} = "{value}"'
    if value and value[0] not in "\"'[{":
        return "put text in double quotes"
    return ""


def _shorten(line: str) -> str:
    printable = "".join(char if char.isprintable() else "?" for char in line)  # one line on stderr, whatever it holds
    return printable if len(printable) <= _MAX_SHOWN else printable[: _MAX_SHOWN - 1] + "…"
