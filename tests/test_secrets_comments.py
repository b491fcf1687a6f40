"""A comment typed after the broker password in /etc/listener/secrets.env: systemd's EnvironmentFile= takes only a
line that starts with '#' for a comment, so ``LISTENER_MQTT_PASSWORD=s3cret  # shop 12`` sent "s3cret  # shop 12"
as the password and the broker said "not authorized", nothing said why. Doctor names the line (number and key, never
the value), and a refused login whose password holds a '#' after a space says so; against a real mosquitto, with
the file read by systemd 252's own parser where it is installed."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import pytest

from listener.config import parse_config
from listener.outputs.mqtt.credentials import PASSWORD_ENV
from listener.service import doctor
from listener.service.doctor import mqtt as doctor_mqtt
from listener.service.doctor import secrets as doctor_secrets
from listener.service.doctor.env_file import read_env_file, swallowed_lines
from tests.doctor_config import config
from tests.mqtt_broker import PASSWORD, Mosquitto
from tests.mqtt_links import device_link
from tests.secrets_env import GENERATOR, SECRET, doctors_report, systemd_reads
from tests.waiting import wait_until

# a comment's words, which systemd made part of the password: never printed either
NOTE = "nb4Rw shop"
COMMENTED = f"{PASSWORD_ENV}={SECRET}  # {NOTE}\n"

LINES = [
    ("A=s3cret  # shop 12", "s3cret  # shop 12", True),
    ("B='s3cret' # shop", "s3cret# shop", True),  # the quoted part and what follows it are joined
    ('C="s3 #x" # shop', "s3 #x# shop", True),
    ("D=pass\\ #1", "pass #1", False),  # an escaped space: the '#' is meant
    ("E=s3cret\t# tab", "s3cret\t# tab", True),
    ("F=s3#cret", "s3#cret", False),
    ("  G  =  v  # c  ", "v  # c", True),
    ("H='pa #ss'", "pa #ss", False),
    ("# a comment \\", None, False),  # 252: the line after it is the comment's too (254 stopped that)
    ("I=swallowed", None, False),
    ("J=x #a\\", "x #aK=y", True),  # a backslash at the end joins the next line
    ("K=y", None, False),
    ("; also a comment", None, False),
    ('L="a\\"b\\q"', 'a"b\\q', False),
]


def test_the_file_is_read_as_systemd_252_reads_it() -> None:
    text = "".join(f"{line}\n" for line, _, _ in LINES)
    read = {found.key: found for found in read_env_file(text)}
    assert {key: found.value for key, found in read.items()} == {
        line.split("=")[0].strip(): value for line, value, _ in LINES if value is not None
    }
    assert {key for key, found in read.items() if found.commented} == {
        line.split("=")[0].strip() for line, value, commented in LINES if commented
    }
    assert [found.line for found in read_env_file(text)] == [k for k, (_, v, _) in enumerate(LINES, 1) if v is not None]


@pytest.mark.skipif(not GENERATOR.exists(), reason="systemd's environment.d generator is not installed")
def test_what_doctor_reads_is_what_systemd_itself_sets(tmp_path: Path) -> None:
    text = "".join(f"{line}\n" for line, _, _ in LINES) + "M=crlf  # c\r\nN='no end"
    said = systemd_reads(tmp_path, text)
    assert {found.key: found.value for found in read_env_file(text)} == {
        key: value for key, value in said.items() if key in {found.key for found in read_env_file(text)}
    }
    assert said["A"] == "s3cret  # shop 12" and "I" not in said and said["M"] == "crlf  # c"


FIX = (
    "move the comment to a line of its own, then `sudo systemctl restart listener`; if the '#' is part of the value,"
    " put the value in single quotes: {key}='...'"
)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        (COMMENTED, f"line 1 ({PASSWORD_ENV})"),
        (f"# the broker\n\n{PASSWORD_ENV}='{SECRET}'\t# {NOTE}\n", f"line 3 ({PASSWORD_ENV})"),
        (f"OTHER={SECRET} #{NOTE}\n{COMMENTED}", f"line 1 (OTHER), line 2 ({PASSWORD_ENV})"),
        # an earlier line of it is overridden by the later one: the later one is what the service gets
        (f"{PASSWORD_ENV}={SECRET}\n{COMMENTED}", f"line 2 ({PASSWORD_ENV})"),
    ],
)
def test_a_comment_after_a_value_is_named_by_line_and_key(secrets: Path, text: str, named: str) -> None:
    secrets.write_text(text)
    check = doctor_secrets.check_inline_comments()
    assert check is not None and check.status == "warn", check
    assert check.detail == (
        f"{secrets} {named}: the text after '=' holds a '#' after a space, which systemd's EnvironmentFile= keeps in"
        " the value (a comment is a line of its own that starts with #)"
    )
    assert check.fix == FIX.format(key=named.split("(")[1].split(")")[0])
    assert SECRET not in check.line() and NOTE not in check.line()


@pytest.mark.parametrize(
    "text",
    [
        f"# the broker password\n{PASSWORD_ENV}={SECRET}\n",
        f"{PASSWORD_ENV}='{SECRET} #{NOTE}'\n",  # quoted: the '#' is the password's
        f"{PASSWORD_ENV}={SECRET}\\ #{NOTE}\n",
        f"{PASSWORD_ENV}={SECRET}#{NOTE}\n",
        f"{COMMENTED}{PASSWORD_ENV}={SECRET}\n",  # overridden below
        f"export {COMMENTED}",  # no variable systemd sets: the line doctor names when the login fails
    ],
)
def test_a_hash_that_is_part_of_the_value_is_no_warning(secrets: Path, text: str) -> None:
    secrets.write_text(text)
    assert doctor_secrets.check_inline_comments() is None


def test_no_file_or_one_doctor_may_not_read_is_no_line(secrets: Path) -> None:
    assert doctor_secrets.check_inline_comments() is None
    secrets.write_bytes(b"\xff" + COMMENTED.encode())
    assert doctor_secrets.check_inline_comments() is None  # not UTF-8: systemd ignores the line too


def test_a_secrets_file_that_is_a_pipe_is_not_waited_on(secrets: Path) -> None:
    os.mkfifo(secrets)
    checks: list[object] = []
    thread = threading.Thread(target=lambda: checks.append(doctor_secrets.check_inline_comments()), daemon=True)
    thread.start()
    thread.join(10)
    waited = thread.is_alive()
    if waited:  # a writer that closes at once lets the open return, and the thread end
        os.close(os.open(secrets, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(10)
    assert not waited and checks == [None], checks


def test_doctors_report_names_the_line_and_prints_none_of_the_password(
    secrets: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    doctors_report(secrets, f"# the broker\n{COMMENTED}", tmp_path)
    out = capsys.readouterr().out
    said = f"warn  secrets    {secrets} line 2 ({PASSWORD_ENV}): the text after '=' holds a '#' after a space"
    assert said in out, out
    for part in (*SECRET.split("-"), *NOTE.split()):
        assert part not in out, part


# --- the broker refuses the login ------------------------------------------------------------------------------


def _said_by_the_link(tmp_path: Path, caplog: pytest.LogCaptureFixture, **mqtt: object) -> str:
    """The warning the service's link logs when the broker (real mosquitto, with a password) refuses its login."""
    with Mosquitto(tmp_path / "broker", tls=True) as broker, caplog.at_level(logging.WARNING):
        link = device_link(parse_config({"mqtt": broker.mqtt_config(**mqtt)}).mqtt)
        with link:
            wait_until(lambda: "refused the connection" in caplog.text, 10.0)
    return next(r.getMessage() for r in caplog.records if "refused the connection" in r.getMessage())


@pytest.mark.skipif(not GENERATOR.exists(), reason="systemd's environment.d generator is not installed")
def test_a_refused_login_with_a_comment_in_the_password_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the right password, with the comment systemd made part of it: the file read by systemd itself
    monkeypatch.setenv(
        PASSWORD_ENV, systemd_reads(tmp_path / "env", f"{PASSWORD_ENV}={PASSWORD}  # {NOTE}\n")[PASSWORD_ENV]
    )
    said = _said_by_the_link(tmp_path, caplog)
    assert "refused the connection: Not authorized; check mqtt.username" in said, said
    assert (
        f"the broker's ACL; {PASSWORD_ENV} holds a '#' after a space, which systemd's EnvironmentFile= keeps in the"
        " value: move a comment after the password in /etc/listener/secrets.env to a line of its own;"
    ) in said, said
    assert PASSWORD not in caplog.text and NOTE not in caplog.text


def test_a_refused_password_file_with_a_comment_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    password_file = tmp_path / "pw"
    password_file.write_text(f"{PASSWORD} # {NOTE}\n")
    said = _said_by_the_link(tmp_path, caplog, password_file=str(password_file))
    assert f"the password in mqtt.password_file {password_file} holds a '#' after a space, and all of its line" in said
    assert "if a comment follows the password there, delete it" in said and NOTE not in said


def test_a_refused_login_without_a_comment_keeps_its_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "wrong#not-a-comment")
    said = _said_by_the_link(tmp_path, caplog)
    assert "the broker's ACL; " in said and "'#'" not in said, said


DOCTOR_NAMES_IT = (
    f"the broker's ACL; where {PASSWORD_ENV} comes from /etc/listener/secrets.env, `sudo listener doctor` names a line"
    " there that systemd reads otherwise than written (a backslash at a line's end, a quote left open);"
)


def test_a_refused_login_whose_password_line_ends_in_a_backslash_points_to_doctor(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # systemd joined the next line to the password and left no trace of the backslash in it; the service may not
    # read the root-only file to tell, and its journal line said only to check the password
    text = f"{PASSWORD_ENV}={PASSWORD}\\\nOTHER={SECRET}\n"
    read = (
        systemd_reads(tmp_path / "env", text) if GENERATOR.exists() else {f.key: f.value for f in read_env_file(text)}
    )
    monkeypatch.setenv(PASSWORD_ENV, read[PASSWORD_ENV])
    said = _said_by_the_link(tmp_path, caplog)
    assert DOCTOR_NAMES_IT in said, said
    assert PASSWORD not in caplog.text and SECRET not in caplog.text


def test_a_refused_password_file_does_not_point_to_secrets_env(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    password_file = tmp_path / "pw"
    password_file.write_text("wrong\n")
    said = _said_by_the_link(tmp_path, caplog, password_file=str(password_file))
    assert "the broker's ACL; " in said and "secrets.env" not in said, said


def test_doctor_puts_the_comment_first_when_the_broker_refuses_the_login(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Mosquitto(tmp_path / "broker", tls=True) as broker:
        cfg = config(tmp_path, mqtt=broker.mqtt_config())
        monkeypatch.setenv(PASSWORD_ENV, f"{PASSWORD}  # {NOTE}")
        commented = doctor.check_mqtt(cfg)
        monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
        right = doctor.check_mqtt(cfg)
    assert right.status == "ok", right
    assert commented.status == "FAIL", commented
    assert commented.detail == (
        f"broker 127.0.0.1:{broker.port} (TLS) refused the connection: Not authorized; {PASSWORD_ENV} holds a '#'"
        " after a space, which systemd's EnvironmentFile= keeps in the value"
    )
    assert commented.fix.startswith(
        "move a comment after the password in /etc/listener/secrets.env to a line of its own, then `sudo systemctl"
        " restart listener`; refused still: check mqtt.username"
    ), commented.fix
    assert PASSWORD not in commented.line() and NOTE not in commented.line()


# --- a comment that ends in a backslash swallows the line after it (systemd 252) ------------------------------
# Debian 12's systemd reads the line after such a comment as the comment's (254 stopped that): the password line
# below `# old password was ...\` set nothing, and nothing said why.

OLD = "Tg5Hy Pq3Ws"  # a comment's words: a secrets file's comment may hold an old password, never printed either
SWALLOWING = (
    "A=1\n"
    "# old\\\n"
    "B=2\n"  # 3: the comment's
    "# two\\\\\n"  # an escaped backslash: the comment ends with its line
    "C=3\n"
    "# crlf\\\r\n"  # the backslash escapes the '\r', and the '\n' ends the comment
    "D=4\r\n"
    "  ; semi\\\n"
    "# chain\\\n"  # 9: the comment's, and it runs on
    "E=5\\\n"  # 10: the comment's, and it runs on
    "F=6\n"  # 11: the comment's
    "G=7 # x\\\n"  # a value's backslash joins the next line to the value, in every systemd
    "H=8\n"
    "I=9\n"
    "# end\\"
)


def test_the_lines_a_comment_ending_in_a_backslash_swallows_are_named() -> None:
    assert [(found.line, found.comment_line, found.key) for found in swallowed_lines(SWALLOWING)] == [
        (3, 2, "B"),
        (9, 8, None),
        (10, 8, "E"),
        (11, 8, "F"),
    ]


@pytest.mark.skipif(not GENERATOR.exists(), reason="systemd's environment.d generator is not installed")
def test_systemd_itself_sets_nothing_from_a_swallowed_line(tmp_path: Path) -> None:
    said = systemd_reads(tmp_path, SWALLOWING)
    assert {key for key in said if len(key) == 1} == {"A", "C", "D", "G", "I"}, said  # systemd 252's
    assert {found.key: found.value for found in read_env_file(SWALLOWING)} == {
        key: value for key, value in said.items() if len(key) == 1
    }


@pytest.mark.parametrize(
    ("text", "named", "backslashes"),
    [
        (
            f"# {OLD}\\\n{PASSWORD_ENV}={SECRET}\n",
            f"line 2 ({PASSWORD_ENV}) is read as part of the comment on line 1 above it, which ends in a backslash",
            "line 1",
        ),
        # an earlier line sets it: the service gets that one, not the one meant
        (
            f"{PASSWORD_ENV}={SECRET}\n# {OLD}\\\n{PASSWORD_ENV}={SECRET}2\n",
            f"line 3 ({PASSWORD_ENV}) is read as part of the comment on line 2 above it, which ends in a backslash",
            "line 2",
        ),
        # a ';' comment run on by a '#' one that ends in a backslash too, and a second one further down
        (
            f"; {OLD}\\\n# more\\\n{PASSWORD_ENV}={SECRET}\n\n# {OLD}\\\nOTHER={SECRET}\n",
            f"line 3 ({PASSWORD_ENV}) is read as part of the comment on lines 1-2 above it, which ends in a backslash,"
            " line 6 (OTHER) is read as part of the comment on line 5 above it, which ends in a backslash",
            "lines 2, 5",
        ),
    ],
)
def test_a_variable_line_a_comment_swallows_is_named_by_line_and_key(
    secrets: Path, text: str, named: str, backslashes: str
) -> None:
    secrets.write_text(text)
    check = doctor_secrets.check_swallowed_lines()
    assert check is not None and check.status == "warn", check
    assert check.detail == (
        f"{secrets} {named}: systemd 252 (Debian 12) joins the line after a comment that ends in a backslash to the"
        " comment, and sets nothing from it"
    )
    assert check.fix == f"remove the backslash at the end of {backslashes}, then `sudo systemctl restart listener`"
    for part in (*SECRET.split("-"), *OLD.split()):
        assert part not in check.line(), part


@pytest.mark.parametrize(
    "text",
    [
        f"# {OLD}\\\\\n{PASSWORD_ENV}={SECRET}\n",
        f"# {OLD}\\\r\n{PASSWORD_ENV}={SECRET}\r\n",
        f"# {OLD}\\\n\n{PASSWORD_ENV}={SECRET}\n",  # it swallows the empty line
        f"# {OLD}\\\n# the broker\n{PASSWORD_ENV}={SECRET}\n",  # ... or a comment
        f"# {OLD}\\\n{PASSWORD_ENV}={SECRET}\n{PASSWORD_ENV}={SECRET}\n",  # set again below: the service gets it
        f"# {OLD}\\\nexport {PASSWORD_ENV}={SECRET}\n",  # no variable systemd sets: the line doctor names at login
        f"{PASSWORD_ENV}={SECRET}\n# {OLD}\\",  # the last line: nothing after it
    ],
)
def test_a_comment_ending_in_a_backslash_that_loses_no_variable_is_no_warning(secrets: Path, text: str) -> None:
    secrets.write_text(text)
    assert doctor_secrets.check_swallowed_lines() is None


def test_a_refused_login_names_the_swallowed_password_line(
    secrets: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the service got no password, and doctor, seeing the line there, said to run it with the service's environment
    text = f"# the broker's; the {OLD}\\\n{PASSWORD_ENV}={SECRET}\n"
    if GENERATOR.exists():
        assert PASSWORD_ENV not in systemd_reads(tmp_path / "env", text)
    secrets.write_text(text)
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    refused = "broker 192.0.2.10:8883 refused the connection: Not authorized"
    check = doctor_mqtt._no_password_check(config(tmp_path, mqtt={"enabled": True, "username": "counter"}), refused)
    assert check is not None and check.status == "FAIL", check
    assert check.detail.endswith(
        f"; {secrets}, where the service gets it, does not set it either: line 2 sets {PASSWORD_ENV}, but systemd 252"
        " (Debian 12) reads it as part of the comment on line 1 above it, which ends in a backslash"
    ), check.detail
    assert check.fix == "remove the backslash at the end of line 1, then `sudo systemctl restart listener`"
    for part in (*SECRET.split("-"), *OLD.split()):
        assert part not in check.line(), part


def test_doctors_report_names_the_swallowed_line_and_prints_none_of_it(
    secrets: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    doctors_report(secrets, f"# the broker\n# {OLD}\\\n{PASSWORD_ENV}={SECRET}\n", tmp_path)
    out = capsys.readouterr().out
    said = f"warn  secrets    {secrets} line 3 ({PASSWORD_ENV}) is read as part of the comment on line 2 above it"
    assert said in out, out
    assert "remove the backslash at the end of line 2" in out.split(said)[1], out
    for part in (*SECRET.split("-"), *OLD.split()):
        assert part not in out, part


def test_the_installed_template_swallows_no_line_written_below_it(secrets: Path) -> None:
    # provision.sh installs it as the file, and the password line goes below its comments
    template = Path(__file__).resolve().parents[1] / "firmware" / "secrets.env.in"
    secrets.write_text(f"{template.read_text()}{PASSWORD_ENV}={SECRET}\n")
    assert doctor_secrets.check_swallowed_lines() is None
    assert doctor_secrets.password_line_problem(PASSWORD_ENV) is None
