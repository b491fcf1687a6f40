"""Stable pseudonymous names: the device id and fingerprints of config and models.

Nothing here reveals the machine: the device id is a salted, deliberately slow
hash (scrypt) of the board's serial number, burnt into a Raspberry Pi's SoC (so
SD cards cloned from one provisioned card still give every board its own id), or
of ``/etc/machine-id`` where there is no board serial. The salt is fixed in
code, so the id is stable across restarts and re-installs of the software but
cannot be matched with other software's hashes of the same serial. A Pi's serial
has only 32 bits that vary: a fast hash of it is reversed by trying them all
(minutes on one core), so each try costs DEVICE_ID_COST's memory and time.
Fingerprints are truncated SHA-256 digests.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import socket
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt

from listener import __version__
from listener.build import FINGERPRINT_HEX_DIGITS, build_id
from listener.config import Config, geometry
from listener.outputs.mqtt.payloads import DeviceInfo

log = logging.getLogger(__name__)

DEVICE_ID_SALT = b"listener/mqtt/device-id/v2\x00"
# scrypt's n and r: 8 MiB and about 30 ms per try on this project's x86 machine, a few times that on a Pi, once
# per start; trying the 2**32 serials a Pi may have then takes years of one core's time, not minutes
DEVICE_ID_COST = (2**13, 8)
MACHINE_ID = Path("/etc/machine-id")
BOARD_SERIAL = Path("/sys/firmware/devicetree/base/serial-number")  # /proc/device-tree links here


# 48 bits: two devices of a fleet of ten thousand share an id (and throw each other off the broker) with a
# chance of about 2e-7, where 32 bits gave 1 %
DEVICE_ID_HEX_DIGITS = 12


@functools.cache
def _digest(data: bytes) -> str:
    n, r = DEVICE_ID_COST
    key = hashlib.scrypt(data, salt=DEVICE_ID_SALT, n=n, r=r, p=1, dklen=DEVICE_ID_HEX_DIGITS // 2)
    return key.hex()


def _fingerprint(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:FINGERPRINT_HEX_DIGITS]


@dataclass(frozen=True, slots=True)
class Unstable:
    """Why a default device id may change from one start or machine to the next, and the fix."""

    said: str
    fix: str


@dataclass(frozen=True, slots=True)
class DefaultId:
    """The default device id, and what may change it ('()': the board's own, or the machine id's)."""

    device_id: str
    unstable: tuple[Unstable, ...] = ()


PIN_FIX = "set mqtt.device_id to pin it"


def _board_serial(path: Path) -> tuple[str, Unstable | None]:
    """The board's serial number from the device tree ('' when there is none, or it is blank), and why a
    serial that is there could not be read."""
    try:
        text = path.read_bytes().replace(b"\x00", b"").decode("ascii").strip()
    except FileNotFoundError:
        return "", None
    except (OSError, UnicodeDecodeError) as exc:
        # a board that has a serial would name itself differently this once: the dashboards would see a new device
        reason = getattr(exc, "strerror", None) or exc
        return "", Unstable(
            f"the board serial {path} cannot be read ({reason}): the MQTT device id comes from the machine id"
            " instead, not from the serial as on a start that can read it",
            PIN_FIX,
        )
    return ("" if text.strip("0") == "" else text), None


def _machine_id(path: Path) -> tuple[str, str]:
    """The machine id's text, or '' and what is wrong with the file and its fix."""
    setup = "run 'systemd-machine-id-setup'"
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return "", f"{path} is missing: {setup}"
    except PermissionError:
        return "", f"{path} cannot be read by this user: make it readable to all ('chmod 444 {path}')"
    except UnicodeDecodeError:
        return "", f"{path} is not a machine id (it is not text): remove it and {setup}"
    except OSError as exc:
        return "", f"{path} cannot be read ({exc.strerror or exc})"
    return text, f"{path} is empty: {setup}"


def default_id(machine_id: Path | None = None, serial: Path | None = None) -> DefaultId:
    """``listener-<12 hex>`` from the board serial, else the machine id, else the host name (unstable: a renamed
    host is a new device, and images that share a host name share the id). ``None``: the system's file."""
    board, unread = _board_serial(BOARD_SERIAL if serial is None else serial)
    if board:
        return DefaultId("listener-" + _digest(b"serial:" + board.encode("ascii")))
    said = () if unread is None else (unread,)
    text, problem = _machine_id(MACHINE_ID if machine_id is None else machine_id)
    if text:
        return DefaultId("listener-" + _digest(text.encode("ascii")), said)
    host = socket.gethostname()
    renamed = Unstable(
        f"{problem}; the MQTT device id is derived from the host name ({host}) until then, so it changes if the"
        " host is renamed, and devices imaged with the same host name share it",
        PIN_FIX,
    )
    return DefaultId("listener-" + _digest(b"hostname:" + host.encode("utf-8")), (*said, renamed))


def default_device_id(machine_id: Path | None = None, serial: Path | None = None) -> str:
    """``default_id``'s device id, with a warning for each thing that may change it."""
    return warned(default_id(machine_id, serial))


def warned(found: DefaultId) -> str:
    """``found``'s device id, after a warning for each thing that may change it."""
    for unstable in found.unstable:
        log.warning("%s; %s", unstable.said, unstable.fix)
    return found.device_id


def device_id(config: Config) -> str:
    return config.mqtt.device_id or default_device_id()


# Each device has its own: with them in, no two devices' hashes would ever agree. The store's own too (its area,
# its topic level, mqtt.md "Many stores"): with them in, no two stores' would; the prefix is in the topic anyway.
# So is the broker's host where each store has its own broker, and the hash could not show a wrong one: a device
# that names another broker never reaches this one's dashboard. The port, TLS, ca_file's path and keepalive_s stay
# in: a fleet sets them alike on purpose, and a device on another listener of the same broker does reach it.
UNHASHED_KEYS: dict[str, tuple[str, ...]] = {
    "mqtt": (
        "device_id",
        "username",
        "password_file",
        "cert_file",
        "key_file",
        "suggested_area",  # the store's own, from here on
        "topic_prefix",
        "host",
    ),
    "parties": ("rep_azimuth_deg", "customer_azimuth_deg"),  # measured per counter by `listener calibrate`
}


def config_hash(config: Config) -> str:
    """Fingerprint of the effective configuration (12 hex digits) less UNHASHED_KEYS: devices set up
    alike share it, so a dashboard spots the one set up differently."""
    tree = dataclasses.asdict(config)
    for section, keys in UNHASHED_KEYS.items():
        for key in keys:
            del tree[section][key]
    # `listener calibrate --write` swaps lapel mics plugged in the wrong way round: which party has which
    # is the device's own, the pair of channels used is the fleet's
    parties = tree["parties"]
    channels = (parties.pop("rep_channel"), parties.pop("customer_channel"))
    parties["party_channels"] = sorted(channels, key=lambda channel: (channel is None, channel or 0))
    canonical = json.dumps(tree, sort_keys=True, separators=(",", ":"), default=str)
    return _fingerprint(canonical.encode("utf-8"))


def files_fingerprint(*files: Path | bytes) -> str | None:
    """Truncated SHA-256 of files' contents, in order (each with its length): a file's path, or its bytes when
    they were read already; None when one is absent."""
    digest = hashlib.sha256()
    try:
        for file in files:
            data = file if isinstance(file, bytes) else file.read_bytes()
            digest.update(len(data).to_bytes(8, "big") + data)
    except OSError:
        return None
    return digest.hexdigest()[:FINGERPRINT_HEX_DIGITS]


def turn_model_version(config: Config, model: bytes | None = None) -> str | None:
    """The model and its sidecar together: the sidecar's thresholds decide as much as the weights, and
    models/README.md invites editing them for field data, so a device tuned that way must stand out.

    ``model``: the model file's bytes, when the caller has read them already (doctor, which loads it)."""
    if not config.turn_model.enabled:
        return None
    from listener.turns.spec import model_path, sidecar_path

    path = model_path(config)
    return files_fingerprint(path if model is None else model, sidecar_path(path))


def asr_model_version(config: Config) -> str | None:
    """A vosk model is a folder of large files: its folder name stands for its version (hashed, not sent).

    The configured folder, or where ``listener models fetch`` puts the language's default one.
    """
    if not config.asr.enabled:
        return None
    from listener.transcription.models import model_path

    return _fingerprint(model_path(config).name.encode("utf-8"))


def device_info(config: Config) -> DeviceInfo:
    """What the ``info`` topic says about the device, besides its spool."""
    return DeviceInfo(
        software=__version__,
        build=build_id(),
        paho=paho.mqtt.__version__,
        protocol=config.mqtt.protocol,
        array_preset=config.array.preset,
        party_mode=geometry(config).mode,
        turn_model=turn_model_version(config),
        asr_model=asr_model_version(config),
        config_hash=config_hash(config),
        metrics_interval_s=config.mqtt.metrics_interval_s,
    )
