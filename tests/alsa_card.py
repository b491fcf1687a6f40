"""Capture PCMs that behave as sound cards do, for tests: fixed rates, a fixed sample format, a fixed channel
count, real-time pacing and overruns; PortAudio and pyaudio see them as input devices.

The file PCMs of :mod:`tests.alsa_device` accept any format and rate, so PortAudio never converts and never
refuses a rate: what a 24-bit USB interface or a 48 kHz-only mic makes it do was out of reach. These are an
alsa-lib external plugin (``tests/alsa_card.c``, an ioplug), compiled once per test session with the gcc
and ALSA headers that scripts/setup installs (gcc, portaudio19-dev, which brings libasound2-dev).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

SOURCE = Path(__file__).with_name("alsa_card.c")


@pytest.fixture(scope="session")
def card_plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The plugin, built from SOURCE: its .so, which an ALSA configuration loads by path."""
    gcc = shutil.which("gcc")
    assert gcc is not None, "gcc is missing: run scripts/setup --dev"
    library = tmp_path_factory.mktemp("alsa-card") / "libasound_module_pcm_testcard.so"
    command = [gcc, "-O2", "-shared", "-fPIC", "-DPIC", "-o", str(library), str(SOURCE), "-lasound", "-lm"]
    built = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert built.returncode == 0, f"{' '.join(command)}: {built.stderr}"
    return library


def card_config(path: Path, plugin: Path, cards: dict[str, str], extra: str = "") -> Path:
    """An ALSA configuration at ``path`` with one card per ``cards`` entry: name -> the plugin's fields
    ("rate 48000; channels 2; format S24_3LE; mono 1"), then ``extra`` (plain ALSA configuration: plugs over
    them). A ``default`` that opens to nothing, as PortAudio needs one (tests/alsa_device.py's docstring)."""
    lines = [f'pcm_type.fakemic {{ lib "{plugin}" }}']
    lines += [f'pcm."{name}" {{ type fakemic; {fields} }}' for name, fields in cards.items()]
    lines += [extra] if extra else []
    lines.append('pcm.default { type plug; slave.pcm "listener_no_such_pcm" }')
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def cards(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, card_plugin: Path) -> CardSet:
    """Cards for this test: ``cards.set({...})`` writes them where PortAudio will read (ALSA_CONFIG_PATH)."""
    return CardSet(tmp_path / "cards.conf", card_plugin, monkeypatch)


class CardSet:
    def __init__(self, path: Path, plugin: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.path, self.plugin = path, plugin
        monkeypatch.setenv("ALSA_CONFIG_PATH", str(path))
        card_config(path, plugin, {})

    def set(self, cards: dict[str, str], extra: str = "") -> None:
        card_config(self.path, self.plugin, cards, extra)
