"""Where a TOML mistake that spans lines began: a string or a list left open, an escape in a multi-line string.

tomllib names the place it stopped, which for these is the end of the file or the line after the mistake (the
next table header, or a correct key below). The statement the mistake is in starts on the line after the longest
run of whole lines that parses: the lines before it hold only finished statements, and every statement that goes
on past a line (a list, a multi-line string) fails when cut there.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib

from listener.config.toml_hints import parses
from listener.config.toml_strings import STRING

# tomllib says so of a one-line string with no closing quote in the rest of the file
_STRING_LEFT_OPEN = {'Expected "\'" (at end of document)': "'", "Unterminated string (at end of document)": '"'}
_AT_LINE_END = re.compile(r"^(?:Illegal|Found invalid) character '\\n'")
# a bare key: a quoted one ('"a=b"') may be a list's row as well
KEY_VALUE = re.compile(r"^\s*[A-Za-z0-9_-]+(?:\s*\.\s*[A-Za-z0-9_-]+)*\s*=\s*((?:.*\S)?)\s*$")  # as _ASSIGNMENT
# a table header whose name no value could be read as: '[1]', '[true]' and '["a"]' are rows of a list too
_HEADER = re.compile(r"^\s*\[\[?\s*[A-Za-z][A-Za-z0-9_-]*(?:\s*\.\s*[A-Za-z0-9_-]+)*\s*\]\]?\s*(?:#.*)?$")
_VALUE_WORDS = re.compile(r"^\s*\[\[?\s*(?:true|false|inf|nan)\s*\]")
VALID_ESCAPE = re.compile(r'\\(?:[btnfr"\\]|u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|[ \t]*\n)')  # TOML's own
MAX_PARSED_CHARS = 2_000_000  # tomllib here: 0.3 s of keys, 0.9 s of table headers; a Pi ~5x; a config: KiB
# tomllib's words for a list that goes on where an item or a ']' should be: after an item, or after its ','
_LIST_STOPPED = ("Unclosed array", "Invalid value")
_MAX_BRACKETS = 3  # the mics' list nests two deep
_MAX_HASHES = 8  # where a '#' may start the comment after a list: tried from the right, each a parse
_LINE_TRIES = _MAX_HASHES + _MAX_BRACKETS * (_MAX_HASHES + 1)  # the most _closed_line parses its line
# tomllib's words for a string, list or table left open to the end of the file
_LEFT_OPEN = re.compile(r"Unterminated|Unclosed|Expected \"'''\"|Expected '\"\"\"'|Expected \"'\"")
_UNESCAPED = "Unescaped '\\' in a string"
_WHERE = re.compile(r"\(at line (\d+), column (\d+)\)")


def where_named(text: str, lines: list[str], message: str) -> tuple[int, int]:
    """The line and column ``message`` names (0 for none): for an escape, the line its '\\' is on."""
    where = _WHERE.search(message)
    if where and message.startswith(_UNESCAPED) and where.group(2) == "1" and int(where.group(1)) > 1:
        number = int(where.group(1)) - 1  # a '\' and its line break in a one-line string: tomllib names the line after
        return number, len(lines[number - 1]) + 1
    if where:
        return int(where.group(1)), int(where.group(2))
    # a file without its last newline: a key set twice there is on its last line, which tomllib does not
    # number; a string, array or table left open may have opened on any line before it
    if message.endswith("(at end of document)") and not text.endswith("\n") and not _LEFT_OPEN.search(message):
        return max((k + 1 for k, line in enumerate(lines) if line.strip()), default=0), 0
    return 0, 0


def carriage_return_fix(text: str, number: int, column: int, message: str) -> str:
    """The fix when tomllib stopped at a carriage return that ends no line: it reads CR LF as a newline, and a CR
    alone (an old Mac's line end, or one pasted with text) nowhere. Not for a key set twice: tomllib stops after
    the value, and it is the fix that matters."""
    src = text.replace("\r\n", "\n").split("\n")  # as tomllib reads it: the same lines and columns
    line = src[number - 1] if 1 <= number <= len(src) else ""
    if not (1 <= column <= len(line) and line[column - 1] == "\r") or message.startswith(("Cannot", "Duplicate")):
        return ""
    return (
        f"column {column} holds a carriage return (\\r) with no newline after it, a line end TOML does not read (an"
        " old Mac's, or a paste's): save the file with Unix (LF) line ends, or delete it if the line goes on"
    )


def statement_start(lines: list[str], last: int) -> int | None:
    """The first line (from 1) of the statement that runs on past line ``last``, or None once reading the lines
    before it would take too long (a file of thousands of lines)."""
    budget = MAX_PARSED_CHARS
    for count in range(min(last, len(lines)), -1, -1):
        before = "\n".join([*lines[:count], ""])  # a CR LF file's last line ends with its '\r' otherwise
        budget -= len(before)
        if budget < 0:
            return None
        if parses(before):
            return count + 1
    return None


def where_string_opened(text: str, message: str) -> str:
    """tomllib's words for ``text`` with a quote added below it: for a one-line string left open (its closing
    quote in none of the lines after it), the line break on the line it opened on, where the quote belongs;
    '' if they say something else (a control character in the string, a quoted key)."""
    quote = _STRING_LEFT_OPEN.get(message)
    if quote is None:
        return ""
    try:
        tomllib.loads(f"{text}\n{quote}")
    except tomllib.TOMLDecodeError as exc:
        said = str(exc)
    except (RecursionError, ValueError):
        return ""
    else:
        return ""
    where = _WHERE.search(said)
    line = text.split("\n")[int(where.group(1)) - 1] if where else ""
    value = KEY_VALUE.match(line)
    opened = value is not None and value.group(1).startswith(quote) and not value.group(1).startswith(quote * 3)
    return said if _AT_LINE_END.match(said) and opened else ""


@dataclasses.dataclass(frozen=True)
class OpenList:
    """A list whose closing ']' is missing: the line it opened on, and, where one is plain, where its ']' goes."""

    line: int
    closing: str = ""  # the ']' to write, or '' if where it goes is not plain
    head: str = ""  # on the line the list opened on, what the ']' goes after ('' if on a line of its own)
    after: int = 0  # ... or the line to write it after, on a line of its own (a list written a row a line)
    hash_column: int = 0  # a '#' that made the rest of the list a comment


def open_list(lines: list[str], number: int, column: int, message: str) -> OpenList | None:
    """The list left open that tomllib found unclosed at the start of line ``number`` (a table header or a key
    after it) or at the end of the file. Elsewhere, a ',' is as likely missing as a ']' (a row without its ','
    and the next row), so nothing is said; nor where a ']' below may close it (a key put inside the list)."""
    if not message.startswith(_LIST_STOPPED):
        return None
    at_end = message.endswith("(at end of document)")
    if not at_end and not (_starts_statement(lines, number, column) and not _closed_below(lines, number)):
        return None
    last = len(lines) if at_end else number - 1
    start = statement_start(lines, last - 1 if at_end else last)
    assignment = KEY_VALUE.match(lines[start - 1]) if start is not None and start <= last else None
    if start is None or assignment is None or not assignment.group(1).startswith("["):
        return None
    rows = [k for k in range(start, last + 1) if lines[k - 1].strip() and not lines[k - 1].strip().startswith("#")]
    return _closing(lines, start, rows[-1])


def _closed_below(lines: list[str], number: int) -> bool:
    """Whether a line from ``number`` on, before the next table header, closes a list opened above it: a ']'
    that no '[' before it on those lines opened, outside strings and comments (``port = 2]``, a ']' alone)."""
    depth = 0
    for k, line in enumerate(lines[number - 1 :]):
        if _HEADER.match(line):
            if k:
                return False
            continue
        for char in STRING.sub("", line).split("#")[0]:
            depth += {"[": 1, "]": -1}.get(char, 0)
            if depth < 0:
                return True
    return False


def _closing(lines: list[str], start: int, after: int) -> OpenList:
    """Where the list's ']' goes, if it is plain: after the last item on the line it opened on (a list on one
    line), or on a line of its own after line ``after`` (a list written a row a line)."""
    if after == start:
        return _closed_line(lines[: start - 1], lines[start - 1], start)
    for count in range(1, _MAX_BRACKETS + 1):
        closing = "]" * count
        if _plain_list(_value_of(lines[start - 1 : after]) + "\n" + closing, [*lines[:after], closing]):
            return OpenList(start, closing, after=after)
    return OpenList(start)


def _starts_statement(lines: list[str], number: int, column: int) -> bool:
    """Whether tomllib stopped at the start of a line that can only start a statement: a key = value, or a table
    header (after its '[': read as a list, its name is the value), never a row of the list (which would be
    missing its ',' instead)."""
    line = lines[number - 1] if 1 <= number <= len(lines) else ""
    before = line[: max(column - 1, 0)]
    if before.strip() == "" and 1 <= column <= len(line):
        return bool(KEY_VALUE.match(line)) or bool(_HEADER.match(line) and not _VALUE_WORDS.match(line))
    return before.replace("[", "").strip() == "" and bool(_HEADER.match(line) and not _VALUE_WORDS.match(line))


def _closed_line(before: list[str], line: str, start: int) -> OpenList:
    """Where ``line``'s list ends, if that makes it a plain list: a '#' in it made the rest of the line a comment
    (``0.0]#, [-0.0457``: a ']' before it would drop the rows after it), or its ']' goes at the end of the line,
    before a comment. A list that ends in ',' or '[' has items still to come: where they end is not the line's
    to say."""
    code = line.rstrip()
    if len(code) * _LINE_TRIES > MAX_PARSED_CHARS:  # each try parses the line: 1 MiB of it took 14 s here
        return OpenList(start)
    hashes = [k for k in range(len(code) - 1, -1, -1) if code[k] == "#"][:_MAX_HASHES]  # a comment's first is last
    for hashed in hashes:
        uncommented = code[:hashed] + code[hashed + 1 :]
        if _plain_list(_value_of([uncommented]), [*before, uncommented]):
            return OpenList(start, hash_column=hashed + 1)
    for count in range(1, _MAX_BRACKETS + 1):
        for hashed in [len(code), *hashes]:
            head = code[:hashed].rstrip()
            closed = head + "]" * count + code[len(head) :]
            if not head.endswith((",", "[")) and _plain_list(_value_of([closed]), [*before, closed]):
                return OpenList(start, "]" * count, head)
    return OpenList(start)


def _value_of(lines: list[str]) -> str:
    first = KEY_VALUE.match(lines[0])
    return "\n".join([first.group(1) if first else lines[0], *lines[1:]])


def _plain_list(value: str, document: list[str]) -> bool:
    """Whether ``value`` is a list whose items nest alike (the mics' rows all lists of numbers) and closes the
    document before it: a ']' that parses but leaves a row holding another row closed the wrong list."""
    try:
        parsed = tomllib.loads(f"v = {value}")["v"]
    except (tomllib.TOMLDecodeError, RecursionError, ValueError):
        return False
    return isinstance(parsed, list) and _alike(parsed) and parses("\n".join(document))  # the value's parse: short


def _alike(items: list[object]) -> bool:
    depths = {_depth(item) for item in items}
    return len(depths) <= 1 and all(_alike(item) for item in items if isinstance(item, list))


def _depth(value: object) -> int:
    return 1 + max((_depth(item) for item in value), default=0) if isinstance(value, list) else 0


def multiline_escape(lines: list[str], number: int) -> tuple[int, str] | None:
    """The line a string in triple double quotes opened on, and the fix, for a backslash on line ``number`` that
    starts no escape, if the string is one: the value of the statement that line is part of opens with '\"\"\"'.
    A statement ends with its value, so the escape is in that string."""
    start = statement_start(lines, number - 1)
    assignment = KEY_VALUE.match(lines[start - 1]) if start is not None else None
    if start is None or assignment is None or not assignment.group(1).startswith('"""'):
        return None
    rest = "\n".join([assignment.group(1)[3:], *(line.removesuffix("\r") for line in lines[start:])])
    end = rest.find('"""')
    # triple single quotes read every backslash as it is: a \n or \" meant as an escape would no longer be one
    escapes = VALID_ESCAPE.search(rest[: end + 1])  # with the character after: a \" just before the quotes found
    fits = end >= 0 and not rest.startswith('"', end + 3) and "'''" not in rest[:end] and not escapes
    opened = f" (opened on line {start})" if start != number else ""
    literal = ", or put the string in triple single quotes ('''), which keep every backslash as it is"
    return start, (
        f"in a string in triple double quotes{opened} a backslash starts an escape (\\n, \\t): write each backslash"
        f" that is text as \\\\{literal if fits else ''}"
    )


def stopped_in_a_list(lines: list[str], number: int, column: int, message: str) -> bool:
    """Whether tomllib stopped at a key or a table header because a list above it is still open: what failed
    is not that line's value (``port = 2`` was told to put its number in quotes)."""
    return message.startswith(_LIST_STOPPED) and _starts_statement(lines, number, column)
