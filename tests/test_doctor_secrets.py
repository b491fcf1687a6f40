"""`listener doctor` on /etc/listener/secrets.env (a file in a temporary folder here): who may read it, and that
its content is never printed."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from listener.cli import main
from listener.service import doctor
from listener.service.doctor import mqtt as doctor_mqtt
from listener.service.doctor import secrets as doctor_secrets
from tests.doctor_config import config

ENV = "LISTENER_MQTT_PASSWORD"
PASSWORD_LINE = f"{ENV}=s3cret-value\n"


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
    secrets.write_text(PASSWORD_LINE)
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
    secrets.write_text(PASSWORD_LINE)
    os.chown(secrets, 0, 0)
    secrets.chmod(0o600)
    check = doctor_secrets.check_secrets_file()
    assert check is not None and (check.status, check.detail) == ("ok", f"{secrets} is root's, mode 0600")
    secrets.unlink()
    assert doctor_secrets.check_secrets_file() is None


def test_doctor_ends_its_report_with_the_secrets_line(
    secrets: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    secrets.write_text(PASSWORD_LINE)
    os.chown(secrets, 1000, 1000)
    secrets.chmod(0o664)
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    path = tmp_path / "listener.toml"
    path.write_text(f'[array]\ndevice = "gone"\n[service]\nstate_dir = "{tmp_path}"\n')
    assert main(["doctor", "--config", str(path)]) == 1  # the array is gone; a warning alone fails nothing
    out = capsys.readouterr().out
    assert out.splitlines()[-1].startswith(f"warn  secrets    {secrets} holds the broker password, but is owned")
    assert "s3cret" not in out


REFUSED = "broker 192.0.2.10:8883 refused the connection: Not authorized"


def no_password_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> doctor.Check:
    """doctor's verdict on a login the broker refused, with no password in doctor's environment."""
    monkeypatch.delenv("LISTENER_MQTT_PASSWORD", raising=False)
    check = doctor_mqtt._no_password_check(config(tmp_path, mqtt={"enabled": True, "username": "counter"}), REFUSED)
    assert check is not None and check.status == "FAIL"
    return check


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("# the broker\nLISTENER_MQTT_PASWORD=s3cret-value\n", f"line 2 sets LISTENER_MQTT_PASWORD, not {ENV}"),
        (f"export {PASSWORD_LINE}", "line 1 starts with `export`, which systemd's EnvironmentFile= does not take"),
        (f"{PASSWORD_LINE}{ENV}=\n", f"line 2 sets {ENV} to nothing"),
        ("OTHER=s3cret-value\n", f"it has no {ENV}= line"),
        # the value runs into the key: a ':' or a space where '=' belongs, and '=' in the password (base64)
        (f"{ENV}: s3cret-value==\n", f"line 1 names {ENV} without `=` right after it"),
        (f"{ENV} s3cret-value\n", f"line 1 names {ENV} without `=` right after it"),
    ],
)
def test_the_secrets_line_that_keeps_the_password_from_the_service_is_named(
    secrets: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, said: str
) -> None:
    # the advice was to run doctor with the service's environment (the systemd-run line), which is what had been
    # run: the service got no password from the file either. Where doctor can read it, the line is named
    secrets.write_text(text)
    check = no_password_check(tmp_path, monkeypatch)
    assert check.detail.endswith(f"; {secrets}, where the service gets it, does not set it either: {said}"), check
    assert check.fix == (
        "write the line as `LISTENER_MQTT_PASSWORD=<the password>` (nothing before the name), then "
        "`sudo systemctl restart listener`"
    )
    assert "s3cret" not in check.line()


def test_a_secrets_file_that_sets_the_password_or_cannot_be_read_keeps_the_environment_advice(
    secrets: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets.write_text(PASSWORD_LINE)
    # the file is right, so doctor was run without the service's environment; or doctor cannot tell (not root)
    for readable in (True, False):
        secrets.chmod(0o600 if readable else 0)
        if not readable and os.access(secrets, os.R_OK):  # root reads any file: hide it instead
            monkeypatch.setattr(doctor_secrets, "SECRETS_FILE", str(tmp_path / "locked" / "secrets.env"))
        check = no_password_check(tmp_path, monkeypatch)
        assert "systemd-run line" in check.fix and "`sudo listener doctor` names the line" in check.fix, check
        assert "s3cret" not in check.line()


def test_the_file_looked_at_is_the_one_the_unit_reads() -> None:
    unit = (Path(__file__).resolve().parents[1] / "systemd" / "listener.service").read_text()
    assert f"\nEnvironmentFile=-{doctor_secrets.INSTALLED_SECRETS}\n" in unit


def test_a_secrets_file_that_is_a_pipe_keeps_the_environment_advice_without_a_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # doctor opened it to name the failing line and waited for a writer for ever
    pipe = tmp_path / "secrets.env"
    os.mkfifo(pipe)
    monkeypatch.setattr(doctor_secrets, "SECRETS_FILE", str(pipe))
    checks: list[doctor.Check] = []
    thread = threading.Thread(target=lambda: checks.append(no_password_check(tmp_path, monkeypatch)), daemon=True)
    thread.start()
    thread.join(10)
    waited = thread.is_alive()
    if waited:  # a writer that closes at once lets the open return, and the thread end
        os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(10)
    assert not waited, "doctor waited on the pipe"
    assert "systemd-run line" in checks[0].fix, checks
