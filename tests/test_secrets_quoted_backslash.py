"""A backslash at the end of a line inside double quotes in /etc/listener/secrets.env. systemd's parser
(env-file.c, parse_env_file_internal) reads it in DOUBLE_QUOTE_VALUE_ESCAPE: before a '"' it keeps the quote as
part of the value and goes back to DOUBLE_QUOTE_VALUE, the quote still open (``"pw\\"`` does not end the value: it
runs on to the next '"' or the file's end); before a '\\n' it keeps nothing, the line break eaten and the value going
on. Doctor's reader set the same values, but said "a quote not closed" where the line showed one closed, and its fix,
"close the quote where its value ends", written after such a backslash, was escaped in turn; a password line ending
so was sent with a '"' in it, and nothing said why. Values checked against systemd 252's own parser where installed."""

from __future__ import annotations

from pathlib import Path

import pytest

from listener.outputs.mqtt.credentials import PASSWORD_ENV as PW
from listener.service.doctor import mqtt as doctor_mqtt
from listener.service.doctor import secrets as doctor_secrets
from listener.service.doctor.env_file import QuotedBackslash, read_env_file, read_env_lines
from tests.doctor_config import config
from tests.secrets_env import GENERATOR, SECRET, systemd_reads

VALUE = "Rw5Gd-Yc3Hn"  # another line's value: never printed either
RESTART = "then `sudo systemctl restart listener`"
DOUBLED = "write it twice (\\\\) if it is part of the value, else remove it"


@pytest.mark.parametrize(
    ("text", "values"),
    [
        # DOUBLE_QUOTE_VALUE_ESCAPE, c in SHELL_NEED_ESCAPE ("\"\\`$"): the character alone is kept
        ('K="a\\"b"\n', {"K": 'a"b'}),
        ('K="a\\\\"\n', {"K": "a\\"}),
        ('K="a\\`b"\n', {"K": "a`b"}),
        # ... any other character: kept with its backslash, "like the real shell does"
        ('K="a\\x"\n', {"K": "a\\x"}),
        # ... a '\r' is no '\n': kept with its backslash too, and the quote runs on over the CRLF
        ('K="a\\\r\nL=b"\r\n', {"K": "a\\\r\nL=b"}),
        # a value ending \": the quote is kept and stays open, to the file's end
        ('K="pw\\"\nL=x\n', {"K": 'pw"\nL=x\n'}),
        ('K="pw\\"', {"K": 'pw"'}),
        # ... or to the next '"', which ends it (PRE_VALUE), what follows it unquoted
        ('K="pw\\"\nL="x"\n', {"K": 'pw"\nL=x"'}),
        # c == '\n': nothing kept, the line break eaten (a continuation line)
        ('K="pw\\\nL=x"\n', {"K": "pwL=x"}),
    ],
)
def test_a_backslash_in_double_quotes_is_read_as_systemd_reads_it(
    tmp_path: Path, text: str, values: dict[str, str]
) -> None:
    assert {found.key: found.value for found in read_env_file(text)} == values
    if GENERATOR.exists():  # systemd itself (it prints no variable set to nothing)
        assert {key: value for key, value in systemd_reads(tmp_path, text).items() if key in ("K", "L")} == values


def test_the_reader_names_a_quotes_backslash_at_a_line_end() -> None:
    text = 'A="x\\"\nB=1\n"\nC="y\\\nD=2"\nE="z\\\\"\nF="w\\"'
    read = read_env_lines(text)
    assert read.quoted_backslashes == (
        QuotedBackslash(line=1, value_line=1, quote_line=1, escapes='"'),
        QuotedBackslash(line=4, value_line=4, quote_line=4, escapes="\n"),
        QuotedBackslash(line=7, value_line=7, quote_line=7, escapes='"'),  # the file's end
    )
    assert [(found.line, found.escaped) for found in read.joined] == [
        (2, read.quoted_backslashes[0]),
        (3, read.quoted_backslashes[0]),
        (5, read.quoted_backslashes[1]),
    ]
    for text in ('A="x\\"y"\n', 'A="x\\\\"\n', "A='x\\'\n", 'A=x\\"\n', 'A="x\\" "\n'):
        assert read_env_lines(text).quoted_backslashes == (), text


REFUSED = "broker 192.0.2.10:8883 refused the connection: Not authorized"


@pytest.mark.parametrize(
    ("text", "said", "fix"),
    [
        # the line shows a closed quote: it is an escaped one
        (
            f'OTHER="{VALUE}\\"\n{PW}={SECRET}\n',
            f"line 2 sets {PW}, but systemd reads it as part of the value of OTHER on line 1 above it, in a quote"
            ' opened on line 1 and not closed before it: the \\" at the end of line 1 is a quote in the value, not its'
            " end",
            f"the backslash before the quote at the end of line 1 escapes it: {DOUBLED}",
        ),
        # the quote is open at the line's end: closing it right after the backslash would not close it
        (
            f'# the broker\nOTHER="{VALUE}\\\n{PW}={SECRET}"\n',
            f"line 3 sets {PW}, but systemd reads it as part of the value of OTHER on line 2 above it, in a quote"
            " opened on line 2 and not closed before it",
            "close the quote opened on line 2 where its value ends, after the backslash at the end of line 2, which"
            f" would escape it: {DOUBLED}",
        ),
    ],
)
def test_a_password_line_a_quotes_backslash_runs_on_into_is_named_with_the_backslash(
    secrets: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, said: str, fix: str
) -> None:
    if GENERATOR.exists():
        assert PW not in systemd_reads(tmp_path / "env", text)
        # the fix said before this, a quote written after the backslash: the line is lost still
        followed = text.replace(f"{VALUE}\\\n", f'{VALUE}\\"\n')
        assert PW not in systemd_reads(tmp_path / "followed", followed)
    secrets.write_text(text)
    monkeypatch.delenv(PW, raising=False)
    check = doctor_mqtt._no_password_check(config(tmp_path, mqtt={"enabled": True, "username": "counter"}), REFUSED)
    assert check is not None and check.status == "FAIL", check
    assert check.detail.endswith(f"; {secrets}, where the service gets it, does not set it either: {said}"), check
    assert check.fix == f"{fix} (a quoted value runs on over line ends to its closing quote), {RESTART}"
    report = doctor_secrets.check_joined_lines()
    assert report is not None and report.fix.startswith(fix), report
    for part in (*SECRET.split("-"), *VALUE.split("-")):
        assert part not in check.line() + report.line(), part


ESCAPED = 'systemd reads the \\" at the end of line {0} as a quote in the password, not its end'
NOT_WRITTEN = "so the password the service sends is not the one written"
FIX = (
    "if the backslash is part of the password, write it twice (\\\\) or put the password in single quotes; if not,"
    " remove the backslash {0}"
)


@pytest.mark.parametrize(
    ("text", "password", "said", "fix"),
    [
        # `"pw\"` meant the password pw\: the service sent pw"
        (
            f'{PW}="{SECRET}\\"\n',
            f'{SECRET}"\n',
            ESCAPED.format(1),
            FIX.format("before the quote at the end of line 1"),
        ),
        (f'{PW}="{SECRET}\\"', f'{SECRET}"', ESCAPED.format(1), FIX.format("before the quote at the end of line 1")),
        (
            f'# the broker\n{PW}="{SECRET}\\"\nOTHER={VALUE}\n',
            f'{SECRET}"\nOTHER={VALUE}\n',
            f"{ESCAPED.format(2)} and joins line 3 to the value",
            FIX.format("before the quote at the end of line 2"),
        ),
        # in double quotes, a backslash before the line break drops both, as outside them
        (
            f'{PW}="{SECRET}\\\nOTHER={VALUE}"\n',
            f"{SECRET}OTHER={VALUE}",
            "systemd drops the backslash at the end of line 1 and joins line 2 to the value",
            FIX.format("at the end of line 1"),
        ),
    ],
)
def test_a_password_whose_quote_ends_in_a_backslash_is_named(
    secrets: Path, tmp_path: Path, text: str, password: str, said: str, fix: str
) -> None:
    assert {found.key: found.value for found in read_env_file(text)}[PW] == password
    if GENERATOR.exists():
        assert systemd_reads(tmp_path / "env", text)[PW] == password
    secrets.write_text(text)
    check = doctor_secrets.check_password_backslash()
    assert check is not None and check.status == "warn", check
    number = 2 if text.startswith("#") else 1
    assert check.detail == f"{secrets} line {number} sets {PW}, but {said}, {NOT_WRITTEN}"
    assert check.fix == f"{fix}, {RESTART}"
    for part in (*SECRET.split("-"), *VALUE.split("-")):
        assert part not in check.line(), part


@pytest.mark.parametrize(
    "text",
    [
        f'{PW}="{SECRET}\\\\"\n',  # the backslash written twice: one is the password's, and the quote ends it
        f'{PW}="{SECRET}\\"x"\n',  # an escaped quote inside the value, closed after it: as meant
        f"{PW}='{SECRET}\\'\n",  # single quotes keep the backslash
        f'OTHER="{VALUE}\\"\n"\n{PW}={SECRET}\n',  # another value's quote
    ],
)
def test_a_quoted_password_whose_backslash_ends_no_line_is_no_warning(secrets: Path, text: str) -> None:
    secrets.write_text(text)
    assert doctor_secrets.check_password_backslash() is None
