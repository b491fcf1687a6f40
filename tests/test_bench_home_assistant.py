"""bench.home_assistant's cached Home Assistant: an install cut short is made again, not taken as done."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from bench import home_assistant_process as hap


def _pip(calls: list[list[str]], fail_second_step: bool) -> Callable[..., subprocess.CompletedProcess[bytes]]:
    def run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[bytes]:
        calls.append(cmd)
        if cmd[1:3] == ["-m", "venv"]:
            (Path(cmd[3]) / "bin").mkdir(parents=True)
        elif "homeassistant==1.0" in cmd:  # the first pip step brings hass
            (Path(cmd[0]).parents[1] / "bin" / "hass").touch()
            (Path(cmd[0]).parents[1] / "lib" / "python3.13" / "site-packages").mkdir(parents=True)
        elif fail_second_step:
            raise subprocess.CalledProcessError(1, cmd)  # offline, or Ctrl-C, between the two steps
        return subprocess.CompletedProcess(cmd, 0)

    return run


def test_an_install_cut_short_between_its_pip_steps_is_made_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hap, "CACHE", tmp_path)
    monkeypatch.setattr(hap, "requirements", lambda site, domains: ["paho-mqtt==2.1.0"])
    calls: list[list[str]] = []
    monkeypatch.setattr(subprocess, "run", _pip(calls, fail_second_step=True))
    with pytest.raises(subprocess.CalledProcessError):
        hap.install("1.0", "python3")
    assert (tmp_path / "home-assistant-1.0" / "bin" / "hass").exists()  # what used to pass for a finished install
    calls.clear()
    monkeypatch.setattr(subprocess, "run", _pip(calls, fail_second_step=False))
    hass = hap.install("1.0", "python3")
    assert any("paho-mqtt==2.1.0" in cmd for cmd in calls)  # the integrations' requirements, installed this time
    calls.clear()
    assert hap.install("1.0", "python3") == hass and calls == []  # and once done, done
