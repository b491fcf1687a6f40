"""``listener doctor`` on /etc/listener/secrets.env, the broker password's file: who may read it. Its
content is never printed."""

from __future__ import annotations

import stat
from pathlib import Path

from listener.service.doctor import Check, warn

SECRETS_FILE = "/etc/listener/secrets.env"  # listener.service's EnvironmentFile=, where provision.sh puts it
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
