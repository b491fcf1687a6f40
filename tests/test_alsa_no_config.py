"""No ALSA configuration to read: PortAudio 19.6 aborted the process ('Fatal Python error: Aborted', exit 134)
as it listed the devices; `listener devices` now says what is wrong in one line, and the service waits.

In child processes: an abort would end the test run. Real alsa-lib, PortAudio and pyaudio throughout.
"""

from __future__ import annotations

import ctypes
import os
import selectors
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.alsa_device import AlsaConfig, tones
from tests.cli_run import ENV

FIX = "Fix: check the ALSA configuration: `arecord -L` must list the sound devices, 'default' among them"
CANNOT = "listener: the sound system cannot start: "


def _env(**alsa: str) -> dict[str, str]:
    """This test's $ALSA_CONFIG_PATH or $ALSA_CONFIG_DIR, none from outside."""
    return {**{k: v for k, v in ENV.items() if not k.startswith("ALSA_CONFIG_")}, **alsa}


def _devices(**alsa: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "listener", "devices"],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(**alsa),
        check=False,
    )


def _refused(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2 and "Fatal Python error" not in done.stderr, done.stderr
    assert done.stdout == "" and len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith(CANNOT) and FIX in done.stderr, done.stderr
    return done.stderr


def test_listener_devices_with_alsa_config_path_naming_no_file_says_so_in_a_line(tmp_path: Path) -> None:
    missing = tmp_path / "none.conf"
    said = _refused(_devices(ALSA_CONFIG_PATH=str(missing)))
    assert f"$ALSA_CONFIG_PATH names {missing} (does not exist), so ALSA has no configuration" in said


def test_without_alsa_conf_in_its_folder_listener_devices_names_the_file(tmp_path: Path) -> None:
    # alsa-lib without /usr/share/alsa/alsa.conf, as $ALSA_CONFIG_DIR lets a test have it
    said = _refused(_devices(ALSA_CONFIG_DIR=str(tmp_path)))
    assert f"ALSA reads its configuration from {tmp_path}/alsa.conf (does not exist)" in said


@pytest.mark.parametrize("kind", ["folder", "empty", "leading colon", "link to nothing", "loop of links"])
def test_configurations_alsa_reads_nothing_from_are_refused_too(tmp_path: Path, kind: str) -> None:
    """A link is said with its target and whether it leads round in a loop (it was "a link to nothing" either way)."""
    empty, link = tmp_path / "empty.conf", tmp_path / "asound.conf"
    empty.write_text("")
    link.symlink_to(link if kind == "loop of links" else tmp_path / "gone.conf")
    named = {"folder": str(tmp_path), "empty": str(empty), "leading colon": f":{empty}"}.get(kind, str(link))
    said = _refused(_devices(ALSA_CONFIG_PATH=named))
    expected = {
        "folder": f"names {tmp_path} (a folder, not a file)",
        "empty": f"the ALSA configuration ({empty}) defines no 'default' PCM",
        "leading colon": f"$ALSA_CONFIG_PATH ({named!r}) names no file",
        "link to nothing": f"names {link} (a link to {tmp_path / 'gone.conf'}, which does not exist), so ALSA has",
        "loop of links": f"names {link} (a link to {link}, which leads round in a loop), so ALSA has no configuration",
    }[kind]
    assert expected in said


def test_a_file_this_user_cannot_read_is_refused(tmp_path: Path) -> None:
    private = AlsaConfig(tmp_path / "alsa")
    private.path.chmod(0)
    command = [sys.executable, "-m", "listener", "devices"]
    if os.geteuid() == 0:  # root reads it anyway: drop that power, as the service's own user has none
        if shutil.which("setpriv") is None:
            pytest.skip("root, and no setpriv to drop its override of file permissions")
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--", *command]
    env = _env(ALSA_CONFIG_PATH=str(private.path))
    said = _refused(subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, check=False))
    assert f"names {private.path} (this user cannot read it)" in said


def test_a_missing_file_beside_one_that_is_there_is_left_to_alsa(tmp_path: Path) -> None:
    # alsa-lib skips a file it cannot find and reads the others: nothing to refuse
    private = AlsaConfig(tmp_path / "alsa")
    private.add("listener_test_array", tones(16000, 0.5, 4), 16000)
    done = _devices(ALSA_CONFIG_PATH=f"{tmp_path / 'none.conf'}:{private.path}")
    assert done.returncode == 0, done.stderr
    assert "listener_test_array" in done.stdout


WAITING = """
import sys
from listener.audio.live import LiveSource
from listener.config import parse_config
from listener.events import AudioBlock
from listener.service.logs import setup_logging

setup_logging()
array = {"preset": "respeaker-4mic", "device": "listener_test_array", "reopen_interval_s": 0.1}
config = parse_config({"array": array})
with LiveSource(config, wait=True) as source:
    for event in source.events():
        if isinstance(event, AudioBlock):
            print("audio", flush=True)
            source.stop()
"""


def test_the_service_waits_for_an_alsa_configuration_and_captures_once_there_is_one(tmp_path: Path) -> None:
    """The unit's --wait-for-array: the fault shown once and retried, as for a missing array, instead of an
    abort that systemd restarts every RestartSec; once the configuration is there, capture starts."""
    config_path = tmp_path / "alsa" / "asound.conf"
    env = _env(ALSA_CONFIG_PATH=str(config_path))
    with subprocess.Popen(
        [sys.executable, "-c", WAITING], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    ) as child:
        assert child.stderr is not None
        first = _line_within(child, 60.0)
        assert "the sound system cannot start: $ALSA_CONFIG_PATH names" in first, first
        assert "does not exist" in first and "waiting for it (retrying every 0.1 s)" in first, first
        time.sleep(0.5)  # several retries: none says it again
        private = AlsaConfig(tmp_path / "alsa")
        private.add("listener_test_array", tones(16000, 2.0, 4), 16000)
        out, rest = child.communicate(timeout=60)
    assert child.returncode == 0, first + rest
    assert out == "audio\n" and "Fatal Python error" not in rest and "cannot start" not in rest, rest


def _line_within(child: subprocess.Popen[str], timeout_s: float) -> str:
    assert child.stderr is not None
    with selectors.DefaultSelector() as selector:
        selector.register(child.stderr, selectors.EVENT_READ)
        if not selector.select(timeout_s):
            child.kill()
            pytest.fail(f"nothing on stderr within {timeout_s} s")
    return child.stderr.readline()


MENDED = """
import os, sys
from pathlib import Path
from listener.audio.devices import start_portaudio
from listener.errors import AudioInputError

conf = Path(os.environ["ALSA_CONFIG_PATH"])
try:
    start_portaudio().terminate()
except AudioInputError as exc:
    print("refused:", exc, flush=True)
was = conf.stat()
with conf.open("a") as mended:  # in place, and within the same second
    mended.write("pcm.default { type null }\\n")
os.utime(conf, ns=(was.st_atime_ns, was.st_mtime_ns))
start_portaudio().terminate()
print("started")
"""


def test_a_configuration_mended_while_refused_is_read_afresh(tmp_path: Path) -> None:
    # a configuration that defines no 'default' is refused before PortAudio is reached. alsa-lib only rereads a
    # configuration whose top file changed inode or time, and a file it includes (as alsa.conf includes
    # /etc/asound.conf) not even then: one kept past the refusal hid the fix from the waiting service for good
    conf = tmp_path / "asound.conf"
    conf.write_text("pcm.listener_null { type null }\n")
    env = _env(ALSA_CONFIG_PATH=str(conf))
    done = subprocess.run([sys.executable, "-c", MENDED], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    said = done.stdout.splitlines()
    assert len(said) == 2 and "defines no 'default' PCM" in said[0] and said[1] == "started", said


ALSA_DATA = "/usr/share/alsa"


def test_an_alsa_built_with_its_data_elsewhere_is_asked_where_that_is(tmp_path: Path) -> None:
    """alsa-lib's compiled-in folder is not /usr/share/alsa everywhere (NixOS, a build into /usr/local): the
    check asked that folder, found no alsa.conf and refused an ALSA that PortAudio starts. Here: this system's
    libasound with its folder renamed in the binary (same length), and /usr/share/alsa without alsa.conf."""
    built = _system_library()
    if shutil.which("unshare") is None or built is None or not Path(ALSA_DATA).is_dir():
        pytest.skip("needs unshare (util-linux) and a libasound built with /usr/share/alsa")
    elsewhere = Path(tempfile.mkdtemp(prefix="la", dir="/tmp"))  # /tmp/la + 8: as long as /usr/share/alsa
    try:
        shutil.copytree(ALSA_DATA, elsewhere, symlinks=True, dirs_exist_ok=True)
        (tmp_path / "lib").mkdir()
        (tmp_path / "lib" / "libasound.so.2").write_bytes(
            built.replace(f"{ALSA_DATA}\0".encode(), f"{elsewhere}\0".encode())
        )
        hidden = tmp_path / "hidden"  # /usr/share/alsa as it was, but for alsa.conf (/etc/alsa links into it)
        shutil.copytree(ALSA_DATA, hidden, symlinks=True)
        (hidden / "alsa.conf").unlink()
        home = AlsaConfig(tmp_path / "home")  # read as ~/.asoundrc, through the alsa.conf found or not
        home.add("listener_test_array", tones(16000, 0.5, 4), 16000)
        own = [line for line in home.render().splitlines(keepends=True) if not line.startswith("pcm.default ")]
        (home.directory / ".asoundrc").write_text("".join(own))  # alsa.conf's 'default' is a string node
        env = {**_env(), "LD_LIBRARY_PATH": str(tmp_path / "lib"), "HOME": str(home.directory)}
        script = f"mount --bind {hidden} {ALSA_DATA} && exec {sys.executable} -m listener devices"
        done = subprocess.run(
            ["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, timeout=120, env=env
        )
    finally:
        shutil.rmtree(elsewhere)
    if "mount" in done.stderr and done.returncode != 0:
        pytest.skip(f"no private mounts here: {done.stderr.strip()}")
    assert "cannot start" not in done.stderr and "Fatal Python error" not in done.stderr, done.stderr
    assert done.returncode == 0 and "listener_test_array" in done.stdout, done.stderr


def _system_library() -> bytes | None:
    """This system's libasound as built, if its folder is named once in it."""
    try:
        ctypes.CDLL("libasound.so.2")
    except OSError:
        return None
    maps = Path("/proc/self/maps").read_text().splitlines()
    path = next(line.split()[-1] for line in maps if "/libasound.so.2" in line)
    built = Path(path).read_bytes()
    return built if built.count(f"{ALSA_DATA}\0".encode()) == 1 else None
