"""``listener doctor`` on /etc/listener/secrets.env, the broker password's file: who may read it, the
line that keeps the password from the service, and a comment typed after a value, which systemd keeps
in it. Its values are never printed: a line is named by its number and its key."""

from __future__ import annotations

import difflib
import re
import stat
from pathlib import Path

from listener.service.doctor import Check, warn
from listener.service.doctor.env_file import read_env_file
from listener.small_files import read_small_file

INSTALLED_SECRETS = "/etc/listener/secrets.env"  # listener.service's EnvironmentFile=, where provision.sh puts it
SECRETS_FILE = INSTALLED_SECRETS  # the one looked at: tests point it elsewhere
SECRETS_FIX = "sudo chown root:root {path} && sudo chmod 0600 {path} (provision.sh does both)"


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
    try:
        text = read_small_file(Path(SECRETS_FILE)).decode("utf-8")  # a pipe there: not waited on
    except (OSError, UnicodeDecodeError):
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
        "move the comment to a line of its own, then `sudo systemctl restart listener`; if the '#' is part of the"
        f" value, put the value in single quotes: {commented[0][1]}='...'",
    )


def password_line_problem(name: str) -> str | None:
    """What in the secrets file keeps systemd from setting variable ``name`` for the service, by line
    number and key (never a value); None when it sets it, or the file cannot be read here."""
    try:
        lines = read_small_file(Path(SECRETS_FILE)).decode("utf-8").splitlines()  # a pipe there: not waited on
    except (OSError, UnicodeDecodeError):
        return None
    problems, last_set, empty = [], 0, False
    for number, line in enumerate(lines, 1):
        key, equals, value = line.strip().partition("=")
        key = key.strip()
        if key.startswith("#"):
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
    return "; ".join(problems) or f"it has no {name}= line"


_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _alike(key: str, name: str) -> bool:
    return difflib.SequenceMatcher(None, key, name).ratio() >= 0.8
