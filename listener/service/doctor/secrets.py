"""``listener doctor`` on /etc/listener/secrets.env, the broker password's file: who may read it, the
line that keeps the password from the service, a comment typed after a value, which systemd keeps
in it, a line a comment ending in a backslash swallows or a value above it runs on into, and a password line that
ends in a backslash. Its values are never printed: a line is named by its number and its key."""

from __future__ import annotations

import difflib
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from listener.config.unused_keys import PASSWORD_ENV
from listener.service.doctor import Check, warn
from listener.service.doctor.env_file import EnvLines, JoinedLine, SwallowedLine
from listener.service.doctor.system_files import SystemFiles, this_run
from listener.small_files import read_small_file

INSTALLED_SECRETS = "/etc/listener/secrets.env"  # listener.service's EnvironmentFile=, where provision.sh puts it
SECRETS_FILE = INSTALLED_SECRETS  # the one looked at: tests point it elsewhere
SECRETS_FIX = "sudo chown root:root {path} && sudo chmod 0600 {path} (provision.sh does both)"
RESTART = "then `sudo systemctl restart listener`"
_Unread = TypeVar("_Unread", SwallowedLine, JoinedLine)  # a line systemd reads as part of something above it


@dataclass(frozen=True, slots=True)
class LineProblem:
    """What in the secrets file keeps the service from a variable (lines by number and key, never a value)."""

    said: str
    fix: str  # its first step, before a restart


def check_secrets_file() -> Check | None:
    """A warning when the secrets file is not root's alone (systemd reads it as root, nobody else need);
    ok when it is; None when there is none, or its folder cannot be entered to tell."""
    path = Path(SECRETS_FILE)  # read at each call: tests point it elsewhere
    try:
        st = path.stat()
    except OSError:
        return None
    mode = stat.S_IMODE(st.st_mode)
    if st.st_uid == 0 and not mode & 0o077:
        return Check("secrets", "ok", f"{path} is root's, mode {mode:04o}")
    who = [] if st.st_uid == 0 else [f"owned by uid {st.st_uid}, who can read it"]
    if mode & 0o077:
        who.append(f"mode {mode:04o} lets {'its group and others' if mode & 0o007 else 'its group'} in")
    return warn(
        "secrets",
        f"{path} holds the broker password, but is {' and '.join(who)}",
        SECRETS_FIX.format(path=path),
    )


def check_inline_comments(files: SystemFiles | None = None) -> Check | None:
    """A warning naming each line of the secrets file (by number and key, never its value) whose value holds a '#'
    after a space: a comment typed after the value, which systemd keeps in it (a password sent with its comment,
    and the broker saying only "not authorized"); None when there is none, or the file cannot be read here."""
    if (read := this_run(files).secrets_lines) is None:
        return None
    last = {found.key: found for found in read.assignments if _VARIABLE.fullmatch(found.key)}  # the one set
    commented = sorted((found.line, found.key) for found in last.values() if found.commented)
    if not commented:
        return None
    lines = ", ".join(f"line {number} ({key})" for number, key in commented)
    return warn(
        "secrets",
        f"{SECRETS_FILE} {lines}: the text after '=' holds a '#' after a space, which systemd's EnvironmentFile="
        " keeps in the value (a comment is a line of its own that starts with #)",
        f"move the comment to a line of its own, {RESTART}; if the '#' is part of the value, put the value in single"
        f" quotes: {commented[0][1]}='...'",
    )


def check_swallowed_lines(files: SystemFiles | None = None) -> Check | None:
    """A warning naming each line of the secrets file (by number and key, never its value) that systemd 252
    (Debian 12) reads as part of the comment above it, one that ends in a backslash, so nothing is set from it
    (254 stopped that); None when there is none, a later line sets its variable anyway, or the file cannot be read."""
    if (read := this_run(files).secrets_lines) is None or not (lost := _lost_variables(read, read.swallowed)):
        return None
    lines = ", ".join(f"line {found.line} ({found.key}) is read as part of {_comment_on(found)}" for found in lost)
    return warn(
        "secrets",
        f"{SECRETS_FILE} {lines}: systemd 252 (Debian 12) joins the line after a comment that ends in a backslash"
        " to the comment, and sets nothing from it",
        f"{_unslash(_numbered(found.line - 1 for found in lost))}, {RESTART}",
    )


def check_joined_lines(files: SystemFiles | None = None) -> Check | None:
    """A warning naming each line of the secrets file (by number and key, never a value) that systemd reads as part
    of a value above it, one whose line ends in a backslash or whose quote is still open, so nothing is set from it;
    None when there is none, a later line sets its variable anyway, or the file cannot be read here."""
    if (read := this_run(files).secrets_lines) is None or not (lost := _lost_variables(read, read.joined)):
        return None
    lines = ", ".join(f"line {found.line} ({found.key}) is read as part of {_part_of(found)}" for found in lost)
    steps = [_unslash(_numbered(found.line - 1 for found in lost if found.quote_line is None))]
    quotes = {found.quote_line: found for found in reversed(lost) if found.quote_line is not None}  # each's first
    steps += [_close(quotes[line]) for line in sorted(quotes)]
    return warn(
        "secrets",
        f"{SECRETS_FILE} {lines}: systemd joins a line to the value above it while that value's line ends in a"
        " backslash or its quote is open, and sets nothing from it",
        f"{' and '.join(step for step in steps if step)}, {RESTART}; if a value is meant to go on over lines, move"
        " the line named below where it ends instead",
    )


def check_password_backslash(files: SystemFiles | None = None) -> Check | None:
    """A warning naming the line that sets the broker password for the service (by number, never its value) when it
    ends in a backslash, which systemd drops, joining the next line to the password, or which makes the quote
    meant to end it (``"pw\\"``) part of it: set, but not as written, and the broker says only "not authorized";
    None otherwise, or when the file cannot be read here."""
    if (problem := password_backslash(PASSWORD_ENV, files)) is None:
        return None
    return warn("secrets", f"{SECRETS_FILE} {problem.said}", f"{problem.fix}, {RESTART}")


def password_backslash(name: str, files: SystemFiles | None = None) -> LineProblem | None:
    """Why the value systemd sets ``name`` to for the service is not the one written, when a line of it ends in a
    backslash, outside quotes or in double quotes (by line numbers, never a value); None otherwise, or when the file
    cannot be read here. A password with a line break kept in it (a quote left open) fails at the service's start
    too, naming no line: this names it."""
    files = this_run(files)
    if (text := files.secrets_text) is None or (read := files.secrets_lines) is None:
        return None
    last = {found.key: found for found in read.assignments}.get(name)  # the last line that sets it counts
    if last is None or not last.value:  # password_line_problem's
        return None
    ends, quotes, joined = _password_backslashes(read, last.line)
    if not ends and not quotes:
        return None
    lines = text.count("\n") + (not text.endswith("\n"))  # a line break that ends the file starts no line
    said = [f"drops the backslash{'es' if len(ends) > 1 else ''} at the end of {_numbered(ends)}"] if ends else []
    said += [f'reads the \\" at the end of {_numbered(quotes)} as a quote in the password, not its end'] * bool(quotes)
    if joins := _numbered(line for line in joined if line <= lines):
        said[-1] += f" and joins {joins} to the value"
    fix = [_unslash(_numbered(ends)), _unslash(_numbered(quotes), "before the quote ")]
    return LineProblem(
        f"line {last.line} sets {name}, but systemd {' and '.join(said)}, so the password the service sends is not"
        " the one written",
        "if the backslash is part of the password, write it twice (\\\\) or put the password in single quotes;"
        f" if not, {' and '.join(step for step in fix if step)}",
    )


def _password_backslashes(read: EnvLines, value_line: int) -> tuple[list[int], list[int], list[int]]:
    """The lines of the value that starts on ``value_line`` whose backslash systemd drops (at their end, outside
    quotes or in double quotes), those that end in a quote it escapes (\\"), and the lines it joins to the value
    for a backslash (a quote left open joins lines too: those are the quote's to name)."""
    joined = [found for found in read.joined if found.value_line == value_line]
    ends = [found.line - 1 for found in joined if found.quote_line is None]
    ends += [line for line in read.dropped_backslashes if line in (value_line, *(found.line for found in joined))]
    quoted = [found for found in read.quoted_backslashes if found.value_line == value_line]
    ends += [found.line for found in quoted if found.escapes == "\n"]
    quotes = [found.line for found in quoted if found.escapes == '"']
    joins = [found.line for found in joined if found.quote_line is None or found.escaped is not None]
    return sorted(set(ends)), quotes, joins


def password_line_problem(name: str, files: SystemFiles | None = None) -> LineProblem | None:
    """What in the secrets file keeps systemd from setting variable ``name`` for the service, by line
    number and key (never a value); None when it sets it, or the file cannot be read here. The file is read as
    systemd reads it: a line that looks like it sets ``name`` is named with what systemd reads it as."""
    if (read := this_run(files).secrets_lines) is None:
        return None
    last = {found.key: found for found in read.assignments}.get(name)  # the last line that sets it counts
    if last is not None and last.value:
        return None
    last_set = last.line if last is not None else 0
    keys = [(found.line, found.key, True) for found in read.assignments]
    keys += [(found.line, found.key, False) for found in read.without_value]
    problems = [(line, why) for line, key, equals in keys if (why := _key_problem(name, line, key, equals))]
    unread: list[SwallowedLine | JoinedLine] = [*read.swallowed, *read.joined]
    # a misspelt or `export` line systemd reads as part of what is above it: both keep the password from the service
    near = [(found, why) for found in unread if found.key and (why := _key_problem(name, found.line, found.key, True))]
    problems += [(found.line, f"{why}, and {_read_as(found)}") for found, why in near]
    said = [line_said for _, line_said in sorted(problems)]
    if last_set:
        said.append(f"line {last_set} sets {name} to nothing")
    lost = [found for found in unread if found.key == name and found.line > last_set]
    if lost:  # the line is there, but systemd reads it as part of what is above it
        found = max(lost, key=lambda found: found.line)
        return LineProblem(
            "; ".join([*said, f"line {found.line} sets {name}, but {_read_as(found)}"]), _moved(found, name)
        )
    written = f"write the line as `{name}=<the password>` (nothing before the name)"
    if near:  # freeing the line alone would leave it misspelt
        found = near[-1][0]
        return LineProblem("; ".join(said), f"{_free(found)}, and {written.replace('the line', f'line {found.line}')}")
    return LineProblem("; ".join(said) or f"it has no {name}= line", written)


def _key_problem(name: str, line: int, key: str, equals: bool) -> str | None:
    """Why a key systemd read on ``line`` (with an '=' after it or not) is not ``name``, where it looks meant to be
    (None: it is, or looks meant for another variable). Only a valid name or the name a key starts with is said:
    a key that runs into the value (``NAME: value``) holds some of the value."""
    if key == name:
        return None
    bare = key.removeprefix("export").strip(" \t")
    if equals and bare == name:  # systemd takes "export NAME" for a key, which is invalid, and skips the line
        return f"line {line} starts with `export`, which systemd's EnvironmentFile= does not take"
    hidden = [char for char in bare if char not in " \t" and (not char.isprintable() or char.isspace())]
    if equals and hidden and "".join(char for char in bare if char not in hidden) == name:
        unseen = ", ".join(_UNSEEN.get(char, f"U+{ord(char):04X}") for char in dict.fromkeys(hidden))
        return f"line {line} names {name} with an invisible {unseen} in it, which systemd keeps: it skips the line"
    if not equals or _VARIABLE.fullmatch(bare) is None:
        named = _VARIABLE.match(bare)
        if named is not None and _alike(named.group(), name):
            return f"line {line} names {named.group()} without `=` right after it"
        return None
    return f"line {line} sets {bare}, not {name}" if _alike(bare, name) else None


def _lost_variables(read: EnvLines, unread: Iterable[_Unread]) -> list[_Unread]:
    """The lines of ``unread`` that would set a variable read alone, which no later line sets (a later one is what
    the service gets): a key that is no valid name (``export NAME``) is the broker check's to name."""
    last = {found.key: found.line for found in read.assignments}
    return [
        found
        for found in unread
        if found.key is not None and _VARIABLE.fullmatch(found.key) and last.get(found.key, 0) < found.line
    ]


def _read_as(found: SwallowedLine | JoinedLine) -> str:
    """What systemd reads ``found``'s line as part of: only 252 swallows a line after a comment."""
    return (
        f"systemd{' 252 (Debian 12)' if isinstance(found, SwallowedLine) else ''} reads it as part of {_part_of(found)}"
    )


def _part_of(found: SwallowedLine | JoinedLine) -> str:
    """The comment or value above ``found``'s line that it is read into, by line numbers (and a valid key)."""
    if isinstance(found, SwallowedLine):
        return _comment_on(found)
    # a key that is no valid name may hold some of a value ('NAME: value'): the value is named by its line alone
    key = f" of {found.value_key}" if _VARIABLE.fullmatch(found.value_key) else ""
    value = _above(f"the value{key}", found.value_line, found.line)
    if found.quote_line is None:
        return f"{value}, which ends in a backslash"
    opened = f"{value}, in a quote opened on line {found.quote_line} and not closed before it"
    if found.escaped is not None and found.escaped.escapes == '"':  # the quote that looks like its end is none
        return f'{opened}: the \\" at the end of line {found.escaped.line} is a quote in the value, not its end'
    return opened


def _free(found: SwallowedLine | JoinedLine) -> str:
    """The fix that ends what ``found``'s line is read into before it."""
    if isinstance(found, JoinedLine) and found.quote_line is not None:
        return _close(found)
    return _unslash(f"line {found.line - 1}")


def _moved(found: SwallowedLine | JoinedLine, name: str) -> str:
    """_free, and for a value, what to do when it is meant to run on."""
    if isinstance(found, SwallowedLine):
        return _free(found)
    if found.quote_line is None:
        meant = f"if that value is meant to go on to the next line, move the {name} line below where it ends"
        return f"{_free(found)}; {meant}"
    return f"{_free(found)} (a quoted value runs on over line ends to its closing quote)"


def read_secrets_text() -> str | None:
    """The secrets file's text; None when there is none, or it cannot be read here (not root, not UTF-8).
    A doctor run reads it once, through its SystemFiles."""
    try:
        return read_small_file(Path(SECRETS_FILE)).decode("utf-8")  # a pipe there: not waited on
    except (OSError, UnicodeDecodeError):
        return None


def _comment_on(found: SwallowedLine) -> str:
    return f"{_above('the comment', found.comment_line, found.line)}, which ends in a backslash"


def _above(what: str, first: int, line: int) -> str:
    """``what`` runs from line ``first`` to the one before ``line``."""
    return f"{what} on {f'line {first}' if first == line - 1 else f'lines {first}-{line - 1}'} above it"


def _unslash(lines: str, before: str = "") -> str:
    return f"remove the backslash {before}at the end of {lines}" if lines else ""


def _close(found: JoinedLine) -> str:
    """The fix that ends the quote ``found``'s line is read into: closing it, where no backslash escapes the quote
    that ends it (a backslash before a closing quote makes it part of the value, and the quote stays open)."""
    escaped = found.escaped
    if escaped is None:
        return f"close the quote opened on line {found.quote_line} where its value ends"
    doubled = "write it twice (\\\\) if it is part of the value, else remove it"
    if escaped.escapes == '"':
        return f"the backslash before the quote at the end of line {escaped.line} escapes it: {doubled}"
    return (
        f"close the quote opened on line {found.quote_line} where its value ends, after the backslash at the end of"
        f" line {escaped.line}, which would escape it: {doubled}"
    )


def _numbered(numbers: Iterable[int]) -> str:
    ordered = sorted(set(numbers))
    if not ordered:
        return ""
    return f"line{'s' if len(ordered) > 1 else ''} {', '.join(map(str, ordered))}"


_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_UNSEEN = {"\ufeff": "U+FEFF (a byte-order mark, which some editors write first)", "\xa0": "U+00A0 (a no-break space)"}


def _alike(key: str, name: str) -> bool:
    return difflib.SequenceMatcher(None, key, name).ratio() >= 0.8
