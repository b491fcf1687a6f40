"""scripts/setup and scripts/demo, the README's first commands, on stand-ins (tests/setup_checkout.py): what
a run says, where it stops, and the .venv it leaves, when pip or apt fail, a .venv is unusable or python3
is too old."""

from __future__ import annotations

import shutil
import signal
import sys
from pathlib import Path

import pytest

from tests.setup_checkout import Checkout, interrupt, wait_for


@pytest.fixture
def checkout(tmp_path: Path) -> Checkout:
    return Checkout(tmp_path)


def test_ctrl_c_while_pip_installs_stops_the_demo(checkout: Checkout) -> None:
    """pip went through `grep -v … || true`, which threw its status away: pip stopped by ^C (it exits 1)
    counted as done, and the demo went on to replay the sample, exit 0."""
    # pip as it stops: a Python that catches KeyboardInterrupt, says so, exits 1
    stops = (
        "import pathlib, sys, time\n"
        "pathlib.Path(sys.argv[1]).touch()\n"
        "try:\n    time.sleep(20)\n"
        "except KeyboardInterrupt:\n    print('ERROR: Operation cancelled by user', file=sys.stderr)\n    sys.exit(1)\n"
    )
    started = checkout.stand_ins / "pip-started"
    checkout.write("pip", f'[[ " $* " == *" -e "* ]] && exec {sys.executable} -c "{stops}" {started}')
    demo = checkout.start("demo")
    wait_for(started, demo)
    interrupt(demo)
    _, stderr = demo.communicate(timeout=20)
    assert demo.returncode in (-signal.SIGINT, 128 + signal.SIGINT), (demo.returncode, stderr)
    assert "setup: stopped (Ctrl-C)" in stderr, stderr
    assert not [c for c in checkout.calls() if c.startswith("listener")]  # the demo did not start
    assert not (checkout.repo / ".venv/.listener-setup").exists()  # nor counts as installed


def test_a_pip_that_fails_stops_setup_and_names_the_step(checkout: Checkout) -> None:
    """A bad pin (ResolutionImpossible) and the demo ran on the old environment, exit 0."""
    checkout.venv()
    checkout.write(
        "pip", 'echo "ERROR: ResolutionImpossible: for help visit https://pip.pypa.io/en/latest/" >&2\nexit 1'
    )
    done = checkout.run("demo")
    assert done.returncode == 1, done.stderr
    assert "ERROR: ResolutionImpossible" in done.stdout  # pip's own reason, then the step's
    last = checkout.last_line(done)
    assert last.startswith("setup: pip could not install the package and its dependencies into .venv"), last
    assert "ResolutionImpossible, the pins in firmware/constraints.txt" in last
    assert "(the network, a proxy in pip.conf) and the clock (`date`" in last  # https refuses on a clock behind
    assert not [c for c in checkout.calls() if c.startswith("listener")]


def test_a_venv_of_another_user_is_said_before_pip_fails_in_it(checkout: Checkout) -> None:
    """pip's Permission denied (a .venv made by `sudo scripts/setup`) was swallowed as well."""
    checkout.venv()
    checkout.write("uid", "54321")  # not the .venv's owner
    checkout.write("pip", "echo \"ERROR: [Errno 13] Permission denied: '.venv/lib'\" >&2\nexit 1")
    done = checkout.run("setup")
    assert done.returncode == 1, done.stderr
    last = checkout.last_line(done)
    assert last.startswith("setup: .venv is not yours (.venv is owned by "), last
    assert "remove it (sudo rm -rf .venv) and run scripts/setup again as yourself" in last
    assert checkout.pip_installs() == []


def test_a_venv_without_pip_is_made_again(checkout: Checkout) -> None:
    """^C while the first run's ensurepip ran left a .venv without pip: every run after said
    `No module named pip` and "the Python environment is incomplete", and never mended it."""
    checkout.write("venv-cut-short", "")
    first = checkout.run("setup")
    assert first.returncode == 1 and "could not make .venv" in checkout.last_line(first), first.stderr
    (checkout.stand_ins / "venv-cut-short").unlink()
    done = checkout.run("setup")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[:2] == [
        "setup: .venv cannot be used (it has no pip: the run that made it was cut short?): making it again with "
        f"{checkout.stand_ins}/usr-bin/python3 (3.11)",
        "setup: installing Python packages into .venv (first run: several minutes)…",
    ]
    assert (checkout.repo / ".venv/lib/pip").is_dir() and len(checkout.pip_installs()) == 1


def test_the_venv_is_made_with_debians_python_not_an_older_one_first_on_path(checkout: Checkout) -> None:
    """A pyenv's 3.10 first on PATH made the .venv, which pip then refused ("requires a different Python"),
    and that .venv stayed."""
    checkout.python(checkout.bin / "python3", "3.10")
    done = checkout.run("setup")
    assert done.returncode == 0, done.stderr
    assert "a stand-in Python 3.11\n" in (checkout.repo / ".venv/bin/python").read_text()
    # and a .venv made with it before is made again
    checkout.python(checkout.repo / ".venv/bin/python", "3.10")
    done = checkout.run("setup")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("setup: .venv cannot be used (its Python is 3.10, listener needs 3.11 or newer)")
    assert checkout.calls().count(f"{checkout.stand_ins}/usr-bin/python3 -m venv --clear .venv") == 2


def test_python3_on_path_when_debians_is_too_old_and_a_clear_word_when_none_is_new_enough(checkout: Checkout) -> None:
    checkout.python(checkout.stand_ins / "usr-bin/python3", "3.9")
    path_python = checkout.python(checkout.bin / "python3", "3.12")
    assert checkout.run("setup").returncode == 0
    assert f"{path_python} -m venv --clear .venv" in checkout.calls()
    shutil.rmtree(checkout.repo / ".venv")
    checkout.python(path_python, "3.10")
    done = checkout.run("setup")
    assert done.returncode == 1 and not (checkout.repo / ".venv").exists()
    assert checkout.last_line(done) == (
        f"setup: listener needs Python 3.11 or newer, and found {checkout.stand_ins}/usr-bin/python3 (3.9), "
        f"{path_python} (3.10): Debian 12 / Raspberry Pi OS Bookworm's python3 package is 3.11 and Debian 13 / "
        f"Trixie's 3.13 (at "
        f"{checkout.stand_ins}/usr-bin/python3); elsewhere put a Python 3.11 or newer first on PATH as python3"
    )


def test_missing_packages_without_sudo_say_to_run_it_as_root(checkout: Checkout) -> None:
    """`scripts/setup: line 23: sudo: command not found`, exit 127, for a user without sudo."""
    checkout.write("missing", "portaudio19-dev\nlibsndfile1")
    checkout.write("uid", "54321")
    done = checkout.run("setup")
    assert done.returncode == 1, done.stderr
    assert done.stderr == (
        "setup: these Debian packages are missing: portaudio19-dev libsndfile1; sudo is not installed: run "
        "scripts/setup as root (or install sudo, or have root run: apt-get install portaudio19-dev libsndfile1)\n"
    )
    assert checkout.calls() == []


@pytest.mark.parametrize("fails", ["update", "install"])
def test_a_failed_apt_get_names_the_step(checkout: Checkout, fails: str) -> None:
    """apt's own E: line was all a failed apt-get said."""
    checkout.write("missing", "portaudio19-dev")
    checkout.write("apt-get", f'[[ " $* " == *" {fails} "* ]] && echo "E: Failed to fetch" >&2 && exit 100')
    done = checkout.run("setup")
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines()[0] == "E: Failed to fetch"
    step = "apt-get update" if fails == "update" else "apt-get install portaudio19-dev"
    assert checkout.last_line(done).startswith(f"setup: {step} failed (its reason above)"), done.stderr
    if fails == "update":  # a clock behind fails the update too ("not valid yet"), where the network is fine
        assert "check the network, the clock (`date`" in checkout.last_line(done), done.stderr
    assert checkout.pip_installs() == []


def test_the_demo_runs_the_listener_from_where_it_was_started(checkout: Checkout, tmp_path: Path) -> None:
    """scripts/demo changed to the checkout first: `--config my.toml` from elsewhere was the checkout's."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = checkout.run("demo", "--config", "my.toml", cwd=elsewhere)
    assert done.returncode == 0, done.stderr
    assert checkout.calls()[-1] == f"listener run --demo-fallback --config my.toml (in {elsewhere}, pins mock)"


def test_setup_says_it_installs_and_a_run_again_is_quiet_and_needs_no_network(checkout: Checkout) -> None:
    """Half a minute of nothing while pip installed (minutes on a Pi), and pip upgraded itself every run
    (offline: half a minute of retries)."""
    done = checkout.run("setup", "--dev")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "setup: installing Python packages into .venv (first run: several minutes)…\n"
    (install,) = checkout.pip_installs()  # Debian's pip (23.0.1) is kept
    assert install.endswith(
        "-e .[dev] --constraint=firmware/constraints.txt --constraint=scripts/constraints-dev.txt"
    ), install
    for again in ("--dev", ""):  # scripts/test, then scripts/demo
        done = checkout.run("setup", *filter(None, [again]))
        assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert len(checkout.pip_installs()) == 1
    # new pins: installed again, and said
    with (checkout.repo / "firmware/constraints.txt").open("a") as pins:
        pins.write("srt==3.5.3\n")
    done = checkout.run("setup")
    assert done.stdout == "setup: updating the Python packages in .venv to pyproject.toml and the pins…\n"
    assert len(checkout.pip_installs()) == 2


def test_a_pip_older_than_debians_is_upgraded(checkout: Checkout) -> None:
    checkout.write("pip-version", "22.0.4")
    done = checkout.run("setup")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("setup: upgrading pip 22.0.4 in .venv\n")
    assert checkout.pip_installs()[0].endswith("install -q --upgrade pip")


def test_on_python_3_13_pyaudio_is_built_with_the_venvs_own_setuptools(checkout: Checkout) -> None:
    """On Debian 13 (Raspberry Pi OS Trixie, Python 3.13) scripts/setup stopped at pip building PyAudio 0.2.13
    (no Linux wheel; the pin is Debian's own version, which a device takes from apt): its sdist asks for
    setuptools<=65.1.1 to build with, and that setuptools fails on Python 3.12 and newer ("module 'pkgutil' has no
    attribute 'ImpImporter'"), measured with pip 24.2 in a Python 3.13 venv. Built there with the setuptools and
    wheel setup puts in .venv first (--no-build-isolation; so built, it imports), then the package; on 3.11 pip
    builds it as before (test_setup_says_it_installs_and_a_run_again_is_quiet_and_needs_no_network: one pip)."""
    checkout.python(checkout.stand_ins / "usr-bin/python3", "3.13")
    done = checkout.run("setup")
    assert done.returncode == 0, done.stderr
    assert [call.split(" install ", 1)[1] for call in checkout.pip_installs()] == [
        "-q setuptools wheel",
        "-q --no-build-isolation --constraint=firmware/constraints.txt PyAudio",
        "-q -e . --constraint=firmware/constraints.txt",
    ]
    assert "a stand-in Python 3.13\n" in (checkout.repo / ".venv/bin/python").read_text()
