"""Strings that others read later: the broker's host, MQTT topic prefixes, the state folder, the device, the area.

Each would pass as "a string" and fail only once paho or the file system got it, in a thread or
hours later; here it fails at load, naming the key and what is allowed.
"""

from __future__ import annotations

import ipaddress
import re

from listener.errors import ConfigError

# One label of a DNS name as it goes on the wire (IDNA-encoded, so a name such as 'müller.local' fits):
# RFC 1035 allows 1-63 bytes; '_' is not a host name letter but resolvers accept it and some LANs use it
_LABEL = re.compile(rb"[A-Za-z0-9_-]{1,63}")
_MAX_NAME_BYTES = 253
HOST_RULE = (
    "must be the broker's host name or IP address, e.g. '192.0.2.10' or 'broker.local': an IP address, or "
    f"labels of 1-63 letters, digits, '-' or '_' joined by '.', at most {_MAX_NAME_BYTES} characters in all "
    "(not a URL; the port goes in mqtt.port)"
)

# A topic level, and a level of Home Assistant's discovery topic, which accepts only [a-zA-Z0-9_-]: a device
# id with a '.' would publish its metrics while Home Assistant ignores its discovery message
TOPIC_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")

# MQTT sends every string (a topic, the user name) with a 2-byte length: at most 65535 UTF-8 bytes
MAX_MQTT_STRING_BYTES = 65535
# after the prefix come at most '/device/<device_id>/config' (79 bytes with the longest device id) or
# '/<device_id>/session'
MAX_TOPIC_PREFIX_BYTES = MAX_MQTT_STRING_BYTES - 128
# Control characters (C0, DEL, C1) name no file or topic anyone meant; NUL fails every system call later
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def control_character(value: str) -> str | None:
    """Where ``value`` holds its first control character, as a rule says it ("U+0000 at character 3")."""
    found = _CONTROL.search(value)
    return None if found is None else f"U+{ord(found.group()):04X} at character {found.start() + 1}"


def check_host(host: str) -> None:
    if not is_host(host):
        inner = host[1:-1] if host.startswith("[") and host.endswith("]") else None
        if inner is not None and is_host(inner):  # a URL's way of writing an IPv6 address
            raise ConfigError("mqtt.host", host, f"must be the address without brackets: host = {inner!r}")
        raise ConfigError("mqtt.host", host, HOST_RULE)


def is_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    try:
        # what the socket layer does to the name before it resolves it; an empty or 64-byte label fails here
        wire = host.removesuffix(".").encode("idna")
    except UnicodeError:
        return False
    labels = wire.split(b".")
    # an all-digit last label is a mistyped IP address ('192.168.1.300'), never a name
    if len(wire) > _MAX_NAME_BYTES or not all(_LABEL.fullmatch(label) for label in labels):
        return False
    return not labels[-1].isdigit()


def check_username(username: str) -> None:
    control = control_character(username)
    if control is not None:  # MQTT forbids NUL in a string; the broker then drops the connection unexplained
        raise ConfigError("mqtt.username", username, f"must not hold control characters ({control}); remove it")
    size = len(username.encode("utf-8"))
    if size > MAX_MQTT_STRING_BYTES:
        # paho packs it at each connect and fails there ("'H' format requires ..."), which the link reported as
        # the broker unreachable, with "check mqtt.host and mqtt.port" for a fix
        raise ConfigError(
            "mqtt.username", username, f"is {size} UTF-8 bytes long; at most {MAX_MQTT_STRING_BYTES}, MQTT's limit"
        )


def is_topic_id(value: str) -> bool:
    """A device id: one topic level that Home Assistant's discovery topic takes too."""
    return bool(TOPIC_ID.fullmatch(value))


def is_topic_prefix(value: str) -> bool:
    try:
        check_topic_prefix("", value)
    except ConfigError:
        return False
    return True


def check_topic_prefix(key: str, value: str) -> None:
    """``key`` names a topic prefix (``mqtt.topic_prefix``, ``mqtt.discovery_prefix``)."""
    levels = value.split("/")
    if not value or any(not level or "+" in level or "#" in level for level in levels):
        raise ConfigError(key, value, "must be topic levels joined by '/', without '+', '#' or empty levels")
    if value.startswith("$"):
        # brokers keep $-topics for themselves ($SYS): mosquitto drops what a client publishes there, and a
        # subscriber's '#' never matches a topic that starts with '$'
        raise ConfigError(key, value, "must not start with '$' (topics the broker keeps, which '#' never matches)")
    control = control_character(value)
    if control is not None:
        raise ConfigError(
            key,
            value,
            f"must not hold control characters ({control}): MQTT forbids NUL in a topic and subscribers cannot"
            " type the others; remove it",
        )
    if any(level != level.strip() for level in levels):
        # legal MQTT, but a stray space from an edit: 'listener ' publishes where a subscription to
        # 'listener/#' (Home Assistant, Node-RED, the docs' examples) never looks
        raise ConfigError(key, value, "must not begin or end a topic level with a space (subscribers type it without)")
    size = len(value.encode("utf-8"))
    if size > MAX_TOPIC_PREFIX_BYTES:
        raise ConfigError(
            key,
            value,
            f"is {size} UTF-8 bytes long; at most {MAX_TOPIC_PREFIX_BYTES}: MQTT caps a whole topic at 65535 bytes, "
            "and the device id and message name follow the prefix",
        )


# An area's name as Home Assistant lists it: a store's or a counter's, far shorter; a longer one was pasted
MAX_AREA_CHARS = 100
AREA_RULE = (
    f'`""`, or a name with a letter or digit, at most {MAX_AREA_CHARS} characters, without control characters or a'
    " space at either end"
)


def area_problem(area: str) -> str | None:
    """What is wrong with ``mqtt.suggested_area`` as a rule says it, or None; ``""`` suggests none."""
    control = control_character(area)
    if control is not None:
        return f"must not hold control characters ({control}); remove it"
    if area and not any(char.isalnum() for char in area):
        # Home Assistant takes any text but "" for an area: '  ' or '-' would make an area no one can name
        return "must hold a letter or digit of the area's name, e.g. 'Store 12', or be '' for none"
    if area != area.strip():
        # Home Assistant matches an area ignoring spaces, but names a new one as written: ' Store 12' stays in its
        # list with the stray space of an edit
        return "must not begin or end with a space; remove it"
    if len(area) > MAX_AREA_CHARS:
        return f"is {len(area)} characters long; at most {MAX_AREA_CHARS} (a store's or counter's name)"
    return None


def is_area(area: str) -> bool:
    return area_problem(area) is None


def check_area(area: str) -> None:
    problem = area_problem(area)
    if problem is not None:
        raise ConfigError("mqtt.suggested_area", area, problem)


def plain_name(text: str) -> str:
    """A device name as the device search compares it: lower case, letters and digits of any script only (an
    ASCII-only filter left '' of a Cyrillic or CJK name, which matched every device)."""
    return "".join(char for char in text.casefold() if char.isalnum())


def check_device(device: str) -> None:
    """``array.device`` is matched as part of a name, ignoring punctuation: one without a letter or digit
    ('-', '   ', '()') would be part of every device's name, and the first input found would be taken."""
    if device and not any(char.isalnum() for char in device):
        raise ConfigError(
            "array.device",
            device,
            "must hold letters or digits of the input device's name, e.g. 'seeed-4mic' or 'hw:1,0' (`listener "
            "devices` lists them), or be '' for the preset's names",
        )


def check_state_dir(state_dir: str) -> None:
    """``state_dir`` as loaded: ``~`` expanded, a relative path joined to the config file's folder (paths.py)."""
    if not state_dir.strip():
        raise ConfigError("service.state_dir", state_dir, "must name a folder, e.g. '/var/lib/listener'")
