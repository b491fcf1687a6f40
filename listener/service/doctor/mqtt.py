"""``listener doctor``'s broker check: connect as the service does, and try to publish once.

A broker whose ACL lets the device connect but not publish would take every
metric and drop it. So the check publishes one QoS 1 message, not retained,
to ``<topic_prefix>/<device_id>/doctor`` (a leaf no integration subscribes
to) and reads the PUBACK. MQTT 5 brokers put a refusal in its reason code;
on MQTT 3.1.1 mosquitto acknowledges a refused publish like any other and
drops it, so there the check also subscribes to that topic first: the
message coming back proves the right, and only when it does not is the
publish right reported as unverified.

The probe connects under the device id, the client id the service uses, so that a broker granting
rights by client id (mosquitto's ``pattern ... %c``) judges it as it judges the service; but while a
listener runs with this state_dir that id would take the service's connection from it, so then the
broker names the client, and a refusal can be that broker's ACL, not the service's rights: a warning.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from listener.config import Config
from listener.errors import AS_SERVICE_USER, ListenerError
from listener.service.doctor import MQTT_TIMEOUT_S, Check, fail, failed_with, warn
from listener.service.doctor.system_files import SystemFiles, this_run
from listener.service.instance import LOCK_FILE

if TYPE_CHECKING:
    import paho.mqtt.client as paho

PROBE_LEAF = "doctor"
PROBE_PAYLOAD = b'{"check":"doctor"}'


@dataclass(frozen=True, slots=True)
class Probe:
    """What the broker said: to the connection, and to the publish that followed it."""

    connect: str | None  # '' accepted, the reason when refused, None when it never answered
    puback: str | None = None  # '' accepted, the reason when refused, None when no PUBACK came
    echoed: bool = False  # the published message came back through our own subscription
    discovery: str | None = ""  # as puback, for the publish under the discovery prefix ('' when not tried)


@dataclass(frozen=True, slots=True)
class ProbeId:
    """Whom the probe connects as: the device id (the service's client id), unless a listener may be using it."""

    device_id: str
    runs: bool | None  # whether a listener runs with the state_dir (None: doctor may not read its lock file)

    @property
    def own(self) -> bool:
        """Doctor connects under an id of its own: the device id would take a running service's connection (a lock
        file doctor may not read counts as running)."""
        return self.runs is not False

    @property
    def client_id(self) -> str:
        return "" if self.own else self.device_id


def check_mqtt(config: Config, files: SystemFiles | None = None) -> Check:
    """Connect once with the configured TLS and credentials and publish once, within MQTT_TIMEOUT_S each.
    ``files``: the run's readings of the secrets file and the default device id (None: read here)."""
    cfg = config.mqtt
    if not cfg.enabled:
        return Check("mqtt", "ok", "disabled ([mqtt] enabled = false)")
    from listener.outputs.mqtt.connecting import broker_address, closed_early_hint, connect_fail_hint
    from listener.outputs.mqtt.credentials import PASSWORD_ENV

    where = broker_address(cfg)
    tls = ", mqtt.ca_file and the certificate's host name" if cfg.tls else ""
    reach = f"check the broker runs, mqtt.host and mqtt.port{tls}, and that no firewall drops the traffic"
    login = f"check mqtt.username, the password (mqtt.password_file or {PASSWORD_ENV}), the broker's ACL"
    files = this_run(files)
    try:
        who = ProbeId(files.device_id(config), _runs(config))
        topic = probe_topic(config, who.device_id)
        discovery = discovery_probe_topic(config, who.device_id)
        probe = mqtt_probe(config, topic, who.client_id, discovery)
    except ListenerError as exc:
        # the listener's own errors end in their fix: a fleet script reads it apart
        return failed_with("mqtt", exc, "fix the [mqtt] keys it names", prefix=f"broker {where}: ")
    except OSError as exc:  # refused, unreachable, TLS handshake or certificate: the service's own advice
        return _clock_check(where, exc, files) or fail(
            "mqtt", f"broker {where} unreachable: {exc}", connect_fail_hint(cfg, exc)
        )
    except ValueError as exc:
        return fail("mqtt", f"broker {where} unreachable: {exc}", reach)
    if probe.connect is None:  # a TLS port hangs up on a plain CONNECT, or lets it hang
        silent = f"{reach}; {closed_early_hint(cfg)}"
        return fail("mqtt", f"broker {where} did not answer within {MQTT_TIMEOUT_S:.0f} s", silent)
    if probe.connect:
        return _refused_check(
            config, f"broker {where} refused the connection: {probe.connect}", probe.connect, login, files
        )
    from listener.service.doctor.strict_tls import with_strict_look

    checked = _publish_check(config, f"connected to {where}{_who(config)}", (topic, discovery), probe, who)
    return with_strict_look(cfg, checked)


def _clock_check(where: str, exc: OSError, files: SystemFiles) -> Check | None:
    """The FAIL for a certificate refused by its dates: the clock it is judged by is the likelier fault. Its
    local time is the service's, as on the clock line (doctor's shell may have a TZ of its own)."""
    from listener.clock import refused_by_its_dates
    from listener.outputs.mqtt.connecting import CLOCK_FIX
    from listener.service.doctor.clock import clock_reads
    from listener.service.doctor.zone import service_zone

    if not refused_by_its_dates(exc):
        return None
    return fail(
        "mqtt",
        f"broker {where}: TLS certificate verify failed: {exc.verify_message}, judged by this device's clock,"
        f" which reads {clock_reads(zone=service_zone(files).zone)}",
        CLOCK_FIX,
    )


def _refused_check(config: Config, refused: str, reason: str, login: str, files: SystemFiles) -> Check:
    """The FAIL for a login the broker refused (``reason``, paho's words): a comment sent as part of the password
    is the likelier fault where there is one, so its fix comes first; then no password to send at all; then, where
    doctor may read the service's secrets file, a password line there that ends in a backslash."""
    from listener.outputs.mqtt.credentials import PASSWORD_ENV, login_refused, password_comment
    from listener.service.doctor.secrets import RESTART, SECRETS_FILE, password_backslash

    if (comment := password_comment(config.mqtt, reason)) is not None:
        return fail("mqtt", f"{refused}; {comment[0]}", f"{comment[1]}, {RESTART}; refused still: {login}")
    if (no_password := _no_password_check(config, refused, files)) is not None:
        return no_password
    # the service's password, where doctor may read its file: doctor's own may have come from elsewhere
    if login_refused(config.mqtt, reason) and (ends := password_backslash(PASSWORD_ENV, files)) is not None:
        return fail("mqtt", f"{refused}; {SECRETS_FILE} {ends.said}", f"{ends.fix}, {RESTART}; refused still: {login}")
    return fail("mqtt", refused, login)


def _no_password_check(config: Config, refused: str, files: SystemFiles | None = None) -> Check | None:
    """The FAIL for a refused login that had no password to send: the environment, not the password, is wrong.
    ``files``: the run's reading of the secrets file (None: read here)."""
    from listener.outputs.mqtt.credentials import PASSWORD_ENV
    from listener.service.doctor.secrets import RESTART, SECRETS_FILE, password_backslash, password_line_problem

    # where read_password looks, without reading the file again (a missing one was said before connecting)
    if not config.mqtt.username or os.environ.get(PASSWORD_ENV) or config.mqtt.password_file:
        return None
    unset = f"{refused}; mqtt.username is {config.mqtt.username}, but no password is set in this environment"
    unset += f" (no {PASSWORD_ENV}, no mqtt.password_file)"
    # doctor run with the service's environment got nothing from the file: where it can read it (as root),
    # the line that fails is named, which "run it with that environment" was not
    files = this_run(files)
    if (problem := password_line_problem(PASSWORD_ENV, files)) is not None:
        return fail(
            "mqtt",
            f"{unset}; {SECRETS_FILE}, where the service gets it, does not set it either: {problem.said}",
            f"{problem.fix}, {RESTART}",
        )
    elsewhere = (
        f"the service reads {PASSWORD_ENV} from {SECRETS_FILE}: run doctor with the service's environment"
        f" (README.md, 'Installing on a Pi': the systemd-run line), or `export {PASSWORD_ENV}=...` first"
    )
    if (ends := password_backslash(PASSWORD_ENV, files)) is not None:  # set there, but not as written
        said = f"{unset}; in {SECRETS_FILE}, where the service gets it, {ends.said}"
        return fail("mqtt", said, f"{ends.fix}, {RESTART}; refused still: {elsewhere}")
    return fail(
        "mqtt", unset, f"{elsewhere}; refused so too: `sudo listener doctor` names the line of that file that fails"
    )


def _publish_check(config: Config, connected: str, topics: tuple[str, str | None], probe: Probe, who: ProbeId) -> Check:
    """``topics``: the device's probe topic and the discovery one (None: discovery not probed); ``who``: the id
    doctor connected under."""
    topic, discovery = topics
    own_id = who.own
    base = topic.rsplit("/", 1)[0]
    acl = f"let {config.mqtt.username or 'anonymous clients'} publish to {base}/# in the broker's ACL"
    if probe.puback is None:
        return fail(
            "mqtt",
            f"{connected}, but a QoS 1 publish to {topic} was not acknowledged within {MQTT_TIMEOUT_S:.0f} s "
            "(some brokers drop the connection of a client that may not publish)",
            acl,
        )
    if probe.puback:
        refused = f"{connected}, but the broker refused a publish to {topic}: {probe.puback}"
        if own_id:
            return warn("mqtt", f"{refused}, {_own_id(config, who.runs)}", _own_id_fix(config, acl, who))
        return fail("mqtt", refused, acl)
    if config.mqtt.protocol != "5" and not probe.echoed:
        fix = f"make sure the broker's ACL lets {config.mqtt.username or 'anonymous clients'} publish there; "
        fix += "with mqtt.protocol = '5' doctor can check it"
        return warn(
            "mqtt",
            f"{connected}; the right to publish to {base}/# could not be verified on MQTT 3.1.1 "
            "(the test message did not come back: the ACL refuses publishing, or reading it back)"
            + (f", {_own_id(config, who.runs)}" if own_id else ""),
            _own_id_fix(config, fix, who) if own_id else fix,
        )
    if discovery is not None:
        return _discovery_check(config, connected, (topic, discovery), probe, who) or Check(
            "mqtt", "ok", f"{connected}, and publishes to {topic} and {discovery} were accepted"
        )
    return Check("mqtt", "ok", f"{connected}, and a publish to {topic} was accepted")


def _discovery_check(
    config: Config, connected: str, topics: tuple[str, str], probe: Probe, who: ProbeId
) -> Check | None:
    """The FAIL for a broker that takes the device's topics but not Home Assistant's discovery under its
    prefix: the service's data arrives, and its device never appears in Home Assistant."""
    if probe.discovery == "":
        return None
    topic, where = topics
    what = f"was not acknowledged within {MQTT_TIMEOUT_S:.0f} s" if probe.discovery is None else "was refused"
    detail = (
        f"{connected}, and a publish to {topic} was accepted, but one to {where} (under the prefix of the"
        f" Home Assistant discovery the service publishes, [mqtt] discovery = true) {what}"
    )
    detail += f": {probe.discovery}" if probe.discovery else ""
    acl = (
        f"let {config.mqtt.username or 'anonymous clients'} publish to {topic.rsplit('/', 1)[0]}/# and"
        f" {config.mqtt.discovery_prefix}/# in the broker's ACL, or set [mqtt] discovery = false where no"
        " Home Assistant uses this broker"
    )
    if who.own and probe.discovery:
        return warn("mqtt", f"{detail}, {_own_id(config, who.runs)}", _own_id_fix(config, acl, who))
    return fail("mqtt", detail, acl)


# said when the service runs: doctor's probe could not be judged as the service's publishes are
OWN_ID = (
    "under a client id of doctor's own (a listener runs with this state_dir: its id would take the service's"
    " connection)"
)


def _own_id(config: Config, runs: bool | None) -> str:
    """Why doctor connected under its own client id: a listener runs, or whether one does could not be told."""
    if runs is None:
        return (
            "under a client id of doctor's own (whether a listener runs with this state_dir could not be told:"
            f" doctor may not read {Path(config.service.state_dir) / LOCK_FILE})"
        )
    return OWN_ID


def _runs(config: Config) -> bool | None:
    from listener.service.instance import held

    return held(Path(config.service.state_dir))


def _own_id_fix(config: Config, acl: str, who: ProbeId) -> str:
    if who.runs is None:  # stopping the service would change nothing: doctor still could not tell
        return (
            f"run doctor as the service user (`{AS_SERVICE_USER} listener doctor`) or with sudo, so that it can tell"
            f" whether the service runs and, while it does not, connects under the device id; if the service's"
            f" publishes are refused too, {acl}"
        )
    pattern = f"pattern readwrite {config.mqtt.topic_prefix}/%c/#"
    return (
        f"a broker ACL keyed on the client id (mosquitto's `{pattern}`) refuses doctor's id while letting the"
        f" service publish: check the broker's log for publishes from client {who.device_id}, or stop the"
        " service (`sudo systemctl stop listener`) and run doctor again, which then connects under the device id;"
        f" if the service's publishes are refused too, {acl}"
    )


def _who(config: Config) -> str:
    return f" as {config.mqtt.username}" if config.mqtt.username else " anonymously"


def probe_topic(config: Config, device_id: str) -> str:
    return f"{config.mqtt.topic_prefix}/{device_id}/{PROBE_LEAF}"


def discovery_probe_topic(config: Config, device_id: str) -> str | None:
    """Where to try the right to publish Home Assistant's discovery: under its prefix, a leaf Home Assistant
    ignores (its discovery topics end in /config); None with discovery off, or on MQTT 3.1.1, where mosquitto
    hides a refusal (and a topic nobody reads cannot be read back)."""
    if not config.mqtt.discovery or config.mqtt.protocol != "5":
        return None
    return f"{config.mqtt.discovery_prefix}/device/{device_id}/{PROBE_LEAF}"


def mqtt_probe(config: Config, topic: str, client_id: str = "", discovery: str | None = None) -> Probe:
    """Connect as ``client_id``, and once accepted publish ``PROBE_PAYLOAD`` to ``topic`` with QoS 1, then
    (accepted) to ``discovery``; what the broker answered."""
    client = _client(config, client_id)
    connack: list[str] = []
    acks: list[str] = []
    answered, acked, echoed = threading.Event(), threading.Event(), threading.Event()

    def on_connect(c: paho.Client, userdata: object, flags: object, reason: object, props: object) -> None:
        connack.append(_refusal(reason))
        answered.set()

    def on_publish(c: paho.Client, userdata: object, mid: int, reason: object, props: object) -> None:
        acks.append(_refusal(reason))
        acked.set()

    client.on_connect = on_connect
    client.on_publish = on_publish
    client.on_message = lambda c, userdata, message: echoed.set()
    client.on_disconnect = lambda *args: acked.set()  # a broker may answer a forbidden publish by hanging up
    client.connect(config.mqtt.host, config.mqtt.port, keepalive=config.mqtt.keepalive_s)
    client.loop_start()
    try:
        if not answered.wait(MQTT_TIMEOUT_S) or connack[0]:
            return Probe(connack[0] if connack else None)
        client.subscribe(topic, qos=1)  # before the publish, on the same connection: in place when it arrives
        puback = _published(client, topic, acks, acked)
        if puback == "":
            echoed.wait(MQTT_TIMEOUT_S / 2)
        said = _published(client, discovery, acks, acked) if discovery is not None and puback == "" else ""
        return Probe("", puback, echoed.is_set(), said)
    finally:
        client.disconnect()
        client.loop_stop()


def _published(client: paho.Client, topic: str, acks: list[str], acked: threading.Event) -> str | None:
    """What the broker answered to one QoS 1 publish of the probe to ``topic``: as ``Probe.puback``."""
    acked.clear()
    before = len(acks)
    client.publish(topic, PROBE_PAYLOAD, qos=1, retain=False)
    acked.wait(MQTT_TIMEOUT_S)
    return acks[before] if len(acks) > before else None


def _refusal(reason: object) -> str:
    return str(reason) if getattr(reason, "is_failure", False) else ""


def _client(config: Config, client_id: str) -> paho.Client:
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    from listener.outputs.mqtt.credentials import configure

    protocol = paho.MQTTv5 if config.mqtt.protocol == "5" else paho.MQTTv311
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol)
    client.connect_timeout = MQTT_TIMEOUT_S
    configure(client, config.mqtt)  # TLS and credentials as the service sets them
    return client
