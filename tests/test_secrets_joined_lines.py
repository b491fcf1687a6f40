"""A password line in /etc/listener/secrets.env that systemd reads as part of a value above it: the line before ends
in a backslash (``OTHER=x\\`` just above ``LISTENER_MQTT_PASSWORD=...``), or a quote opened above is not closed.
Every systemd version joins it to that value and sets no password from it, and doctor, reading the file line by line,
took the password for set: a refused login got "run doctor with the service's environment". Doctor reads the file
as systemd reads it (systemd 252's own parser agrees, where it is installed), and names the line, what it is part
of and the fix, by line numbers and keys: never a value; its report warns of such a line before any login fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from listener.outputs.mqtt.credentials import PASSWORD_ENV
from listener.service.doctor import mqtt as doctor_mqtt
from listener.service.doctor import secrets as doctor_secrets
from listener.service.doctor.env_file import read_env_file, read_env_lines
from tests.doctor_config import config
from tests.secrets_env import GENERATOR, SECRET, doctors_report, systemd_reads

VALUE = "Lm8Zp-Jq4Tw"  # another line's value, which the password line is joined to: never printed either
PW = PASSWORD_ENV

JOINING = (
    "A=1\\\n"
    "B=2\n"  # 2: A's, the line before ends in a backslash
    "C='x\n"
    "D=3\n"  # 4: C's, its quote is open
    "'\n"  # 5: C's, and closes it
    'E="y\\\n'  # the backslash is the quote's: closing the quote ends the value
    'F=4"\n'  # 7: E's
    "G=5\\\r\n"  # the backslash escapes the '\r', and the '\n' ends the value
    "H=6\n"
    "I='a' \\\n"
    "J=7\n"  # 11: I's
    "K L\n"  # no '=': nothing set
    "M=8"
)


def test_the_lines_a_value_runs_on_into_are_named() -> None:
    read = read_env_lines(JOINING)
    assert [(found.line, found.value_line, found.value_key, found.quote_line, found.key) for found in read.joined] == [
        (2, 1, "A", None, "B"),
        (4, 3, "C", 3, "D"),
        (5, 3, "C", 3, None),
        (7, 6, "E", 6, "F"),
        (11, 10, "I", None, "J"),
    ]
    assert [(found.line, found.key) for found in read.without_value] == [(12, "K L")]
    assert [found.key for found in read.assignments] == [found.key for found in read_env_file(JOINING)]


@pytest.mark.skipif(not GENERATOR.exists(), reason="systemd's environment.d generator is not installed")
def test_systemd_itself_sets_nothing_from_a_line_a_value_runs_on_into(tmp_path: Path) -> None:
    said = systemd_reads(tmp_path, JOINING)
    assert {key for key in said if len(key) == 1} == {"A", "C", "E", "G", "H", "I", "M"}, said
    assert {found.key: found.value for found in read_env_file(JOINING)} == {
        key: value for key, value in said.items() if len(key) == 1
    }


REFUSED = "broker 192.0.2.10:8883 refused the connection: Not authorized"
UNSLASH = "remove the backslash at the end of line {0}; if that value is meant to go on to the next line, move the {1}"
UNQUOTE = (
    "close the quote opened on line {0} where its value ends (a quoted value runs on over line ends to its closing"
)
WRITE = f"write the line as `{PW}=<the password>` (nothing before the name)"


@pytest.mark.parametrize(
    ("text", "said", "fix"),
    [
        (
            f"OTHER={VALUE}\\\n{PW}={SECRET}\n",
            f"line 2 sets {PW}, but systemd reads it as part of the value of OTHER on line 1 above it, which ends in"
            " a backslash",
            f"{UNSLASH.format(1, PW)} line below where it ends",
        ),
        # the value runs on over two lines, and a misspelt line above is named too
        (
            f"LISTENER_MQTT_PASWORD={SECRET}\nOTHER={VALUE}\\\n  more\\\n{PW}={SECRET}\n",
            f"line 1 sets LISTENER_MQTT_PASWORD, not {PW}; line 4 sets {PW}, but systemd reads it as part of the"
            " value of OTHER on lines 2-3 above it, which ends in a backslash",
            f"{UNSLASH.format(3, PW)} line below where it ends",
        ),
        # a key that runs into its value ('OTHER: value') holds some of it: the value is named by its line alone
        (
            f"OTHER: {VALUE}=\\\n{PW}={SECRET}\n",
            f"line 2 sets {PW}, but systemd reads it as part of the value on line 1 above it, which ends in a"
            " backslash",
            f"{UNSLASH.format(1, PW)} line below where it ends",
        ),
        (
            f"OTHER='{VALUE}\n\n{PW}={SECRET}\n'\n",
            f"line 3 sets {PW}, but systemd reads it as part of the value of OTHER on lines 1-2 above it, in a quote"
            " opened on line 1 and not closed before it",
            f"{UNQUOTE.format(1)} quote)",
        ),
        # a backslash at the end of a quote's line: tests/test_secrets_quoted_backslash.py
        # a line that nearly sets it, and is read as part of what is above it: both named, both fixed
        (
            f"# the {VALUE}\\\nexport {PW}={SECRET}\n",
            "line 2 starts with `export`, which systemd's EnvironmentFile= does not take, and systemd 252 (Debian 12)"
            " reads it as part of the comment on line 1 above it, which ends in a backslash",
            f"remove the backslash at the end of line 1, and {WRITE.replace('the line', 'line 2')}",
        ),
        (
            f"OTHER={VALUE}\\\nLISTENER_MQTT_PASWORD={SECRET}\n",
            f"line 2 sets LISTENER_MQTT_PASWORD, not {PW}, and systemd reads it as part of the value of OTHER on line 1"
            " above it, which ends in a backslash",
            f"remove the backslash at the end of line 1, and {WRITE.replace('the line', 'line 2')}",
        ),
        (
            f"OTHER='{VALUE}\nexport {PW}={SECRET}\n'\n",
            "line 2 starts with `export`, which systemd's EnvironmentFile= does not take, and systemd reads it as part"
            " of the value of OTHER on line 1 above it, in a quote opened on line 1 and not closed before it",
            f"close the quote opened on line 1 where its value ends, and {WRITE.replace('the line', 'line 2')}",
        ),
        # Notepad's UTF-8 starts the file with a byte-order mark, which systemd reads as part of the name
        (
            f"\ufeff{PW}={SECRET}\n",
            f"line 1 names {PW} with an invisible U+FEFF (a byte-order mark, which some editors write first) in it,"
            " which systemd keeps: it skips the line",
            WRITE,
        ),
        # a name pasted from a web page, with a no-break space after it
        (
            f"{PW}\xa0= {SECRET}\n",
            f"line 1 names {PW} with an invisible U+00A0 (a no-break space) in it, which systemd keeps: it skips the"
            " line",
            WRITE,
        ),
    ],
)
def test_a_password_line_systemd_reads_as_part_of_another_is_named(
    secrets: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, said: str, fix: str
) -> None:
    if GENERATOR.exists():
        assert PW not in systemd_reads(tmp_path / "env", text)
    secrets.write_text(text)
    monkeypatch.delenv(PW, raising=False)
    check = doctor_mqtt._no_password_check(config(tmp_path, mqtt={"enabled": True, "username": "counter"}), REFUSED)
    assert check is not None and check.status == "FAIL", check
    assert check.detail.endswith(f"; {secrets}, where the service gets it, does not set it either: {said}"), check
    assert check.fix == f"{fix}, then `sudo systemctl restart listener`"
    for part in (*SECRET.split("-"), *VALUE.split("-")):
        assert part not in check.line(), part


@pytest.mark.parametrize(
    "text",
    [
        f"OTHER={VALUE}\\\\\n{PW}={SECRET}\n",  # an escaped backslash: the value ends with its line
        f"OTHER={VALUE}\\\r\n{PW}={SECRET}\r\n",  # the backslash escapes the '\r'
        f"OTHER='{VALUE}'\n{PW}={SECRET}\n",
        f"OTHER={VALUE}\\\n{PW}={SECRET}\n{PW}={SECRET}\n",  # set again below: the service gets that one
        f"OTHER='{VALUE}\n'\n{PW}={SECRET}\n",  # the quote closes above it
    ],
)
def test_a_password_line_no_value_runs_on_into_is_set(secrets: Path, tmp_path: Path, text: str) -> None:
    if GENERATOR.exists():
        assert systemd_reads(tmp_path / "env", text)[PW] == SECRET
    secrets.write_text(text)
    assert doctor_secrets.password_line_problem(PW) is None


# --- doctor's report names a variable line a value above it runs on into -----------------------------------------
# as it names one a comment swallows: the password line below `OTHER=x\` was named only once the broker refused


@pytest.mark.parametrize(
    ("text", "named", "fix"),
    [
        (
            f"OTHER={VALUE}\\\n{PW}={SECRET}\n",
            f"line 2 ({PW}) is read as part of the value of OTHER on line 1 above it, which ends in a backslash",
            "remove the backslash at the end of line 1",
        ),
        # an earlier line sets it: the service gets that one, not the one meant
        (
            f"{PW}={SECRET}\nOTHER={VALUE}\\\n  more\\\n{PW}={SECRET}2\n",
            f"line 4 ({PW}) is read as part of the value of OTHER on lines 2-3 above it, which ends in a backslash",
            "remove the backslash at the end of line 3",
        ),
        # a key that runs into its value ('OTHER: value') holds some of it: the value is named by its line alone
        (
            f"OTHER: {VALUE}=\\\n{PW}={SECRET}\n",
            f"line 2 ({PW}) is read as part of the value on line 1 above it, which ends in a backslash",
            "remove the backslash at the end of line 1",
        ),
        # a quote left open, and a second value that ends in a backslash further down
        (
            f"OTHER='{VALUE}\n\n{PW}={SECRET}\n'\nMORE={VALUE}\\\nLAST={SECRET}\n",
            f"line 3 ({PW}) is read as part of the value of OTHER on lines 1-2 above it, in a quote opened on line 1"
            " and not closed before it, line 6 (LAST) is read as part of the value of MORE on line 5 above it, which"
            " ends in a backslash",
            "remove the backslash at the end of line 5 and close the quote opened on line 1 where its value ends",
        ),
        # the password's own line ends in a backslash: the line below it is lost
        (
            f"{PW}={SECRET}\\\nOTHER={VALUE}\n",
            f"line 2 (OTHER) is read as part of the value of {PW} on line 1 above it, which ends in a backslash",
            "remove the backslash at the end of line 1",
        ),
    ],
)
def test_a_variable_line_a_value_runs_on_into_is_named_by_line_and_key(
    secrets: Path, tmp_path: Path, text: str, named: str, fix: str
) -> None:
    if GENERATOR.exists():  # what systemd itself sets: nothing from the lines named
        said = systemd_reads(tmp_path / "env", text)
        assert {key: value for key, value in said.items() if key in {PW, "OTHER", "MORE", "LAST"}} == {
            found.key: found.value for found in read_env_file(text) if " " not in found.key
        }
    secrets.write_text(text)
    check = doctor_secrets.check_joined_lines()
    assert check is not None and check.status == "warn", check
    assert check.detail == (
        f"{secrets} {named}: systemd joins a line to the value above it while that value's line ends in a backslash"
        " or its quote is open, and sets nothing from it"
    )
    assert check.fix == (
        f"{fix}, then `sudo systemctl restart listener`; if a value is meant to go on over lines, move the line named"
        " below where it ends instead"
    )
    for part in (*SECRET.split("-"), *VALUE.split("-")):
        assert part not in check.line(), part


@pytest.mark.parametrize(
    "text",
    [
        f"OTHER={VALUE}\\\\\n{PW}={SECRET}\n",  # an escaped backslash: the value ends with its line
        f"OTHER={VALUE}\\\r\n{PW}={SECRET}\r\n",  # the backslash escapes the '\r'
        f"OTHER={VALUE}\\\n{PW}={SECRET}\n{PW}={SECRET}\n",  # set again below: the service gets that one
        f"OTHER={VALUE}\\\n  more\n{PW}={SECRET}\n",  # a value that goes on, and sets nothing else
        f"OTHER='{VALUE}\n# not a comment in a quote\n'\n{PW}={SECRET}\n",
        f"OTHER={VALUE}\\\n\n{PW}={SECRET}\n",  # it runs on into the empty line
        f"OTHER={VALUE}\\\nexport {PW}={SECRET}\n",  # no variable systemd sets: the line doctor names at login
        f"{PW}={SECRET}\nOTHER={VALUE}\\",  # the last line: nothing after it
    ],
)
def test_a_value_that_runs_on_into_no_variable_line_is_no_warning(secrets: Path, text: str) -> None:
    secrets.write_text(text)
    assert doctor_secrets.check_joined_lines() is None


def test_doctors_report_names_the_joined_line_and_prints_none_of_it(
    secrets: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    doctors_report(secrets, f"# the broker\nOTHER={VALUE}\\\n{PW}={SECRET}\n", tmp_path)
    out = capsys.readouterr().out
    said = f"warn  secrets    {secrets} line 3 ({PW}) is read as part of the value of OTHER on line 2 above it"
    assert said in out, out
    assert "remove the backslash at the end of line 2" in out.split(said)[1], out
    assert '"detail": "' + said.split("secrets    ")[1] in out, out
    for part in (*SECRET.split("-"), *VALUE.split("-")):
        assert part not in out, part
