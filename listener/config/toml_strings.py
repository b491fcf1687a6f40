"""What a mistake in a one-line string most likely means: its closing quote missing, a backslash in double
quotes, more after its closing quote; and where a comment after a value begins, which a '#' in a string does not."""

from __future__ import annotations

import re

from listener.config.toml_hints import AFTER_STATEMENT, BAD_ESCAPE, MULTILINE_QUOTES, shorten

# tomllib's words for a line break inside a one-line string: its closing quote is missing
_UNCLOSED = re.compile(r"^(?:Illegal|Found invalid) character '\\[nr]'")
STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'')  # one one-line string (toml_open strips them from lines)
_ESCAPED_QUOTE_AT_END = re.compile(r'(?<!\\)(?:\\\\)*\\"$')  # an odd number of '\' before it
_ESCAPED_SAID = ", or if the '\\' before the last quote is text, write it as \\\\"
_SPACED_HASH = re.compile(r"\s#")  # in a string left open: where a comment typed after it begins


def without_comment(value: str) -> str:
    """``value`` without a comment after it. A '#' inside a closed string is text (``"C:\\models#2"``, a login):
    cut there, the fix showed the text shortened. In a string left open, a '#' after a space is taken for a comment
    typed where the closing quote was meant to be, one without (``"home/#``) for text."""
    whole = STRING.match(value)
    if whole is not None:
        return whole.group(0) + value[whole.end() :].split("#")[0].rstrip()
    if value[:1] in "\"'":
        return _SPACED_HASH.split(value, maxsplit=1)[0].strip()
    return value.split("#")[0].strip()


def string_fix(key: str, raw: str, message: str, secret: bool) -> str:
    """The fix for a text value the parser stopped in: its closing quote missing, a backslash in double quotes
    (a Windows path, a DOMAIN\\user login), or more after its closing quote (``"USB Audio" true``)."""
    value = without_comment(raw)
    if not value or value[0] not in "\"'" or value.startswith(MULTILINE_QUOTES):
        return ""
    quote = value[0]
    if message.startswith(BAD_ESCAPE) and quote == '"':
        inner = value[1:-1] if value.endswith('"') and len(value) > 1 else value[1:]
        literal = f"{key} = '{inner}'"  # TOML's single quotes take every backslash as it is
        shown = "" if secret or "'" in inner else f": {shorten(literal)}"
        return (
            f"in double quotes a backslash starts an escape (\\n, \\t): write each as \\\\, or use single quotes{shown}"
        )
    whole = STRING.match(value)
    if message.startswith(AFTER_STATEMENT) and whole is not None and value[whole.end() :].strip():
        shown = "" if secret else f": {shorten(f'{key} = {whole.group(0)}')}"
        deleted = f"delete what follows the closing quote (a comment starts with #){shown}"
        return _quote_in_a_comment(key, raw, whole.group(0), secret, deleted) or deleted
    return ""


def _quote_in_a_comment(key: str, raw: str, string: str, secret: bool, deleted: str) -> str:
    """Both fixes for a string whose closing quote is a letter's (``'192.0.2.10  # the store's broker``): its
    own closing quote missing, and the quote in a comment after it read as one; deleting what follows would keep
    the comment as text. Said where the quote is followed by a letter or digit, as no closing quote is."""
    hashed = _SPACED_HASH.search(string)
    if hashed is None or not raw[len(string) : len(string) + 1].isalnum():
        return ""
    if secret:
        return f"close the quotes before the '#' if a comment starts there, or {deleted}"
    text = string[: hashed.start()].rstrip()
    commented = shorten(f"{key} = {text}{string[0]}{raw[len(text) :]}")
    return f"close the quotes before the '#' if a comment starts there: {commented}, or {deleted}"


def unclosed_fix(key: str, raw: str, message: str, secret: bool) -> str:
    """The fix for a one-line string whose closing quote is missing. A ' #' in it is a comment typed where the
    quote was meant to go (``"192.0.2.10  # the broker``) or text (``"USB #2``): the line cannot tell, so both
    readings are said, each with all of the line's text (the first cut "USB #2" to "USB")."""
    if not _UNCLOSED.match(message) or not raw or raw[0] not in "\"'" or raw.startswith(MULTILINE_QUOTES):
        return ""
    # a '\' before the last quote makes it text: 'C:\share\"' was told to close the quotes after it
    escaped = raw[0] == '"' and _ESCAPED_QUOTE_AT_END.search(raw) is not None
    if secret:
        return "close the quotes at the end of the text" + (_ESCAPED_SAID if escaped else "")
    quote = raw[0]
    said = f"close the quotes at the end of the text: {shorten(f'{key} = {raw}{quote}')}"
    if escaped:
        backslash = raw[:-1] + '\\"'
        return f"{said}{_ESCAPED_SAID}: {shorten(f'{key} = {backslash}')}"
    hashed = _SPACED_HASH.search(raw)
    if hashed is None:
        return said
    text = raw[: hashed.start()].rstrip()
    commented = f"{key} = {text}{quote}{raw[len(text) :]}"
    return f"{said}, or before the '#' if a comment starts there: {shorten(commented)}"
