"""What a TOML syntax error most likely means, said as the fix an installer can type.

tomllib names the line and column and the parser's own complaint ("Invalid value"); the
mistakes behind it are few and typical of hand-edited files: text without quotes
(``host = 192.168.1.10``), Python's or YAML's booleans (``True``, ``yes``), a unit after a
number (``16k``), a key or a table written twice. Where a mistake spans lines, toml_open finds where it began;
toml_strings says what a one-line string's means.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import tomllib
import typing
import unicodedata

from listener.errors import toml_value

if typing.TYPE_CHECKING:  # imported where used: provisioning loads this file alone, without listener.config's numpy
    from listener.config import toml_open

# its value from the first character to the last that is not a space: '(.*?)\s*$' took time quadratic in the
# spaces inside it (a 1 MiB line: hours)
_ASSIGNMENT = re.compile(r"^\s*([A-Za-z0-9_.\"'-]+)\s*=\s*((?:.*\S)?)\s*$")
_IN_A_KEY = ("Expected '=' after a key", "Invalid statement")  # not "Invalid value": a list left open above
_TABLE_TWICE = re.compile(r"Cannot declare \((.*)\) twice")
MULTILINE_QUOTES = ('"""', "'''")
_BOOLEAN_WORDS = {"true": "true", "false": "false", "yes": "true", "no": "false", "on": "true", "off": "false"}
_NUMBER_WITH_UNIT = re.compile(r"^[-+]?\d+(\.\d+)?\s*[A-Za-z]+$")
# a value under one of these is never echoed: a password typed into the file must not reach the journal.
# Misspellings too ('pasword', 'passwd', 'pwd', 'pw'): a typo is exactly when the key is unknown and echoed
_SECRET_WORDS = r"pass|p(?:a?s+)?w(?:or)?d|(?<![a-z])pw(?![a-z])|secret|token|cred|auth"
_SECRET = re.compile(_SECRET_WORDS + "|key", re.IGNORECASE)
_SECRET_KEY = re.compile(_SECRET_WORDS, re.IGNORECASE)  # a key named so hides any value, even a numeric PIN
_MAX_SHOWN = 60
_TYPOGRAPHIC_QUOTES = "“”‘’„‚«»"
# 'array:', 'preset: generic'; its value as _ASSIGNMENT's
_YAML_LINE = re.compile(r"^\s*(?:-\s+)?([A-Za-z0-9_-]+)\s*:(?:\s+(\S(?:.*\S)?))?\s*$")
_TOML_IS = (
    'write each setting as key = value under its [table] header: [array], then preset = "generic" (docs/config.md)'
)
_LOOKED_DEPTH = 10  # tables deeper than errors.toml_value echoes (8 levels)
# tomllib's words for a backslash that starts no escape TOML knows (a Windows path, a DOMAIN\user login)
BAD_ESCAPE = ("Unescaped '\\' in a string", "Invalid hex value", "Escaped character is not a Unicode scalar value")
AFTER_STATEMENT = "Expected newline or end of document after a statement"
TABLE_NAME = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")
# '[0.0, …', '[[-0.5 …': a list's row. A table's name may be a number too ('[1]', '[1.5]' parse), so only on a
# line the parser refused as a header is a number after the '[' taken for a row, not for a misspelt name
_LIST_ROW = re.compile(
    r"\s*\[\s*(?:\[\s*)?[-+]?(?:\d[\d_]*(?:\.[\d_]+)?|\.\d+)(?:[eE][-+]?\d+)?(?:\s*[,\]]|\s+[-+.\d]|\s*$)"
)
_A_ROW = "this is a row of a list, not a table header"
_ROWS_INSIDE = (
    "(a ']' too many, or its items not inside one pair of brackets): keep every item inside the list's outer [ ]"
)


def looks_secret(key: object, value: object = None, depth: int = 0) -> bool:
    """Whether ``key``, or a key in the table ``value`` as deep as an error echoes it, may name a secret.

    A '...key' is one when it holds text (``api_key = "..."``): ``bogus_key = 1`` is still echoed."""
    named = str(key)
    if _SECRET_KEY.search(named) or (_SECRET.search(named) and isinstance(value, str)):
        return True
    if depth > _LOOKED_DEPTH:  # not echoed (errors.toml_value shows '{...}'), and 3000 levels end the stack
        return False
    if isinstance(value, dict):
        return any(looks_secret(k, v, depth + 1) for k, v in value.items())
    if isinstance(value, list):  # an array of tables
        return any(looks_secret("", v, depth + 1) for v in value)
    return False


def syntax_hint(text: str, message: str) -> str:
    """``message`` (tomllib's) with the line it points at and the likely fix, or as it is."""
    table = _TABLE_TWICE.search(message)
    if table:
        name = ".".join(part.strip(" '\"") for part in table.group(1).split(",") if part.strip())
        return f"table [{shorten(name)}] appears twice: merge its keys under one [{shorten(name)}] ({message})"
    from listener.config import toml_open  # here, as said above

    lines = text.split("\n")  # tomllib counts "\n" only, not the other breaks splitlines() knows
    # a one-line string left open to the end of the file is read as the parser reads it with a quote below:
    # stopped at the line break on the line it opened on, where its quote belongs
    read = toml_open.where_string_opened(text, message) or message
    number, column = toml_open.where_named(text, lines, read)
    line = lines[number - 1] if 1 <= number <= len(lines) else ""
    spanning = _spanning_fix(text, lines, number, column, read)
    if spanning:
        return f"{spanning} ({message})"
    if toml_open.stopped_in_a_list(lines, number, column, read):  # not for a fix the line's value could take
        return message
    invisible = _invisible(line, column)
    if invisible:  # the line quoted with '?' for it
        return f"line {number}{_quoted(line)}: {invisible} ({message})"
    other_format = _other_format(line)
    if other_format:
        return f"line {number}: {other_format} ({message})"
    header = _list_row_fix(lines, number) or _header_fix(line, column, read)
    if header and not _inside_a_value(lines, number):  # a password joined to a header: "[mqtt]password = ..."
        return f"line {number}{_quoted(line)}: {header} ({message})"
    from listener.config import toml_keys  # here, as said above

    foreign = toml_keys.foreign_key_fix(lines, number, column) if read.startswith(_IN_A_KEY) else ""
    if foreign:
        return f"line {number}, {foreign} ({message})"
    return _line_hint(lines, number, column, read, message)


def _line_hint(lines: list[str], number: int, column: int, read: str, message: str) -> str:
    """``syntax_hint`` for a line that is neither a header nor inside a value spanning lines: a key, its value."""
    line = lines[number - 1] if 1 <= number <= len(lines) else ""
    assignment = _ASSIGNMENT.match(line)
    if assignment is None:
        from listener.config import toml_keys  # here, as said above

        no_key = toml_keys.key_fix(line, read, bool(_SECRET.search(line)))
        return f"line {number}: {no_key} ({message})" if no_key else message
    key, value = assignment.groups()
    secret = bool(_SECRET.search(line))
    shown = shorten(f"{key} = …" if secret else f"{key} = {value}")
    if not parses(f"{key} = 0"):  # the parser stopped in the key ('enabled"= true', '.port = 1'), not its value
        return f"line {number}, {shown} ({message})"
    kind = _kind(table_at(lines, number), key.strip("\"'"))
    fix = _closed_early(value, line[column - 1 : column], read) or _fix(key, value, read, kind, secret)
    return f"line {number}, {shown}: {fix} ({message})" if fix else f"line {number}, {shown} ({message})"


def may_hold_secret(line: str) -> bool:
    """Whether ``line`` may hold a password: a hint then shows its key alone, or no text of it."""
    return bool(_SECRET.search(line))


def _quoted(line: str) -> str:
    """', ' and ``line`` as a hint shows it, or '' where it may hold a password."""
    return "" if _SECRET.search(line) else f", {shorten(line.strip())}"


def _spanning_fix(text: str, lines: list[str], number: int, column: int, message: str) -> str:
    """The line and fix for a mistake the line tomllib names shows only in part: a carriage return that ends no
    line (the rest of the file may look like lines of their own), a list left open above it, an escape in a
    string in triple double quotes or in a list (whose lines may look like anything: a YAML line, a header), a
    string in triple quotes left open to the end of the file (toml_multiline)."""
    from listener.config import toml_open  # here, as said above

    line = lines[number - 1] if 1 <= number <= len(lines) else ""
    said = (line.removesuffix("\r") if number < len(lines) else line).strip(" \t")  # a CR LF's CR is not shown
    shown = "" if _SECRET.search(line) else f", {shorten(said)}"
    stray = toml_open.carriage_return_fix(text, number, column, message)
    if stray:
        return f"line {number}{shown}: {stray}"
    listed = toml_open.open_list(lines, number, column, message)
    if listed is not None:
        return _open_list_fix(lines, listed)
    from listener.config import toml_multiline  # here, as said above

    if message.startswith(BAD_ESCAPE):
        return toml_multiline.escape_fix(lines, number, column, shown)
    return toml_multiline.left_open_fix(lines, message)


def _open_list_fix(lines: list[str], listed: toml_open.OpenList) -> str:
    """The fix for a list whose ']' is missing, said on the line it opened on (the next header's line was
    named, or a key below it, which was told to change its correct value). Not for a key that takes no list
    (``preset = ["generic"``): its '[' is the likelier mistake."""
    line = lines[listed.line - 1]
    key = _ASSIGNMENT.match(line)
    if key is None or _kind(table_at(lines, listed.line), key.group(1)) not in (tuple, None):
        return ""
    secret = bool(_SECRET.search(line))
    shown = shorten(f"{key.group(1)} = …" if secret else line.strip())
    said = f"line {listed.line}, {shown}: the list has no closing ']'"
    if listed.hash_column:  # typed in, or a comment after a list whose ']' is missing: both are said
        return f"{said}: the '#' at column {listed.hash_column} makes the rest a comment: delete it, or close the list"
    if listed.head and not secret:  # the line as it should read, or where a long one's ']' goes
        closed = f"{listed.head.strip()}{listed.closing}{line.rstrip()[len(listed.head) :]}"
        if len(closed) <= _MAX_SHOWN:
            return f"{said}: {shorten(closed)}"
        return f"{said}: add '{listed.closing}' after …{shorten(listed.head[2 - _MAX_SHOWN // 2 :])}"
    if listed.after:
        return f"{said}: write '{listed.closing}' on a line of its own after line {listed.after}"
    return f"{said}: each '[' needs its ']': close every row, and the list after its last item"


def _closed_early(value: str, stopped_at: str, message: str) -> str:
    """The fix for a list with a ',' after its closing bracket (``mics = [[0.0457, 0.0, 0.0]],`` and the next
    rows below), or a ']' (``[[0.0, 0.0, 0.0]]]``): "write a list in square brackets" was said of a list in them."""
    if not (message.startswith(AFTER_STATEMENT) and value.startswith("[") and stopped_at in (",", "]")):
        return ""
    return f"the list ends before the '{stopped_at}' after it {_ROWS_INSIDE}"


def _list_row_fix(lines: list[str], number: int) -> str:
    """The fix for a list's row the parser read as a table header, the list above it closed on its line
    (``mics = [[0.0457, 0.0, 0.0]]`` and ``[0.0, 0.0457, 0.0], …]`` below): "fix the table's name" misled."""
    line = lines[number - 1] if 1 <= number <= len(lines) else ""
    if not _LIST_ROW.match(line) or _header(line) is not None:
        return ""
    table: object = _above(lines, number)
    if table is None:  # a row inside a list still open above it is the parser's to name
        return ""
    name = table_at(lines, number)
    for part in name.split(".") if name else []:
        table = table.get(part) if isinstance(table, dict) else None
        table = table[-1] if isinstance(table, list) and table else table  # an array of tables: its last
    if isinstance(table, dict) and table:  # the key set last above the row: a list, closed before it
        key, value = list(table.items())[-1]
        if isinstance(value, list):
            return f"{_A_ROW}: the list {shorten(key)} above ends before it {_ROWS_INSIDE}"
    return f"{_A_ROW}: write it inside the brackets of the list it belongs to"


def _inside_a_value(lines: list[str], number: int) -> bool:
    """Whether line ``number`` continues a value the lines before it opened (the mics' list written a row a line):
    a row there starts with '[' and is no table header. The parser read those lines without fault up to it, so
    they fail on their own only where they leave one open (or nest as deep as the stack goes)."""
    return _above(lines, number) is None


def _above(lines: list[str], number: int) -> dict[str, typing.Any] | None:
    """The lines before line ``number`` parsed, or None if they fail on their own."""
    return _parsed("\n".join([*lines[: number - 1], ""]))


def parses(text: str) -> bool:
    """Whether ``text`` is a TOML document (used by toml_open and toml_strings too)."""
    try:
        tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError, ValueError):
        return False
    return True


@functools.lru_cache(maxsize=1)  # a row's fix and _inside_a_value read the same lines: 1 MiB of headers, 0.7 s
def _parsed(text: str) -> dict[str, typing.Any] | None:
    try:
        return tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError):
        return None


def _invisible(line: str, column: int) -> str:
    """The fix when the parser stopped at a character the line does not show: a no-break space copied from a
    web page ("port\u00a0= 1" was told to write a plain number), a zero-width space, a byte-order mark of a
    file pasted into another, a NUL ("Invalid statement" alone)."""
    char = line[column - 1] if 1 <= column <= len(line) else ""
    if not char or char.isprintable() or char in "\t\r":
        return ""
    name = unicodedata.name(char, "a control character").lower()
    fix = "type a plain space instead" if char.isspace() else "delete it (retype the line if the editor hides it)"
    return f"column {column} holds an invisible character, U+{ord(char):04X} ({name}): {fix}"


def _other_format(line: str) -> str:
    """The fix when the line is another format's (JSON, YAML, INI): a whole file of it is a common mix-up,
    and the parser's "Invalid statement" or "Expected '='" says nothing of it."""
    stripped = line.strip()
    if stripped.startswith("{"):
        return f"this looks like JSON, not TOML: {_TOML_IS}"
    if stripped.startswith(";"):
        return "';' starts a comment in INI files, not in TOML: start the comment with '#'"
    yaml = _YAML_LINE.match(line)
    if yaml is None:
        return ""
    key = shorten(yaml.group(1))
    if yaml.group(2):  # its value is not echoed: it may be a password
        return f"this looks like YAML, not TOML: write {key} = value, not {key}: value (docs/config.md)"
    return f"this looks like YAML, not TOML: write the table as [{key}], not {key}:, and each setting as key = value"


def _header_fix(line: str, column: int, message: str) -> str:
    """The fix for a table header the parser stopped in (``[array``, ``[array]]``, ``[[array]``), which it
    names only as a missing bracket or a missing newline."""
    stripped = line.strip()
    if not stripped.startswith("[") or message.startswith("Cannot") or _header(line) is not None:
        return ""
    before = line[: max(column - 1, 0)].strip()
    if message.startswith(AFTER_STATEMENT) and _header(before) is not None:
        return f"the header ends at {shorten(before)}: put what follows on a line of its own, or delete it"
    name = stripped.split("#")[0].strip(" \t[]")
    if TABLE_NAME.fullmatch(name):
        return f"write the table header as [{shorten(name)}]"
    return "write the table's name between single brackets, without spaces, e.g. [array] (docs/config.md)"


def table_at(lines: list[str], number: int) -> str:
    """The table the line ``number`` sits in ('' at the top)."""
    table = ""
    for header in table_headers(lines[: number - 1]):
        table = header if header is not None else table
    return table


def table_headers(lines: list[str]) -> list[str | None]:
    """Per line, the dotted name of the table its header opens (``[a.b]`` or ``[[a.b]]``), else None.

    A header is read by tomllib itself, so quoted names, comments and arrays of tables are read as TOML
    reads them; a line inside a multi-line string is never one (a ``[leds]`` in a description)."""
    out: list[str | None] = []
    in_string = ""
    for line in lines:
        header = None if in_string else _header(line)
        out.append(header)
        for quotes in MULTILINE_QUOTES:
            if (in_string in ("", quotes)) and line.count(quotes) % 2:
                in_string = "" if in_string else quotes
    return out


def _header(line: str) -> str | None:
    stripped = line.strip()
    if not stripped.startswith("["):
        return None
    try:
        doc = tomllib.loads(stripped)
    except tomllib.TOMLDecodeError:
        return None
    name: list[str] = []
    while isinstance(doc, dict) and len(doc) == 1:  # the one path the header opens
        key, doc = next(iter(doc.items()))
        name.append(key)
        doc = doc[-1] if isinstance(doc, list) and doc else doc
    return ".".join(name) if name else None


def _kind(table: str, key: str) -> type | None:
    """The Python type of ``[table] key`` in the schema (None: not a key there)."""
    from listener.config.schema import Config  # here: the schema imports the loader, which imports this

    section = {f.name: f for f in dataclasses.fields(Config)}.get(table)
    if section is None:
        return None
    hints = typing.get_type_hints(typing.get_type_hints(Config)[section.name])
    hint = hints.get(key)
    if hint is None:  # a misspelt key: its value tells more than any type would
        return None
    args = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
    first = args[0]
    return tuple if typing.get_origin(first) is tuple else (first if isinstance(first, type) else str)


def _fix(key: str, raw: str, message: str, kind: type | None, secret: bool) -> str:
    """The fix for ``key = raw`` (the value as the line has it, a comment after it too)."""
    from listener.config import toml_strings  # here, as said above

    value = toml_strings.without_comment(raw)
    if message.startswith("Cannot overwrite a value"):
        return f"{key} is set twice in its table: keep one"
    if value.startswith("="):
        # "host = = x", "port == 1883": quoting the rest would make the extra '=' part of the text. The line is
        # shown where it then parses: '= "USB #2"' was cut at the '#', 'inline = = 1, b = 2}' lost its '{'
        rest = toml_strings.without_comment(raw.lstrip("= "))
        whole = parses(f"{key} = {rest}")
        return "delete the second '='" + ("" if secret or not whole else f": {shorten(f'{key} = {rest}')}")
    lowered = value.lower()
    if kind is bool or (kind is None and lowered in _BOOLEAN_WORDS and value != lowered):
        answer = f": {key} = {_BOOLEAN_WORDS[lowered]}" if lowered in _BOOLEAN_WORDS else ""
        return f"write true or false in lower case{answer}"
    if kind in (int, float) or (kind is None and _NUMBER_WITH_UNIT.match(value)):
        return "write a plain number: digits, a '.' for decimals, no unit or thousands separator (docs/config.md)"
    text = toml_strings.unclosed_fix(key, raw, message, secret) or toml_strings.string_fix(key, raw, message, secret)
    if text:
        return text
    if kind is tuple:
        return "write a list in square brackets, e.g. [0, 1] (docs/config.md)"
    if value and value[0] in _TYPOGRAPHIC_QUOTES:
        # a word processor's or a phone's quotes: TOML knows only straight ones, and quoting the curly ones
        # again ("“generic”") would make them part of the text
        text = toml_value(value.strip(_TYPOGRAPHIC_QUOTES + " "))
        return "replace the typographic quotes “ ” ‘ ’ with straight ones" + (
            "" if secret else f": {shorten(f'{key} = {text}')}"
        )
    if value and value[0] not in "\"'[{":
        return "put text in double quotes" + ("" if secret else f": {shorten(f'{key} = {toml_value(value)}')}")
    return ""


def shorten(line: str) -> str:
    # one line on stderr, whatever it holds; a tab as the space it stands for (a '?' would be typed in)
    printable = "".join(" " if char == "\t" else char if char.isprintable() else "?" for char in line)
    return printable if len(printable) <= _MAX_SHOWN else printable[: _MAX_SHOWN - 1] + "…"
