"""Lines whose key TOML cannot read: a bare key with a letter outside ASCII (``sample_räte = 1``), which the parser
names only by line and column, said with its path and the key meant, as the loader says any other unknown key; and a
line with no '=' after its key (words with spaces between them, a header without its '[', a key without a value)."""

from __future__ import annotations

import re

from listener.config.toml_hints import TABLE_NAME, parses, shorten, table_at

_SPACED_KEY = re.compile(r"[A-Za-z0-9_-]+(?:\s+[A-Za-z0-9_-]+)+")
# a bare key before its '=' (sample_räte = 1, a letter outside ASCII: no TOML)
_BARE_KEY_LINE = re.compile(r"^\s*([^\s=#\[\]\"'.]+)\s*=")


def foreign_key_fix(lines: list[str], number: int, column: int) -> str:
    """For a bare key the parser stopped in at a letter outside ASCII (``sample_räte``): the key's path and the
    key meant, as the loader names them for any other unknown key."""
    match = _BARE_KEY_LINE.match(lines[number - 1] if 1 <= number <= len(lines) else "")
    if match is None or match.group(1).isascii() or not match.start(1) < column <= match.end(1):
        return ""
    from listener.config.loader import key_rule  # here: the loader imports toml_hints, which imports this

    return key_rule(table_at(lines, number), match.group(1)) or ""


def key_fix(line: str, message: str, secret: bool) -> str:
    """The fix for a line the parser read as a key and then found no '=' after: words with spaces between them
    (``rep azimuth deg = 5``), a header without its '[', a key without its value. The line is echoed only where
    it is a key and its value: a bare word may be a password pasted on a line of its own."""
    if not message.startswith("Expected '=' after a key"):
        return ""
    key, equals, value = line.partition("=")
    key = key.strip()
    joined = "_".join(key.split())
    # not where the joined line would fail too: 'port  8883  with tls = true below' lost its '=' and its '#'
    if equals and _SPACED_KEY.fullmatch(key) and parses(f"{joined} = {value}"):
        shown = "" if secret else f": {shorten(f'{joined} = {value.strip()}')}"
        return f"a key holds no spaces: join its words with '_'{shown}"
    if not equals and key.endswith("]") and TABLE_NAME.fullmatch(key.rstrip("]").strip()):
        return f"a table header starts with '[' too: [{shorten(key.rstrip(']').strip())}]"
    if not equals:
        return "a setting is key = value on one line: give the key its value, or delete the line (docs/config.md)"
    return ""
