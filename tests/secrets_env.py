"""An environment file as systemd itself reads it, for the secrets.env tests to check doctor's reader against, and a
password that must never be printed."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from listener.cli import main

# systemd's environment.d generator reads its files with the parser EnvironmentFile= uses (env-file.c, expanding
# $VARIABLES as well, which these lines hold none of) and prints what it set: systemd itself, without PID 1
GENERATOR = Path("/usr/lib/systemd/user-environment-generators/30-systemd-environment-d-generator")
_C_ESCAPES = {"t": "\t", "n": "\n", "r": "\r"}
SECRET = "Vx7Qk2-pw"  # a password's characters, which no line doctor prints may hold


def systemd_reads(folder: Path, text: str) -> dict[str, str]:
    """What systemd sets from ``text`` as an environment file, read by systemd itself."""
    (folder / "environment.d").mkdir(parents=True)
    (folder / "environment.d" / "secrets.conf").write_text(text)
    env = {"XDG_CONFIG_HOME": str(folder), "HOME": str(folder), "PATH": os.environ.get("PATH", "")}
    out = subprocess.run([GENERATOR], env=env, capture_output=True, text=True, check=True, timeout=10).stdout
    # it prints VAR=value lines, a value with spaces or specials in double quotes, escaped as C escapes them
    said = {}
    for line in out.splitlines():
        key, _, value = line.partition("=")
        if value.startswith('"'):
            value = re.sub(r"\\(.)", lambda escaped: _C_ESCAPES.get(escaped[1], escaped[1]), value[1:-1])
        said[key] = value
    return said


def doctors_report(secrets: Path, text: str, folder: Path) -> None:
    """Run ``listener doctor`` and ``doctor --json`` (their output goes to the caller's capsys) with ``secrets``
    holding ``text`` as provision.sh leaves it (root's, mode 0600), on a config whose array is absent: the
    secrets lines come whatever else fails. The caller sets GPIOZERO_PIN_FACTORY=mock."""
    secrets.write_text(text)
    os.chown(secrets, 0, 0)
    secrets.chmod(0o600)
    path = folder / "listener.toml"
    path.write_text(f'[array]\ndevice = "gone"\n[service]\nstate_dir = "{folder}"\n')
    main(["doctor", "--config", str(path)])
    main(["doctor", "--json", "--config", str(path)])
