"""`listener doctor` on /etc/listener/secrets.env (a file in a temporary folder here): who may read it, and that
its content is never printed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from listener.cli import main
from listener.service import doctor_secrets

PASSWORD_LINE = "LISTENER_MQTT_PASSWORD=s3cret-value\n"


@pytest.fixture
def secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "secrets.env"
    path.write_text(PASSWORD_LINE)
    monkeypatch.setattr(doctor_secrets, "SECRETS_FILE", str(path))
    return path


@pytest.mark.parametrize(
    ("owner", "mode", "said"),
    [
        (1000, 0o600, "owned by uid 1000, who can read it"),
        (0, 0o644, "mode 0644 lets its group and others in"),
        (0, 0o640, "mode 0640 lets its group in"),
        (1000, 0o664, "owned by uid 1000, who can read it and mode 0664 lets its group and others in"),
    ],
)
def test_a_secrets_file_others_can_read_is_warned_about(secrets: Path, owner: int, mode: int, said: str) -> None:
    # the Pi's login user copied it in (1000:1000, 0664): the broker password was theirs to read, and
    # nothing said so
    os.chown(secrets, owner, owner)
    secrets.chmod(mode)
    check = doctor_secrets.check_secrets_file()
    assert check is not None and check.status == "warn", check
    assert check.detail == f"{secrets} holds the broker password, but is {said}"
    assert check.fix == f"sudo chown root:root {secrets} && sudo chmod 0600 {secrets} (provision.sh does both)"
    assert "s3cret" not in check.line()


def test_a_secrets_file_that_is_roots_alone_is_ok_and_none_is_no_line(secrets: Path) -> None:
    os.chown(secrets, 0, 0)
    secrets.chmod(0o600)
    check = doctor_secrets.check_secrets_file()
    assert check is not None and (check.status, check.detail) == ("ok", f"{secrets} is root's, mode 0600")
    secrets.unlink()
    assert doctor_secrets.check_secrets_file() is None


def test_doctor_ends_its_report_with_the_secrets_line(
    secrets: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    os.chown(secrets, 1000, 1000)
    secrets.chmod(0o664)
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    path = tmp_path / "listener.toml"
    path.write_text(f'[array]\ndevice = "gone"\n[service]\nstate_dir = "{tmp_path}"\n')
    assert main(["doctor", "--config", str(path)]) == 1  # the array is gone; a warning alone fails nothing
    out = capsys.readouterr().out
    assert out.splitlines()[-1].startswith(f"warn  secrets    {secrets} holds the broker password, but is owned")
    assert "s3cret" not in out
