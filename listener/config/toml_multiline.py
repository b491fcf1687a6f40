"""Two string mistakes inside a statement that spans lines, which tomllib names only where it stopped: a bad escape
in a string in a list or in triple double quotes (the line tomllib names looks like anything: a row of the list, a
line of text), and a string in triple quotes left open to the end of the file (the parser's words alone, no line).
"""

from __future__ import annotations

import re
import tomllib

from listener.config.toml_hints import MULTILINE_QUOTES, may_hold_secret, parses, shorten
from listener.config.toml_open import KEY_VALUE, MAX_PARSED_CHARS, VALID_ESCAPE, multiline_escape

# tomllib's words for a string in triple quotes with no closing quotes in the rest of the file
_LEFT_OPEN = {"Unterminated string (at end of document)": '"""', "Expected \"'''\" (at end of document)": "'''"}
# one string on a line, as tomllib reads it from its opening quote: its closing quote may be missing (a '\' that
# escapes the line break, or the quote); any text between two strings ends at a '#', which starts a comment
_ONE_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*("|\\?$)|\'[^\'\n]*\'?')
_LINE = re.compile(r"\(at line (\d+),")
_ESCAPE_FIX = "a backslash starts an escape (\\n, \\t): write each as \\\\, or use single quotes"


def escape_fix(lines: list[str], number: int, column: int, shown: str) -> str:
    """The line and fix for a backslash that starts no escape on line ``number`` (``shown``: ', ' and the line as a
    hint shows it, or '' for one that may hold a secret), where the statement it is in spans lines or is a list:
    the string it is in is in triple double quotes, or one of the list's items; '' otherwise."""
    escape = multiline_escape(lines, number)
    if escape is not None:
        opened, fix = escape
        return f"line {number}{'' if may_hold_secret(lines[opened - 1]) else shown}: {fix}"
    start = _statement_line(lines, number)
    value = KEY_VALUE.match(lines[start - 1]) if start is not None else None
    if start is None or value is None or not value.group(1).startswith(("[", "{")):
        return ""  # a key's own string: toml_strings says it with the key
    if any(quotes in line for line in lines[start - 1 : number] for quotes in MULTILINE_QUOTES):
        return ""  # a string in triple quotes in the list: its lines are not strings of their own
    strings = _strings(lines[number - 1])
    if not any(match.start() < column - 1 and match.group().startswith('"') for match in strings):
        return ""  # in a comment, or in a literal string
    secret = shown == "" or may_hold_secret(lines[start - 1])
    single = "" if secret else _single_quoted(lines[number - 1], strings)
    if single and not _parses_past([*lines[: number - 1], single, *lines[number:]], number):
        single = ""  # more is wrong on the line than the quotes ('"C:\["\x", "y"'): a fix that fails is no fix
    listed = f" (a string of the list opened on line {start})" if start != number else ""
    said = f"line {number}{'' if secret else shown}: in double quotes{listed} {_ESCAPE_FIX}"
    return f"{said}: {shorten(single)}" if single else said


def _parses_past(lines: list[str], number: int) -> bool:
    """Whether ``lines`` parse past line ``number``: whole, or failing further down (or on a key set twice, a
    mistake of its own that the first hid). Not tried on a file past MAX_PARSED_CHARS: then assumed so."""
    text = "\n".join(lines)
    if len(text) > MAX_PARSED_CHARS:
        return True
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        where = _LINE.search(str(exc))
        return (where is not None and int(where.group(1)) > number) or str(exc).startswith("Cannot")
    except (RecursionError, ValueError):
        return False
    return True


def _statement_line(lines: list[str], number: int) -> int | None:
    """The line the statement holding line ``number`` starts on: the nearest at or above it that sets a key, if the
    lines before it parse (a list's rows set none; one parse, not one a line as statement_start's: the list may be
    1 MiB long)."""
    for start in range(number, 0, -1):
        if KEY_VALUE.match(lines[start - 1]):
            return start if parses("\n".join([*lines[: start - 1], ""])) else None
    return None


def _strings(line: str) -> list[re.Match[str]]:
    """The strings on ``line``, up to a comment after them."""
    found: list[re.Match[str]] = []
    for match in _ONE_STRING.finditer(line):
        if "#" in line[found[-1].end() if found else 0 : match.start()]:
            break
        found.append(match)
    return found


def _single_quoted(line: str, strings: list[re.Match[str]]) -> str:
    """``line`` with each double-quoted string in it that holds a bad escape put in single quotes, which keep every
    backslash; '' where one cannot be: it holds a valid escape too (it would stop being one), or a "'"."""
    pieces, end = [], 0
    for match in strings:
        string = match.group()
        if string.startswith('"') and "\\" in string and not parses(f"v = {string}"):
            inner = string[1:-1]
            if match.group(1) != '"' or "'" in inner or VALID_ESCAPE.search(inner):  # or its closing quote missing
                return ""
            string = f"'{inner}'"
        pieces += [line[end : match.start()], string]
        end = match.end()
    return "".join([*pieces, line[end:]]).strip()


def left_open_fix(lines: list[str], message: str) -> str:
    """The line and fix for a string in triple quotes left open to the end of the file, named on the line it
    opened on (tomllib names none), with where its quotes go if the file reads as TOML once they are there."""
    quotes = _LEFT_OPEN.get(message)
    if quotes is None:
        return ""
    start = _opened_on(lines, quotes)
    value = KEY_VALUE.match(lines[start - 1]) if start is not None else None
    if start is None or value is None or not value.group(1).startswith(quotes):
        return ""
    line = lines[start - 1].removesuffix("\r")
    secret = may_hold_secret(line)
    shown = f"{line.partition('=')[0].strip()} = …" if secret else line.strip()
    text = value.group(1)[3:]
    one = _one_quote(lines, start, quotes, text)
    if one:  # 'host = \'\'\'broker\'': closed with one quote, as it was meant to open
        said = f"line {start}, {shorten(shown)}: the string opens with three quotes and closes with one"
        return said if secret else f"{said}: {shorten(one)}"
    said = f"line {start}, {shorten(shown)}: close the triple quotes at the end of the text"
    closed = _closed_at(lines, start, quotes)
    if closed == start and text.strip():  # the text is on the line it opened on
        return said if secret else f"{said}: {shorten(line.strip() + quotes)}"
    if closed is None or closed == start:
        return f"{said}: write {quotes} after its last line"
    below = any(line.strip() for line in lines[closed:])
    return f"{said}: write {quotes} at the end of line {closed}" + (
        " (the lines below it then read as TOML)" if below else ", the file's last"
    )


def _opened_on(lines: list[str], quotes: str) -> int | None:
    """The line a string in ``quotes`` left open to the end of the file opened on, if a key's value starts with them
    there: the last ``quotes`` in the file that no '\\' escapes (any after the opening would have closed it), if the
    lines before it parse. One parse, not one a line as statement_start's: the file may be 1 MiB of the text."""
    for number in range(len(lines), 0, -1):
        line = lines[number - 1]
        end = len(line)
        while (at := line.rfind(quotes, 0, end)) >= 0:
            before = line[:at]
            if quotes == '"""' and (len(before) - len(before.rstrip("\\"))) % 2:  # \""" is a quote and ""
                end = at + len(quotes) - 1
                continue
            value = KEY_VALUE.match(line)
            opens = value is not None and value.start(1) == len(before.rstrip(quotes[0]))  # a run's first three
            return number if opens and parses("\n".join([*lines[: number - 1], ""])) else None
    return None


def _one_quote(lines: list[str], start: int, quotes: str, text: str) -> str:
    """Line ``start`` opened with one quote, where its text on it ends with one and the file then parses; else ''."""
    if len(text.rstrip()) < 2 or not text.rstrip().endswith(quotes[0]):
        return ""
    line = lines[start - 1]
    at = line.index(quotes)
    one = line[:at] + line[at + 2 :]
    return one.strip() if parses("\n".join([*lines[: start - 1], one, *lines[start:]])) else ""


def _closed_at(lines: list[str], start: int, quotes: str) -> int | None:
    """The first line from ``start`` on at whose end ``quotes`` make the file parse, or None (another mistake
    below, or reading the file again that often would take too long). A try that fails at line m skips to m:
    closing before m leaves line m after the string, where it failed."""
    budget = MAX_PARSED_CHARS
    number = start
    while number <= len(lines):
        tried = [*lines[: number - 1], _with_quotes(lines[number - 1], quotes), *lines[number:]]
        document = "\n".join(tried)
        budget -= len(document)
        if budget < 0:
            return None
        try:
            tomllib.loads(document)
        except tomllib.TOMLDecodeError as exc:
            failed = _LINE.search(str(exc))
            number = max(number + 1, int(failed.group(1)) if failed else 0)
            continue
        except (RecursionError, ValueError):
            return None
        return number
    return None


def _with_quotes(line: str, quotes: str) -> str:
    """``line`` ending with ``quotes``, before a CR LF's CR (a CR inside the string is no line break)."""
    return line.removesuffix("\r") + quotes + ("\r" if line.endswith("\r") else "")
