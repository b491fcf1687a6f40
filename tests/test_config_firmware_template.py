"""firmware/listener.toml.in, the config provision.sh installs: it loads for every preset, with and without
transcription, and its commented lines do what they say once uncommented."""

from __future__ import annotations

from pathlib import Path

import pytest

from listener.cli import main
from listener.config import load_config
from listener.config.presets import PRESETS

FIRMWARE_TEMPLATE = Path(__file__).parent.parent / "firmware" / "listener.toml.in"


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("asr", ["false", "true"])
def test_firmware_config_validates_for_every_preset(tmp_path: Path, preset: str, asr: str) -> None:
    path = tmp_path / "listener.toml"
    path.write_text(_firmware_config(FIRMWARE_TEMPLATE.read_text(), preset, asr))
    assert load_config(path).array.preset == preset


def _firmware_config(template: str, preset: str, asr: str) -> str:
    """The template as provision.sh renders it for ``preset`` (no vosk model path)."""
    for key, value in {"PRESET": preset, "ARRAY_PRESET": preset, "ASR_ENABLED": asr, "ASR_MODEL_PATH": ""}.items():
        template = template.replace(f"@{key}@", value)
    return template


@pytest.mark.parametrize(("key", "value"), [("device_id", "counter-3"), ("suggested_area", "Store 12")])
def test_the_firmware_configs_commented_per_device_keys_set_them_when_uncommented(
    tmp_path: Path, key: str, value: str
) -> None:
    text = FIRMWARE_TEMPLATE.read_text()
    line = f'{key} = "{value}"'
    assert text.count(f"# {line}\n") == 1
    mqtt = text.index("[mqtt]")
    assert mqtt < text.index(f"# {key}") < text.index("[", mqtt + 1), "the line must be in [mqtt]"
    path = tmp_path / "listener.toml"
    path.write_text(_firmware_config(text.replace(f"# {line}", line), "respeaker-4mic", "false"))
    assert getattr(load_config(path).mqtt, key) == value


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_the_installed_config_passes_check_config_unwarned(
    tmp_path: Path, preset: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Its [mqtt] host and port, written under enabled = false, are the defaults: README.md says a key written as
    its default is left alone, and an installer's first check-config of a fresh device says only "ok"."""
    path = tmp_path / "listener.toml"
    path.write_text(_firmware_config(FIRMWARE_TEMPLATE.read_text(), preset, "false"))
    assert main(["check-config", str(path)]) == 0
    said = capsys.readouterr()
    assert said.err == "", said.err
    assert said.out.startswith(f"{path}: ok ({preset}, ")
