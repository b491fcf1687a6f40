"""A real mosquitto for the MQTT tests, and a subscriber that records what arrives.

:class:`Mosquitto` writes a config into a temporary folder and runs
``/usr/sbin/mosquitto`` on a free port: plain with anonymous access, or TLS
with a throwaway CA (made with the ``openssl`` CLI) and a password file
(``mosquitto_passwd -b``). It can be stopped and started again on the same
port to simulate an outage, and is always killed on exit. Every wait has a
timeout: a broken broker fails a test, it never hangs it. :func:`service_config`
and :func:`run_listener` start a file run of the service that publishes to it.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO

import jsonschema
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from listener.outputs.mqtt import payloads

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
USER, PASSWORD = "counter", "s3cret-pw"
DEVICE_ID = "counter-3"  # the device every test configures through mqtt_config
BASE = f"listener/{DEVICE_ID}"  # its topics, under the default topic_prefix


# Brokers listen below the kernel's ephemeral ports (32768-60999 by default), each test process in
# its own range: a port a broker gives up for an outage, or one a test keeps free on purpose, is then
# never taken meanwhile by another process's broker or by a client's outgoing connection.
PORTS_PER_WORKER = 2000
FIRST_PORT = 20000
_handed_out: set[int] = set()
# Two test runs at once (a developer's single file beside the suite) share these ranges: a lock file per
# port, held until the process exits, keeps one run's outage port from becoming the other's broker.
PORT_LOCKS = Path(tempfile.gettempdir()) / "listener-test-ports"
_held: list[IO[str]] = []


CA_CONFIG = """[ca]
default_ca = test
[test]
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = any
[any]
commonName = supplied
"""


def _worker_ports() -> range:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")  # gw0, gw1, ... under pytest-xdist
    number = int(re.sub(r"\D", "", worker) or 0) % 6
    return range(FIRST_PORT + number * PORTS_PER_WORKER, FIRST_PORT + (number + 1) * PORTS_PER_WORKER)


def free_port() -> int:
    """A localhost port nothing listens on, never handed out before in this process."""
    for port in _worker_ports():
        if port in _handed_out or not _lock(port):
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue  # something else on the machine has it
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free port left in {_worker_ports()}")


@functools.cache
def _lock_dir() -> Path:
    PORT_LOCKS.mkdir(exist_ok=True)
    # mkdir's mode goes through the umask (1755 under 022), and another user's run could then make no lock
    # file here and fail to find a port: opened to all as /tmp is; a folder of another user's is left as it is
    with contextlib.suppress(PermissionError):
        PORT_LOCKS.chmod(0o1777)
    return PORT_LOCKS


def _lock(port: int) -> bool:
    """True when no other process holds ``port`` (it is then this process's until it exits)."""
    # read-only: a lock needs no write access, so another user's lock file (0644) can be locked too
    handle = os.fdopen(os.open(_lock_dir() / f"{port}.lock", os.O_RDONLY | os.O_CREAT, 0o644))
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return False
    _held.append(handle)
    return True


def _run(*args: str, cwd: Path) -> None:
    subprocess.run(args, cwd=cwd, check=True, capture_output=True, timeout=60)


def make_certificates(folder: Path) -> dict[str, Path]:
    """A CA and a server certificate for 127.0.0.1 / localhost, signed by it. With the extensions Python 3.13's
    default TLS context (VERIFY_X509_STRICT; Debian 13) asks of them, as a real CA's have: its key usage on the CA,
    the CA's key named in the server's (without, urllib refused them: "CA cert does not include key usage
    extension", "unable to get local issuer certificate")."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nauthorityKeyIdentifier=keyid,issuer\n")
    _run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=listener test CA",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-keyout", "ca.key", "-out", "ca.crt",
         cwd=folder)  # fmt: skip
    _run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
         "-keyout", "server.key", "-out", "server.csr", cwd=folder)  # fmt: skip
    _run("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
         "-days", "2", "-extfile", "san.cnf", "-out", "server.crt", cwd=folder)  # fmt: skip
    return {"ca": folder / "ca.crt", "server": folder / "server.crt", "server_key": folder / "server.key"}


def client_certificate(certs: Path, name: str, passphrase: str = "") -> tuple[Path, Path]:
    """A client certificate and its key for mutual TLS, signed by the CA of ``make_certificates(certs)``; the key
    encrypted with ``passphrase`` when one is given."""
    protect = ["-passout", f"pass:{passphrase}"] if passphrase else ["-nodes"]
    _run("openssl", "req", "-newkey", "rsa:2048", *protect, "-subj", f"/CN={name}",
         "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=certs)  # fmt: skip
    _run("openssl", "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-days", "2",
         "-out", f"{name}.crt", cwd=certs)  # fmt: skip
    return certs / f"{name}.crt", certs / f"{name}.key"


def redate_server_certificate(broker: Mosquitto, start: str, end: str) -> None:
    """Sign the broker's server certificate again, valid only from ``start`` to ``end`` (YYYYMMDDHHMMSSZ)."""
    redate_certificate(broker.folder / "certs", start, end)


def redate_certificate(certs: Path, start: str, end: str) -> None:
    """Sign the server certificate of ``make_certificates(certs)`` again, valid only from ``start`` to ``end``."""
    (certs / "ca.cnf").write_text(CA_CONFIG)
    (certs / "index.txt").write_text("")
    (certs / "serial").write_text("1000\n")
    subprocess.run(
        ["openssl", "ca", "-batch", "-config", "ca.cnf", "-cert", "ca.crt", "-keyfile", "ca.key", "-notext",
         "-in", "server.csr", "-out", "server.crt", "-startdate", start, "-enddate", end, "-extfile", "san.cnf"],
        cwd=certs, check=True, capture_output=True, timeout=60,
    )  # fmt: skip


class Mosquitto:
    """One broker process; ``stop()`` and ``start()`` again keep the port (an outage)."""

    def __init__(self, folder: Path, tls: bool = False, persistent: bool = False, acl: str = "") -> None:
        """``acl``: the lines of a mosquitto ACL file (the anonymous client's rules first), '' for none."""
        self.folder = folder
        self.tls = tls
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.ca_file: Path | None = None
        folder.mkdir(parents=True, exist_ok=True)
        lines = [f"listener {self.port} 127.0.0.1", "user root", "log_dest stderr", "max_queued_messages 100000"]
        # persistent: subscriptions and queued messages survive a restart (written on SIGTERM)
        lines += ["persistence true", f"persistence_location {folder}/"] if persistent else ["persistence false"]
        if tls:
            certs = make_certificates(folder / "certs")
            self.ca_file = certs["ca"]
            passwd = folder / "passwd"
            passwd.touch(mode=0o600)
            _run("mosquitto_passwd", "-b", str(passwd), USER, PASSWORD, cwd=folder)
            lines += [
                f"cafile {certs['ca']}",
                f"certfile {certs['server']}",
                f"keyfile {certs['server_key']}",
                "allow_anonymous false",
                f"password_file {passwd}",
            ]
        else:
            lines.append("allow_anonymous true")
        if acl:
            (folder / "acl").write_text(acl)
            lines.append(f"acl_file {folder / 'acl'}")
        self.conf = folder / "mosquitto.conf"
        self.conf.write_text("\n".join(lines) + "\n")
        self.log = folder / "mosquitto.log"

    def start(self, timeout_s: float = 10.0) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=log, stderr=log)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.log.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
            except OSError:
                time.sleep(0.05)
                continue
            # should anything else have bound the port since free_port() (a program outside the tests),
            # the connection reached *that* and ours exits on the bind
            time.sleep(0.2)
            if self.proc.poll() is None:
                return
            raise RuntimeError(f"mosquitto exited: {self.log.read_text()[-2000:]}")
        raise RuntimeError(f"mosquitto did not listen on {self.port} within {timeout_s} s")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def __enter__(self) -> Mosquitto:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def mqtt_config(self, **extra: object) -> dict[str, object]:
        """The ``[mqtt]`` table that points the listener at this broker."""
        table: dict[str, object] = {"enabled": True, "host": "127.0.0.1", "port": self.port, "device_id": DEVICE_ID}
        table.update({"reconnect_min_s": 0.2, "reconnect_max_s": 1.0, "keepalive_s": 5})
        if self.tls:
            table.update({"tls": True, "ca_file": str(self.ca_file), "username": USER})
        table.update(extra)
        return table


@dataclass
class Received:
    topic: str
    payload: bytes
    retain: bool
    qos: int = 1  # as delivered: the publisher's, at most the recorder's 1
    at: float = field(default_factory=time.monotonic)

    def json(self) -> dict[str, object]:
        data = json.loads(self.payload)
        assert isinstance(data, dict)
        return data


class Recorder:
    """A paho subscriber that keeps every message it receives."""

    def __init__(
        self,
        broker: Mosquitto,
        topics: tuple[str, ...] = ("#",),
        client_id: str = "recorder",
        persistent: bool = False,
    ) -> None:
        self.broker = broker
        self.topics = topics
        self.messages: list[Received] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        # persistent: the broker queues what arrives while this client is away (an outage)
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=not persistent)
        self.client.reconnect_delay_set(1, 2)
        if broker.tls:
            self.client.tls_set(ca_certs=str(broker.ca_file))
            self.client.username_pw_set(USER, PASSWORD)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *args: self._subscribed.set()
        self.client.on_message = self._on_message

    def _on_connect(self, client: paho.Client, userdata: object, flags: object, reason: object, props: object) -> None:
        client.subscribe([(t, 1) for t in self.topics])

    def _on_message(self, client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(Received(msg.topic, bytes(msg.payload), bool(msg.retain), msg.qos))

    def __enter__(self) -> Recorder:
        self.client.connect("127.0.0.1", self.broker.port, keepalive=10)
        self.client.loop_start()
        assert self._subscribed.wait(10), "recorder did not subscribe"
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def on(self, topic_end: str) -> list[Received]:
        with self._lock:
            return [m for m in self.messages if m.topic.endswith(topic_end)]

    def wait_for(self, predicate: Callable[[list[Received]], bool], timeout_s: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout_s
        while True:
            with self._lock:
                snapshot = list(self.messages)
            if predicate(snapshot) or time.monotonic() > deadline:
                return snapshot
            time.sleep(0.02)

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(timeout=5)


def service_config(
    folder: Path, broker: Mosquitto, short_sessions: bool = True, name: str = "listener.toml", **mqtt: object
) -> Path:
    """A listener.toml (``name``) in ``folder`` for a file run publishing to ``broker``: no LEDs, 5 s sessions
    (``short_sessions``; else the defaults, 30 s)."""
    table = {**broker.mqtt_config(), **mqtt}
    lines = ["[leds]", "enabled = false", 'button_pin = ""']
    if short_sessions:
        lines += ["[analytics]", "session_gap_s = 5.0", "session_min_speech_s = 5.0"]
    lines += ["[service]", f'state_dir = "{folder / "state"}"', "[mqtt]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in table.items()]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("\n".join(lines) + "\n")
    return path


def run_listener(config: Path, wav: Path, *extra: str) -> subprocess.Popen[bytes]:
    """``listener run --input wav`` in its own process group, so a failing test can kill all of it."""
    return subprocess.Popen(
        [sys.executable, "-m", "listener", "run", "--config", str(config), "--input", str(wav), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def kill_process_group(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, 9)
        proc.wait(timeout=10)


# --- what a payload may hold ---------------------------------------------------

HEX_ID = re.compile(r"[0-9a-f][0-9a-f-]{7,63}")
VERSION = re.compile(r"[0-9]+(\.[0-9]+)*([.+-][0-9A-Za-z.]+)?")
ENUMS = frozenset(
    {*payloads.EVENT_TYPES, *payloads.PARTIES, *payloads.MODES, *payloads.STATUSES, *payloads.DOMINANCE_REASONS}
    | set(payloads.CAUSES)
    | {"3.1.1", "5", "doa", "channels", "respeaker-2mic", "respeaker-4mic", "respeaker-6mic", "respeaker-usb-v2"}
    | {"generic"}
    | set(payloads.STORAGE_STATES)
    | {payloads.schema_name(t) for t in payloads.TOPICS}
)
# The words of the CMU ARCTIC prompts that tests.synth renders (arctic_a0001 .. a0006).
TRANSCRIPT_WORDS = frozenset(
    """author of the danger trail philip steels etc not at this particular case tom apologized whittemore
    for the twentieth time that evening two men shook hands lord but i'm glad to see you again phil
    will we ever forget it god bless 'em i hope i'll go on seeing them forever""".split()  # noqa: SIM905
)


def assert_anonymous(value: object, key: str = "") -> None:
    """Numbers, booleans, null, enum values, random hex ids and versions only; no free text."""
    if isinstance(value, dict):
        for k, v in value.items():
            assert re.fullmatch(r"[a-z][a-z0-9_]*", k), f"unexpected key {k!r}"
            assert_anonymous(v, k)
    elif isinstance(value, list):
        for v in value:
            assert_anonymous(v, key)
    elif isinstance(value, str):
        allowed = (
            value in ENUMS
            or HEX_ID.fullmatch(value) is not None
            or (key in ("software", "paho") and VERSION.fullmatch(value) is not None)
        )
        assert allowed, f"free text in {key!r}: {value!r}"
        # enum values are constants of the code ("dominance_on" holds "on" but says nothing)
        tokens = {value} if value in ENUMS else set(re.findall(r"[a-z']+", value.lower()))
        assert not tokens & TRANSCRIPT_WORDS, f"transcript word in {key!r}: {value!r}"
    else:
        assert value is None or isinstance(value, (bool, int, float)), f"{key!r}: {value!r}"


def _not_json(constant: str) -> object:
    raise ValueError(f"{constant} in a payload: not JSON")


def validate(topic: str, payload: bytes) -> dict[str, object]:
    """Parse and check one published payload against its shipped JSON Schema; returns it."""
    leaf = topic.rsplit("/", 1)[-1]
    data = json.loads(payload, parse_constant=_not_json)  # strict, as Home Assistant's and Node-RED's parsers
    jsonschema.Draft7Validator(payloads.json_schema(leaf)).validate(data)
    assert_anonymous(data)
    assert isinstance(data, dict)
    return data
