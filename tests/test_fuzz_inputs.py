"""Bad input through the device's other doors: the environment it reads, and the files its settings name.

The config's text, WAVs, the inbound MQTT topic and analytics timelines have their own passes (test_fuzz.py,
test_fuzz_cli.py). Here: the broker password (LISTENER_MQTT_PASSWORD, mqtt.password_file), the turn model and its
sidecar, the TLS files, the spool and its folder, a config that is a socket, TZ and systemd's variables, fed what
a path or a variable may hold: text that is no UTF-8, more than MQTT carries, a pipe nobody writes to, a link to
/dev/zero or round in a loop. Each is one line on stderr with its fix and exit 2 (or, where running makes sense,
a warning and a run that goes on), never a traceback, a wait for ever or a process the kernel kills for its
memory. The cases run the real command in a child process, its address space capped, so a regression fails the
test instead of taking the machine's memory.
"""

from __future__ import annotations

import os
import resource
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion

from listener.config import parse_config
from listener.errors import OutputError
from listener.outputs.mqtt.credentials import PASSWORD_ENV, read_password
from listener.outputs.mqtt.stage import SPOOL_FILE
from listener.turns.spec import shipped_model_path, sidecar_path
from tests.cli_run import CONFIG, ENV, SAMPLE, one_line
from tests.mqtt_broker import BASE, Mosquitto, Recorder, service_config

MEMORY_CAP_BYTES = 4 << 30  # a run needs well under 1 GiB; reading /dev/zero whole needed all the machine had
WAIT_S = 60  # a run of the sample takes about 2 s; a pipe held the open for ever
MQTT_LIMIT = 65535  # bytes in an MQTT string, the password's too
FUZZ = settings(
    max_examples=80,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _capped() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP_BYTES, MEMORY_CAP_BYTES))


def _listener(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``listener ARGS`` in a child process whose memory is capped, killed if it outlasts WAIT_S."""
    return subprocess.run(
        [sys.executable, "-m", "listener", *args],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=WAIT_S,
        env=env or ENV,
        preexec_fn=_capped,
    )


def _run(config: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return _listener("run", "--fast", "--input", str(SAMPLE), "--config", str(config), env=env)


def _config(tmp_path: Path, extra: str) -> Path:
    """A listener.toml logging in to a broker as 'counter' (the run stops before it connects), plus ``extra``."""
    path = tmp_path / "listener.toml"
    mqtt = "[mqtt]\nenabled = true\nhost = '127.0.0.1'\nport = 9\ndevice_id = 'fuzz'\nusername = 'counter'\n"
    path.write_text(f"{CONFIG}[service]\nstate_dir = '{tmp_path / 'state'}'\n{mqtt}{extra}")
    return path


def _without_password() -> dict[str, str]:
    return {k: v for k, v in ENV.items() if k != PASSWORD_ENV}


# --- LISTENER_MQTT_PASSWORD --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "said"),
    [
        # paho raised UnicodeEncodeError at the start: a traceback
        (os.fsdecode(b"\xff\xfe-pw"), f"{PASSWORD_ENV} is not UTF-8 text: write mqtt.username's password there"),
        # every connect failed with "'H' format requires 0 <= number <= 65535", said as an unreachable broker
        # (check mqtt.host and mqtt.port), and every metric stayed in the spool
        ("a" * (MQTT_LIMIT + 1), f"{PASSWORD_ENV} is 65536 UTF-8 bytes long; at most 65535, MQTT's limit"),
        ("\u00e9" * 32768, f"{PASSWORD_ENV} is 65536 UTF-8 bytes long"),  # 32768 characters, two bytes each
        # quotes spanning lines in secrets.env: all of it was sent, and the broker said only "not authorized"
        ("s3cret\n# the old one: 0ld-s3cret", f"{PASSWORD_ENV} holds more than one line, all of which the broker"),
        ("\r\n\n", f"{PASSWORD_ENV} holds only line breaks: set it to mqtt.username's password alone"),
    ],
    ids=["not-utf8", "too-long", "too-long-in-bytes", "two-lines", "line-breaks"],
)
def test_a_password_in_the_environment_mqtt_cannot_carry_is_one_line(tmp_path: Path, password: str, said: str) -> None:
    result = _run(_config(tmp_path, ""), {**ENV, PASSWORD_ENV: password})
    line = one_line(result, said, "/etc/listener/secrets.env")
    assert not any(part.strip() and part in line for part in password.splitlines()), line  # never echoed


def test_a_password_as_long_as_mqtt_carries_logs_in_and_publishes(broker: Mosquitto, tmp_path: Path) -> None:
    # the limit is MQTT's, not one byte short of it: the anonymous broker takes any password
    config = service_config(tmp_path, broker, username="counter")
    with Recorder(broker) as recorder:
        result = _run(config, {**ENV, PASSWORD_ENV: "p" * MQTT_LIMIT})
        assert result.returncode == 0, result.stderr
        got = recorder.wait_for(lambda ms: any(m.topic == f"{BASE}/metrics" for m in ms))
    assert any(m.topic == f"{BASE}/metrics" for m in got)


# --- mqtt.password_file ------------------------------------------------------------------------------


@pytest.fixture
def listening_socket(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "password.sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        yield path


def _password_file(tmp_path: Path, kind: str, sock: Path) -> Path:
    path = tmp_path / "password"
    if kind == "pipe":
        os.mkfifo(path)  # nobody writes to it: the open waited for ever, deaf to SIGTERM
    elif kind == "device":
        path.symlink_to("/dev/zero")  # read whole: the kernel killed the run for its memory
    elif kind == "socket":
        path.symlink_to(sock)  # "No such device or address"
    elif kind == "huge":
        with path.open("wb") as file:
            file.truncate(2 << 20)  # read whole, too
    else:
        path.write_text("p" * (MQTT_LIMIT + 1) + "\n")
    return path


@pytest.mark.parametrize(
    ("kind", "said"),
    [
        ("pipe", "(a pipe, not a file): check the path"),
        ("device", "(a device, not a file): check the path"),
        ("socket", "(a socket, not a file): check the path"),
        ("huge", "(larger than 1 MiB, far more than such a file holds): check the path"),
        ("too-long", "is 65536 UTF-8 bytes long; at most 65535, MQTT's limit: write mqtt.username's password"),
    ],
)
def test_a_password_file_that_is_no_password_is_one_line(
    tmp_path: Path, listening_socket: Path, kind: str, said: str
) -> None:
    path = _password_file(tmp_path, kind, listening_socket)
    result = _run(_config(tmp_path, f"password_file = '{path}'\n"), _without_password())
    one_line(result, f"mqtt.password_file {path} ", said)


@pytest.mark.parametrize(
    "text",
    [
        "s3cret\n# for the broker at the office\n",  # a note after it
        "s3cret\r\n0ld-s3cret\r\n",  # the old password kept below, CRLF
        "s3cret\n\nnotes: rotated in May\n",  # an editor's blank line, then notes
        "\ns3cret\n",  # not on the first line
        "s3cret\r0ld-s3cret",  # old Mac line break
    ],
    ids=["note", "old-password-crlf", "blank-then-notes", "second-line", "cr"],
)
def test_a_password_file_of_several_lines_is_one_line_that_shows_none(tmp_path: Path, text: str) -> None:
    # all of it was sent as the password: the broker refused "not authorized" and nothing said why
    path = tmp_path / "password"
    path.write_bytes(text.encode("utf-8"))
    result = _run(_config(tmp_path, f"password_file = '{path}'\n"), _without_password())
    line = one_line(
        result,
        f"mqtt.password_file {path} holds more than one line, all of which the broker would take for the password:"
        f" keep only the password, on its first line, or set {PASSWORD_ENV} instead",
    )
    assert "s3cret" not in line and "note" not in line  # a secret: never shown


@pytest.mark.parametrize("text", ["s3cret", "s3cret\n", "s3cret\r\n", "s3cret\n\n \t\n", "s3cret\r\n\r\n"])
def test_a_password_file_ends_in_any_line_breaks_and_blank_lines(tmp_path: Path, text: str) -> None:
    # as an editor saves it; the environment's value is read alike
    path = tmp_path / "password"
    path.write_bytes(text.encode("utf-8"))
    config = parse_config({"mqtt": {"username": "counter", "password_file": str(path)}}).mqtt
    saved = os.environ.pop(PASSWORD_ENV, None)
    try:
        assert read_password(config) == "s3cret"
        os.environ[PASSWORD_ENV] = text
        assert read_password(config) == "s3cret"
    finally:
        os.environ.pop(PASSWORD_ENV, None)
        if saved is not None:
            os.environ[PASSWORD_ENV] = saved


@FUZZ
@given(
    value=st.binary(min_size=1, max_size=200).filter(lambda b: b"\0" not in b),
    repeat=st.sampled_from([1, 400]),
    in_file=st.booleans(),
)
def test_any_password_is_sent_or_refused_in_its_own_words(
    tmp_path: Path, value: bytes, repeat: int, in_file: bool
) -> None:
    # whatever the variable or the file holds: a password paho can send, or the listener's one error
    password_file = tmp_path / "password"
    password_file.write_bytes(value * repeat)
    config = parse_config({"mqtt": {"username": "counter", "password_file": str(password_file) * in_file}})
    saved = os.environ.pop(PASSWORD_ENV, None)
    try:
        if not in_file:
            os.environ[PASSWORD_ENV] = os.fsdecode(value * repeat)
        try:
            password = read_password(config.mqtt)
        except OutputError as exc:
            assert "\n" not in str(exc)
            return
    finally:
        os.environ.pop(PASSWORD_ENV, None)
        if saved is not None:
            os.environ[PASSWORD_ENV] = saved
    assert password is not None and 0 < len(password.encode("utf-8")) <= MQTT_LIMIT
    paho.Client(CallbackAPIVersion.VERSION2).username_pw_set("counter", password)


# --- the turn model's sidecar ------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "said"), [("pipe", "(a pipe, not a file)"), ("device", "(a device, not a file)")])
def test_a_sidecar_that_is_no_file_is_one_line_and_a_doctor_fail(tmp_path: Path, kind: str, said: str) -> None:
    model = tmp_path / "turn.onnx"
    shutil.copyfile(shipped_model_path(), model)
    side = sidecar_path(model)
    if kind == "pipe":
        os.mkfifo(side)  # the run and doctor waited for a writer for ever
    else:
        side.symlink_to("/dev/zero")  # read whole: MemoryError's traceback, or the kernel's kill
    config = tmp_path / "turn.toml"
    config.write_text(f"{CONFIG}[turn_model]\npath = '{model}'\n[service]\nstate_dir = '{tmp_path / 'state'}'\n")
    one_line(_run(config), f"its sidecar {side} is missing or unreadable {said}")
    report = _listener("doctor", "--config", str(config))
    rows = [row for row in report.stdout.splitlines() if row.startswith("FAIL") and "turn model" in row]
    assert len(rows) == 1 and said in rows[0], report.stdout


# --- the spool and its folder ------------------------------------------------------------------------


def _no_file_at(path: Path, kind: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "pipe":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/null")


@pytest.mark.parametrize("kind", ["pipe", "device"])
def test_a_spool_that_is_no_file_is_named_not_blamed_on_the_card(tmp_path: Path, kind: str) -> None:
    # sqlite's "disk I/O error" of it was said as a failing card: "check `dmesg` ..., repair or replace the card"
    config = _config(tmp_path, "")
    spool = tmp_path / "state" / SPOOL_FILE
    _no_file_at(spool, kind)
    line = one_line(_run(config, {**ENV, PASSWORD_ENV: "pw"}), f"{spool} is a {kind}, where the spool file belongs")
    assert "card" not in line
    report = _listener("doctor", "--config", str(config)).stdout  # it said the disk was ok
    rows = [row for row in report.splitlines() if row.startswith("FAIL  disk")]
    assert len(rows) == 1 and f"{spool} is a {kind}, where the spool file belongs" in rows[0], report


@pytest.mark.parametrize("kind", ["pipe", "device"])
def test_a_state_dir_that_is_no_folder_is_named_as_what_it_is(tmp_path: Path, kind: str) -> None:
    # the run said "(File exists)", doctor "is a file, not a folder"
    config = _config(tmp_path, "")
    _no_file_at(tmp_path / "state", kind)
    said = f"{tmp_path / 'state'} is a {kind}, not a folder"
    one_line(_run(config, {**ENV, PASSWORD_ENV: "pw"}), said, "point [service] state_dir at a folder")
    report = _listener("doctor", "--config", str(config)).stdout
    assert any(row.startswith("FAIL  disk") and said in row for row in report.splitlines()), report


# --- what stands where a configured file belongs -----------------------------------------------------


def _not_a_file(path: Path, kind: str) -> str:
    """Something other than a file at ``path``, and how the message names it (each was "does not exist")."""
    if kind == "pipe":
        os.mkfifo(path)
        return "is a pipe, not a file"
    if kind == "device":
        path.symlink_to("/dev/zero")
        return "is a device, not a file"
    path.symlink_to(path)
    return f"is a link to {path}, which leads round in a loop"


@pytest.mark.parametrize("kind", ["pipe", "device", "loop"])
def test_a_tls_file_that_is_no_file_is_named_as_what_it_is(tmp_path: Path, kind: str) -> None:
    said = _not_a_file(tmp_path / "ca.pem", kind)
    config = _config(tmp_path, f"tls = true\nca_file = '{tmp_path / 'ca.pem'}'\n")
    one_line(_run(config, {**ENV, PASSWORD_ENV: "pw"}), f"mqtt.ca_file {tmp_path / 'ca.pem'} {said}: point it at")


@pytest.mark.parametrize("kind", ["pipe", "device", "loop"])
def test_a_turn_model_that_is_no_file_is_named_as_what_it_is_not_missing(tmp_path: Path, kind: str) -> None:
    model = tmp_path / "turn.onnx"
    said = _not_a_file(model, kind)
    shutil.copyfile(sidecar_path(shipped_model_path()), sidecar_path(model))
    config = tmp_path / "turn.toml"
    config.write_text(f"{CONFIG}[turn_model]\npath = '{model}'\n[service]\nstate_dir = '{tmp_path / 'state'}'\n")
    one_line(_run(config), f"turn model {model} {said}: set [turn_model] path to its .onnx file")


@pytest.mark.parametrize("command", [["analyze"], ["run", "--fast", "--input"]])
def test_a_socket_given_as_the_recording_is_called_a_socket(listening_socket: Path, command: list[str]) -> None:
    # it was called "a pipe", which sent the installer looking for a mkfifo nobody made
    result = _listener(*command, str(listening_socket))
    one_line(result, f"{listening_socket} is a socket, not a file: save the recording to a .wav file")


# --- TZ ----------------------------------------------------------------------------------------------


def test_a_run_under_a_tz_that_names_no_zone_says_so_once_and_publishes(broker: Mosquitto, tmp_path: Path) -> None:
    # glibc counts local time in UTC for it without a word: sessions_today's days began at UTC midnight unsaid
    with Recorder(broker) as recorder:
        result = _run(service_config(tmp_path, broker), {**ENV, "TZ": "Europe/Berln"})
        assert result.returncode == 0, result.stderr
        got = recorder.wait_for(lambda ms: any(m.topic == f"{BASE}/metrics" for m in ms))
    said = [line for line in result.stderr.splitlines() if "names no time zone" in line]
    assert len(said) == 1 and said[0].startswith("WARNING ") and "TZ=Europe/Berln" in said[0], result.stderr
    assert "Traceback" not in result.stderr and any(m.topic == f"{BASE}/metrics" for m in got)


def test_a_tz_naming_a_pipe_is_judged_without_opening_it(tmp_path: Path) -> None:
    # glibc's own tzset would wait on it (so no listener process can start under it); the check must not
    pipe = tmp_path / "zone"
    os.mkfifo(pipe)
    code = f"from listener.clock import zone_problem; print(zone_problem({':' + str(pipe)!r}))"
    env = {k: v for k, v in ENV.items() if k != "TZ"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=WAIT_S, env=env)
    assert result.stdout.startswith(f"TZ=:{pipe} names no time zone"), result.stderr


# --- a config that is a socket -----------------------------------------------------------------------


@pytest.mark.parametrize("command", [["check-config"], ["leds-off", "--config"], ["doctor", "--config"]])
def test_a_socket_given_as_the_config_is_named_as_one(command: list[str], listening_socket: Path) -> None:
    # its open fails "No such device or address", said with "check its permissions"
    one_line(_listener(*command, str(listening_socket)), "is a socket, not a file: pass the TOML file itself")


# --- systemd's variables, outside systemd ------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("NOTIFY_SOCKET", os.fsdecode(b"/run/\xff\xfe")),  # no UTF-8
        ("NOTIFY_SOCKET", "/" + "n" * 200),  # longer than a socket's path may be
        ("NOTIFY_SOCKET", "@"),  # an abstract name of nothing
        ("JOURNAL_STREAM", os.fsdecode(b"\xff:\xfe")),
        ("JOURNAL_STREAM", "99999999999999999999999:1"),
    ],
)
def test_a_systemd_variable_that_leads_nowhere_costs_the_run_nothing(tmp_path: Path, name: str, value: str) -> None:
    # already fine when this pass looked: kept so
    config = tmp_path / "listener.toml"
    config.write_text(f"{CONFIG}[service]\nstate_dir = '{tmp_path / 'state'}'\n")
    result = _run(config, {**ENV, name: value})
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert "listener.service.runner: stopped after" in result.stderr, result.stderr
    warned = [line for line in result.stderr.splitlines() if line.startswith("WARNING")]
    assert len(warned) == (name == "NOTIFY_SOCKET"), result.stderr  # the socket's, once; a stream not journald's: none
