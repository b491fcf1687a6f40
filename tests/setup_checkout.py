"""scripts/setup and scripts/demo run in a temporary copy of the checkout, on stand-ins: for
test_setup_script.py. Nothing reaches apt, PyPI or the checkout's own .venv.

The PATH holds the stand-ins (``dpkg-query``, ``apt-get``, ``id``, ``python3``) and links to the few real
programs the scripts use, so that a test decides whether ``sudo`` exists. A stand-in Python answers what
the scripts ask of one: its version, ``-m venv`` (a stand-in venv: the Python, ``bin/listener``, a pip
under ``lib/pip`` unless the venv is to be cut short), ``-m pip --version``, ``-m pip install`` (the test's
own bash in ``pip``, sourced, when there is one) and the import check (which a venv without pip fails).
Every call is logged, one line each, in ``calls``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TOOLS = ("bash", "env", "grep", "sort", "cut", "sha256sum", "cat", "find", "stat", "rm", "mkdir", "cp", "dirname")

PYTHON = r"""#!/usr/bin/env bash
# a stand-in Python @VERSION@
here=$(cd "$(dirname "$0")/.." && pwd)  # a venv's: the venv
echo "$0 $*" >>"$STANDINS/calls"
if [[ $1 == -c ]]; then
	[[ $2 == *version_info* ]] && echo "@VERSION@" && exit 0
	[[ -d $here/lib/pip ]] && exit 0
	echo "ModuleNotFoundError: No module named 'listener'" >&2 && exit 1
fi
[[ $1 == -m ]] || exit 2
if [[ $2 == venv ]]; then
	dir=${!#} && rm -rf "$dir" && mkdir -p "$dir/bin" && cp "$0" "$dir/bin/python"
	cp "$STANDINS/listener" "$dir/bin/listener"
	[[ -e $STANDINS/venv-cut-short ]] && exit 1
	mkdir -p "$dir/lib/pip" && cat "$STANDINS/pip-version" >"$dir/lib/pip/version"
	exit 0
fi
[[ -d $here/lib/pip ]] || { echo "$here/bin/python: No module named pip" >&2 && exit 1; }
[[ " $* " == *" --version "* ]] && echo "pip $(cat "$here/lib/pip/version") from $here/lib/pip" && exit 0
[[ -e $STANDINS/pip ]] && source "$STANDINS/pip"
exit 0
"""

STAND_INS = {  # apt-get runs the test's own bash in ``apt-get``, when there is one
    "dpkg-query": 'grep -qsx "${!#}" "$STANDINS/missing" || echo -n "install ok installed"',
    "apt-get": 'echo "apt-get $*" >>"$STANDINS/calls"\n[[ -e $STANDINS/apt-get ]] && source "$STANDINS/apt-get"\n:',
    "id": '[[ $1 == -u ]] && cat "$STANDINS/uid"',
    "listener": 'echo "listener $* (in $PWD, pins $GPIOZERO_PIN_FACTORY)" >>"$STANDINS/calls"',
}


class Checkout:
    """A copy of scripts/setup and scripts/demo with the files they read, and the stand-ins they run."""

    def __init__(self, tmp_path: Path) -> None:
        self.repo = tmp_path / "repo"
        self.stand_ins = tmp_path / "stand-ins"
        self.bin = self.stand_ins / "bin"
        for folder in (self.repo / "scripts", self.repo / "firmware", self.bin):
            folder.mkdir(parents=True)
        for name in ("scripts/demo", "pyproject.toml", "firmware/constraints.txt", "scripts/constraints-dev.txt"):
            shutil.copy2(REPO / name, self.repo / name)
        # Debian's Python, where the script looks for it: here, a stand-in
        setup = (REPO / "scripts/setup").read_text()
        system_python = self.stand_ins / "usr-bin" / "python3"
        assert "\nSYSTEM_PYTHON=/usr/bin/python3 " in setup
        (self.repo / "scripts/setup").write_text(setup.replace("=/usr/bin/python3 ", f"={system_python} ", 1))
        (self.repo / "scripts/setup").chmod(0o755)
        for name, text in STAND_INS.items():
            self.write_program(self.stand_ins / name if name == "listener" else self.bin / name, text)
        for tool in TOOLS:
            found = shutil.which(tool)
            assert found is not None, tool
            (self.bin / tool).symlink_to(found)
        self.python(system_python, "3.11")
        self.write("uid", "0")
        self.write("pip-version", "23.0.1")  # a new venv's: Debian 12's ensurepip

    def write(self, name: str, text: str) -> None:
        (self.stand_ins / name).write_text(text + "\n")

    @staticmethod
    def write_program(path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text if text.startswith("#!") else f"#!/usr/bin/env bash\n{text}\n")
        path.chmod(0o755)

    def python(self, path: Path, version: str) -> Path:
        """A stand-in Python of that version at ``path`` (python3 on the stand-ins' PATH: ``bin/python3``)."""
        self.write_program(path, PYTHON.replace("@VERSION@", version))
        return path

    def venv(self) -> None:
        """A .venv as a finished run left it."""
        self.python(self.repo / ".venv/bin/python", "3.11")
        (self.repo / ".venv/lib/pip").mkdir(parents=True)
        (self.repo / ".venv/lib/pip/version").write_text("23.0.1\n")

    def calls(self) -> list[str]:
        log = self.stand_ins / "calls"
        return log.read_text().splitlines() if log.exists() else []

    def pip_installs(self) -> list[str]:
        return [c for c in self.calls() if " -m pip " in c and " install " in c]

    def env(self) -> dict[str, str]:
        return {"PATH": str(self.bin), "STANDINS": str(self.stand_ins), "LC_ALL": "C", "HOME": str(self.stand_ins)}

    def run(self, script: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.repo / "scripts" / script), *args],
            cwd=cwd or self.repo,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=60,
        )

    def start(self, script: str) -> subprocess.Popen[str]:
        """The script in a process group of its own, SIGINT as the shell leaves it (a terminal's ^C reaches the
        whole group)."""
        return subprocess.Popen(
            [str(self.repo / "scripts" / script)],
            cwd=self.repo,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )

    def last_line(self, done: subprocess.CompletedProcess[str]) -> str:
        return done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""


def wait_for(path: Path, process: subprocess.Popen[str], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def interrupt(process: subprocess.Popen[str]) -> None:
    os.killpg(process.pid, signal.SIGINT)
