"""``listener doctor`` on /etc/listener/secrets.env, the broker password's file: who may read it, the
line that keeps the password from the service, a comment typed after a value, which systemd keeps
in it, and a line a comment ending in a backslash swallows. Its values are never printed: a line is
named by its number and its key."""

from __future__ import annotations

import difflib
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from listener.service.doctor import Check, warn
from listener.service.doctor.env_file import SwallowedLine, read_env_file, swallowed_lines
from listener.small_files import read_small_file

INSTALLED_SECRETS = "/etc/listener/secrets.env"  # listener.service's EnvironmentFile=, where provision.sh puts it
SECRETS_FILE = INSTALLED_SECRETS  # the one looked at: tests point it elsewhere
SECRETS_FIX = "sudo chown root:root {path} && sudo chmod 0600 {path} (provision.sh does both)"
RESTART = "then `sudo systemctl restart listener`"


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


def check_inline_comments() -> Check | None:
    """A warning naming each line of the secrets file (by number and key, never its value) whose value holds a '#'
    after a space: a comment typed after the value, which systemd keeps in it (a password sent with its comment,
    and the broker saying only "not authorized"); None when there is none, or the file cannot be read here."""
    if (text := _secrets_text()) is None:
        return None
    last = {found.key: found for found in read_env_file(text) if _VARIABLE.fullmatch(found.key)}  # the one set
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


def check_swallowed_lines() -> Check | None:
    """A warning naming each line of the secrets file (by number and key, never its value) that systemd 252
    (Debian 12) reads as part of the comment above it, one that ends in a backslash, so nothing is set from it
    (254 stopped that); None when there is none, a later line sets its variable anyway, or the file cannot be read."""
    if (text := _secrets_text()) is None:
        return None
    last = {found.key: found.line for found in read_env_file(text)}
    lost = [
        swallowed
        for swallowed in swallowed_lines(text)
        if swallowed.key is not None
        and _VARIABLE.fullmatch(swallowed.key)
        and last.get(swallowed.key, 0) < swallowed.line
    ]
    if not lost:
        return None
    lines = ", ".join(f"line {found.line} ({found.key}) is read as part of {_comment_on(found)}" for found in lost)
    return warn(
        "secrets",
        f"{SECRETS_FILE} {lines}: systemd 252 (Debian 12) joins the line after a comment that ends in a backslash"
        " to the comment, and sets nothing from it",
        f"remove the backslash at the end of {_numbered(found.line - 1 for found in lost)}, {RESTART}",
    )


def password_line_problem(name: str) -> LineProblem | None:
    """What in the secrets file keeps systemd from setting variable ``name`` for the service, by line
    number and key (never a value); None when it sets it, or the file cannot be read here."""
    if (text := _secrets_text()) is None:
        return None
    swallowed = {found.line: found for found in swallowed_lines(text)}
    lost = max((number for number, found in swallowed.items() if found.key == name), default=0)
    problems, last_set, empty = [], 0, False
    for number, line in enumerate(text.split("\n"), 1):  # numbered as systemd numbers them
        key, equals, value = line.strip().partition("=")
        key = key.strip()
        if key.startswith("#") or number in swallowed:  # a comment, or part of one for systemd 252
            continue
        bare = key.removeprefix("export").strip()
        if not equals or _VARIABLE.fullmatch(bare) is None:
            # 'NAME: value' or 'NAME value': the key runs into the value, which is never shown
            named = _VARIABLE.match(bare)
            if named is not None and _alike(named.group(), name):
                problems.append(f"line {number} names {named.group()} without `=` right after it")
        elif key == name:  # the last line that sets it counts, as for systemd
            last_set, empty = number, not value.strip().strip("'\"")
        elif bare == name:  # systemd takes "export NAME" for a key, which is invalid, and skips the line
            problems.append(f"line {number} starts with `export`, which systemd's EnvironmentFile= does not take")
        elif _alike(bare, name):
            problems.append(f"line {number} sets {bare}, not {name}")
    if last_set and not empty:
        return None
    if last_set:
        problems.append(f"line {last_set} sets {name} to nothing")
    if lost > last_set:  # the line is there, but 252 reads it as the comment's
        problems.append(
            f"line {lost} sets {name}, but systemd 252 (Debian 12) reads it as part of {_comment_on(swallowed[lost])}"
        )
        return LineProblem("; ".join(problems), f"remove the backslash at the end of line {lost - 1}")
    return LineProblem(
        "; ".join(problems) or f"it has no {name}= line",
        f"write the line as `{name}=<the password>` (nothing before the name)",
    )


def _secrets_text() -> str | None:
    """The secrets file's text; None when there is none, or it cannot be read here (not root, not UTF-8)."""
    try:
        return read_small_file(Path(SECRETS_FILE)).decode("utf-8")  # a pipe there: not waited on
    except (OSError, UnicodeDecodeError):
        return None


def _comment_on(found: SwallowedLine) -> str:
    lines = (
        f"line {found.comment_line}"
        if found.comment_line == found.line - 1
        else f"lines {found.comment_line}-{found.line - 1}"
    )
    return f"the comment on {lines} above it, which ends in a backslash"


def _numbered(numbers: Iterable[int]) -> str:
    ordered = sorted(set(numbers))
    return f"line{'s' if len(ordered) > 1 else ''} {', '.join(map(str, ordered))}"


_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _alike(key: str, name: str) -> bool:
    return difflib.SequenceMatcher(None, key, name).ratio() >= 0.8
