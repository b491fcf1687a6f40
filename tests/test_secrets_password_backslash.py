"""A broker password line in /etc/listener/secrets.env that ends in a backslash: systemd's EnvironmentFile= takes
it for "the value goes on", drops it and joins the next line to the password (or, at the file's end, drops it
alone), so `LISTENER_MQTT_PASSWORD=pw\\` above `OTHER=x` sent "pwOTHER=x", the password set but not the one
written, and the broker said only "not authorized". Doctor's report names the line (never the value) and the fix,
and so does its broker line when the login is refused; the values checked against systemd 252's own parser."""

from __future__ import annotations

from pathlib import Path

import pytest

from listener.outputs.mqtt.credentials import PASSWORD_ENV as PW
from listener.service import doctor
from listener.service.doctor import mqtt as doctor_mqtt
from listener.service.doctor import secrets as doctor_secrets
from listener.service.doctor.env_file import read_env_file, read_env_lines
from tests.doctor_config import config
from tests.mqtt_broker import PASSWORD, Mosquitto
from tests.secrets_env import GENERATOR, SECRET, doctors_report, systemd_reads

VALUE, NOTE = "Hd6Rc-Wm2Ny", "Kt9Bf old"  # another line's value, a comment's words: never printed either
FIX = (
    "if the backslash is part of the password, write it twice (\\\\) or put the password in single quotes; if not,"
    " remove the backslash at the end of {0}"
)
ENDS = "but systemd drops the backslash at the end of line {0}"
NOT_WRITTEN = "so the password the service sends is not the one written"


@pytest.mark.parametrize(
    ("text", "password", "said", "lines"),
    [
        (
            f"{PW}={SECRET}\\\nOTHER={VALUE}\n",
            f"{SECRET}OTHER={VALUE}",
            f"line 1 sets {PW}, {ENDS.format(1)} and joins line 2 to the value",
            "line 1",
        ),
        # quoted, and a comment below it: the comment is joined, '#' and all
        (
            f"# the broker\n{PW}='{SECRET}'\\\n# {NOTE}\n",
            f"{SECRET}# {NOTE}",
            f"line 2 sets {PW}, {ENDS.format(2)} and joins line 3 to the value",
            "line 2",
        ),
        # the last line: the backslash is dropped, with or without a line break after it
        (f"{PW}={SECRET}\\", SECRET, f"line 1 sets {PW}, {ENDS.format(1)}", "line 1"),
        (f"{PW}={SECRET}\\\n", SECRET, f"line 1 sets {PW}, {ENDS.format(1)}", "line 1"),
        # a CRLF line end: the backslash escapes the '\r', and the '\n' ends the value
        (f"{PW}={SECRET}\\\r\nOTHER={VALUE}\r\n", SECRET, f"line 1 sets {PW}, {ENDS.format(1)}", "line 1"),
        # it runs on over two lines, spaces kept
        (
            f"{PW}={SECRET}\\\n  {VALUE}\\\n{VALUE}\n",
            f"{SECRET}  {VALUE}{VALUE}",
            f"line 1 sets {PW}, but systemd drops the backslashes at the end of lines 1, 2 and joins lines 2, 3 to the"
            " value",
            "lines 1, 2",
        ),
        # set twice: the last line counts, here joined to an empty line
        (
            f"{PW}={VALUE}\n{PW}={SECRET}\\\n\n",
            SECRET,
            f"line 2 sets {PW}, {ENDS.format(2)} and joins line 3 to the value",
            "line 2",
        ),
    ],
)
def test_a_password_line_that_ends_in_a_backslash_is_named_by_line(
    secrets: Path, tmp_path: Path, text: str, password: str, said: str, lines: str
) -> None:
    assert {found.key: found.value for found in read_env_file(text)}[PW] == password
    if GENERATOR.exists():  # systemd itself
        assert systemd_reads(tmp_path / "env", text)[PW] == password
    secrets.write_text(text)
    check = doctor_secrets.check_password_backslash()
    assert check is not None and check.status == "warn", check
    assert check.detail == f"{secrets} {said}, {NOT_WRITTEN}"
    assert check.fix == f"{FIX.format(lines)}, then `sudo systemctl restart listener`"
    for part in (*SECRET.split("-"), *VALUE.split("-"), *NOTE.split()):
        assert part not in check.line(), part


@pytest.mark.parametrize(
    ("text", "password"),
    [
        (f"{PW}={SECRET}\\\\\n", f"{SECRET}\\"),  # an escaped backslash: part of the password
        (f"{PW}='{SECRET}\\'\n", f"{SECRET}\\"),  # single quotes keep it
        (f'{PW}="{SECRET}\\\\"\n', f"{SECRET}\\"),
        (f"{PW}={SECRET}\\\n\n{PW}={SECRET}\n", SECRET),  # set again below: the service gets that one
        (f"OTHER={VALUE}\\\n\n{PW}={SECRET}\n", SECRET),  # another value's backslash
        (f"{PW}={SECRET}\nOTHER={VALUE}\\", SECRET),  # ... the file's last
        (f"{PW}=\\\n", ""),  # no password at all: the broker check's line names it
    ],
)
def test_a_password_line_whose_backslash_is_kept_or_no_backslash_is_no_warning(
    secrets: Path, tmp_path: Path, text: str, password: str
) -> None:
    assert {found.key: found.value for found in read_env_file(text)}.get(PW, "") == password
    if GENERATOR.exists():
        assert systemd_reads(tmp_path / "env", text).get(PW, "") == password
    secrets.write_text(text)
    assert doctor_secrets.check_password_backslash() is None


def test_the_reader_names_a_values_backslash_that_joins_no_line() -> None:
    assert read_env_lines("A=1\\\r\nB=2\nC=3\\").dropped_backslashes == (1, 3)
    for text in ("A=1\\\n", "A=1\\\\", "A='1\\'", "A='1\\\r\n'", "# a comment\\", "# a comment\\\r\n", "A=1"):
        assert read_env_lines(text).dropped_backslashes == (), text


def test_doctors_report_names_the_line_and_prints_none_of_it(
    secrets: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    doctors_report(secrets, f"# the broker\n{PW}={SECRET}\\\nOTHER={VALUE}\n", tmp_path)
    out = capsys.readouterr().out
    said = f"warn  secrets    {secrets} line 2 sets {PW}, {ENDS.format(2)} and joins line 3 to the value"
    assert said in out, out
    assert FIX.format("line 2") in out.split(said)[1], out
    for part in (*SECRET.split("-"), *VALUE.split("-")):
        assert part not in out, part


# --- the broker refuses the login ------------------------------------------------------------------------------


def test_doctor_puts_the_backslash_first_when_the_broker_refuses_the_login(
    secrets: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the right password, typed with a backslash after it: the service gets the line below it too
    secrets.write_text(f"{PW}={PASSWORD}\\\nOTHER={VALUE}\n")
    joined = {found.key: found.value for found in read_env_file(secrets.read_text())}[PW]
    if GENERATOR.exists():
        assert systemd_reads(tmp_path / "env", secrets.read_text())[PW] == joined
    with Mosquitto(tmp_path / "broker", tls=True) as broker:
        cfg = config(tmp_path, mqtt=broker.mqtt_config())
        monkeypatch.setenv(PW, joined)  # as the service's environment has it
        refused = doctor.check_mqtt(cfg)
        monkeypatch.setenv(PW, "wrong")
        secrets.write_text(f"{PW}=wrong\n")
        wrong = doctor.check_mqtt(cfg)
    assert refused.status == "FAIL", refused
    assert refused.detail == (
        f"broker 127.0.0.1:{broker.port} (TLS) refused the connection: Not authorized; {secrets} line 1 sets {PW},"
        f" {ENDS.format(1)} and joins line 2 to the value, {NOT_WRITTEN}"
    )
    assert refused.fix.startswith(
        f"{FIX.format('line 1')}, then `sudo systemctl restart listener`; refused still: check mqtt.username"
    ), refused.fix
    assert wrong.status == "FAIL" and wrong.fix.startswith("check mqtt.username"), wrong  # no backslash: no hint
    for part in (PASSWORD, *VALUE.split("-")):
        assert part not in refused.line(), part


def test_a_refused_login_without_a_password_in_doctors_environment_names_the_line(
    secrets: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `sudo listener doctor`: no password in its environment, the service's file readable
    secrets.write_text(f"{PW}={SECRET}\\\nOTHER={VALUE}\n")
    monkeypatch.delenv(PW, raising=False)
    refused = "broker 192.0.2.10:8883 refused the connection: Not authorized"
    check = doctor_mqtt._no_password_check(config(tmp_path, mqtt={"enabled": True, "username": "counter"}), refused)
    assert check is not None and check.status == "FAIL", check
    assert check.detail.endswith(
        f"(no {PW}, no mqtt.password_file); in {secrets}, where the service gets it, line 1 sets {PW},"
        f" {ENDS.format(1)} and joins line 2 to the value, {NOT_WRITTEN}"
    ), check.detail
    assert check.fix.startswith(
        f"{FIX.format('line 1')}, then `sudo systemctl restart listener`; refused still: the service reads {PW} from"
    ), check.fix
    for part in (*SECRET.split("-"), *VALUE.split("-")):
        assert part not in check.line(), part


def test_a_refused_anonymous_login_gets_no_password_advice(
    secrets: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No username, no password sent: neither doctor nor the service's journal line points at the password (its
    comment, its secrets.env line), though the environment holds one and the file's line ends in a backslash."""
    from listener.outputs.mqtt.credentials import refused_login_hint

    secrets.write_text(f"{PW}={SECRET}  # {NOTE}\\\nOTHER={VALUE}\n")
    monkeypatch.setenv(PW, f"{SECRET}  # {NOTE}")
    with Mosquitto(tmp_path / "broker", tls=True) as broker:  # no anonymous clients
        cfg = config(tmp_path, mqtt=broker.mqtt_config(username=""))
        check = doctor.check_mqtt(cfg)
    assert (check.status, check.detail) == (
        "FAIL",
        f"broker 127.0.0.1:{broker.port} (TLS) refused the connection: Not authorized",
    ), check
    assert check.fix.startswith("check mqtt.username, the password"), check.fix
    assert refused_login_hint(cfg.mqtt, "Not authorized") == ""
    assert refused_login_hint(config(tmp_path, mqtt={"username": "counter"}).mqtt, "Not authorized")  # a login's
