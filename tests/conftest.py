from __future__ import annotations

# isort: split
# before numpy loads: it caps the BLAS threads at one, as the service runs (idle OpenBLAS workers spin,
# a core each, and the CPU figures the soak test checks would count them)
import listener  # noqa: F401

# isort: split
import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from hypothesis import settings
from hypothesis.configuration import set_hypothesis_home_dir

from listener.transcription.recognizer import load_model
from tests import asr_audio, privacy_session, synth
from tests.asr_audio import DURATION_S
from tests.mqtt_broker import Mosquitto
from tests.provision_root import BOOKWORM_OS_RELEASE, PI_CONFIG_TXT, install_overlays, require
from tests.run_once import made_once

if TYPE_CHECKING:
    from listener.turns.onnx_model import OnnxTurnModel


@pytest.fixture(autouse=True)
def no_installed_config(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands that read /etc/listener/listener.toml when it exists (doctor, calibrate, leds-off) read the
    built-in defaults in tests (and doctor finds no /etc/listener/secrets.env), also where the suite runs on a
    provisioned device; a test that wants an installed config sets its own."""
    import listener.config
    from listener.service.doctor import secrets as doctor_secrets

    monkeypatch.setattr(listener.config, "INSTALLED_CONFIG", tmp_path_factory.getbasetemp() / "not-installed.toml")
    # and doctor's look at the device's secrets.env
    monkeypatch.setattr(doctor_secrets, "SECRETS_FILE", str(tmp_path_factory.getbasetemp() / "no-secrets.env"))


# A run that decides whether main lands draws the same examples every time (hypothesis derives them from each
# test's source): a property test that passes on a commit passes in its CI run, instead of failing there on
# an example no one has seen. HYPOTHESIS_PROFILE=explore draws fresh examples each run, to look for new
# failures (how the fuzzing passes found theirs); each prints its reproduction.
settings.register_profile("landing", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "landing"))


def pytest_configure(config: pytest.Config) -> None:
    """Hypothesis keeps its example database and caches in .hypothesis under the working folder, the
    checkout, and its plugin writes there while collecting, before any fixture runs: in a temporary folder
    instead, removed at the end. (Failing examples are then not replayed in the next run; each prints its
    reproduction.)"""
    home = Path(tempfile.mkdtemp(prefix="listener-hypothesis-"))
    config.add_cleanup(lambda: shutil.rmtree(home, ignore_errors=True))
    set_hypothesis_home_dir(home)
    _python3_past_its_shim(config)


def _python3_past_its_shim(config: pytest.Config) -> None:
    """Where python3 on PATH is a version manager's shim (pyenv's, on the machines the suite runs on), python3
    in the tests' commands runs the interpreter the shim picks here, without it: provision.sh runs python3
    dozens of times a run, and each call went through a dozen of pyenv's bash scripts first (0.1 s, most
    of the CPU of a run on files): test_provision_config.py took 46 s alone, 26 s without. A test that
    wants another python3 puts its own first on PATH, as before."""
    found = shutil.which("python3")
    if found is None:
        return
    said = subprocess.run(
        [found, "-c", "import sys; print(sys.executable)"], capture_output=True, text=True, timeout=60, check=False
    )
    real = said.stdout.strip()
    if said.returncode != 0 or not real or Path(real).parent == Path(found).parent:
        return  # the interpreter itself (Debian's, a venv's)
    folder = Path(tempfile.mkdtemp(prefix="listener-python3-"))
    config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))
    # a script, not a link: a venv's interpreter finds its pyvenv.cfg beside the path it is run by
    (folder / "python3").write_text(f'#!/bin/sh\nexec {shlex.quote(real)} "$@"\n')
    (folder / "python3").chmod(0o755)
    os.environ["PATH"] = f"{folder}{os.pathsep}{os.environ.get('PATH', '')}"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A real mosquitto on a free port, for this test alone."""
    with Mosquitto(tmp_path / "broker") as b:
        yield b


@pytest.fixture(scope="session")
def privacy_run(tmp_path_factory: pytest.TempPathFactory) -> privacy_session.Session:
    """The privacy audit's run of the whole device path (tests/privacy_session.py): half a minute, so once for
    test_privacy_audit.py and test_privacy_trace.py, in whichever worker (tests/run_once.py)."""
    return made_once(tmp_path_factory, "privacy_run", lambda: privacy_session.run_audit(tmp_path_factory))


@pytest.fixture(scope="session")
def dialogue_4ch(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, object]]]:
    """A 17 s two-party dialogue on the 4-mic square: rep at 0 deg, customer at 180 deg."""
    samples, truth = synth.render(synth.DIALOGUE, 17.0)
    path = synth.write_wav(tmp_path_factory.mktemp("audio") / "dialogue.wav", samples)
    return path, truth


@pytest.fixture(scope="session")
def two_short_visits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two customers 30 s (session_gap_s) apart in 48 s, each with a few seconds of talk: two sessions,
    both under the 20 s of speech a summary needs."""
    customer, rep = "cmu_arctic_us_aew_a0001.wav", "cmu_arctic_us_axb_a0004.wav"
    visits = [synth.Utterance("customer", t0 + 0.5, customer, 180.0) for t0 in (0.0, 40.0)]
    visits += [synth.Utterance("rep", t0 + 5.0, rep, 0.0) for t0 in (0.0, 40.0)]
    samples, _ = synth.render(visits, 48.0)
    return synth.write_wav(tmp_path_factory.mktemp("audio") / "two_visits.wav", samples)


@pytest.fixture(scope="session")
def dialogue_channels(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, object]]]:
    """The same dialogue on two lapel mics: each party's voice reaches the other mic 12 dB down."""
    samples, truth = synth.lapel_dialogue()
    path = synth.write_wav(tmp_path_factory.mktemp("audio") / "lapel.wav", samples)
    return path, truth


def frames(segments: list[dict[str, object]], party: str, n: int, hop_s: float = 0.01) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    for s in segments:
        if s["party"] == party:
            mask[round(float(s["start"]) / hop_s) : round(float(s["end"]) / hop_s)] = True  # type: ignore[arg-type]
    return mask


def f1(truth: np.ndarray, system: np.ndarray) -> float:
    tp = float((truth & system).sum())
    return 2 * tp / float(truth.sum() + system.sum()) if truth.sum() + system.sum() else 1.0


@pytest.fixture
def pi_root(tmp_path: Path) -> Path:
    """A root file system with what provisioning reads: the OS, accounts and the boot config."""
    require("useradd", "passwd")
    require("systemctl", "systemd")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/os-release").write_text(BOOKWORM_OS_RELEASE)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (root / "etc/shadow").write_text("root:*:19000:0:99999:7:::\n")
    (root / "etc/group").write_text("root:x:0:\naudio:x:29:pi\nplugdev:x:46:pi\n")
    (root / "etc/gshadow").write_text("root:*::\naudio:*::pi\nplugdev:*::pi\n")
    install_overlays(root)  # the boards' drivers are installed (test_provision has one without)
    (root / "boot/firmware/config.txt").write_text(PI_CONFIG_TXT)
    return root


@pytest.fixture(scope="session")
def ko_model() -> Path:
    path = asr_audio.korean_model()
    load_model(path)  # once per test session: a few seconds
    return path


@pytest.fixture(scope="session")
def ko_dialogue(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, object]]]:
    return asr_audio.session_dialogue(tmp_path_factory, len(asr_audio.DIALOGUE), DURATION_S)


@pytest.fixture
def secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where doctor looks for /etc/listener/secrets.env, in ``tmp_path`` (not made: each test writes its own)."""
    from listener.service.doctor import secrets as doctor_secrets

    path = tmp_path / "secrets.env"
    monkeypatch.setattr(doctor_secrets, "SECRETS_FILE", str(path))
    return path


@pytest.fixture
def locked(tmp_path: Path) -> Iterator[Path]:
    """A folder nobody may enter (mode 000)."""
    folder = tmp_path / "noaccess"
    folder.mkdir()
    folder.chmod(0)
    yield folder
    folder.chmod(0o755)


TurnModelOpener = Callable[..., "OnnxTurnModel"]


@pytest.fixture
def turn_model() -> Iterator[TurnModelOpener]:
    """Opens turn model stages (the shipped model, or ``path``) for a test, and closes them after it:
    ``turn_model(config=None, path=None)``."""
    from listener.config import Config, parse_config
    from listener.turns.onnx_model import OnnxTurnModel

    def opened(config: Config | None = None, path: Path | None = None) -> OnnxTurnModel:
        return stack.enter_context(OnnxTurnModel(config if config is not None else parse_config({}), path))

    with ExitStack() as stack:
        yield opened
