"""What the broker link says in the journal, against a real mosquitto: TLS mismatches and failures,
and a broker coming back after an outage; and against a port that takes the connection but is no
MQTT broker (a small TCP server of the test's own).

The journal is all a technician has on a device that shows a broker fault: each failure must
name its cause and the [mqtt] key that fixes it, and the end of an outage must be visible.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from pathlib import Path
from types import TracebackType

import pytest

from listener.config import parse_config
from listener.events import Backchannel, DeviceMode, DeviceState, Party
from listener.outputs.mqtt import MqttStage
from listener.outputs.mqtt.client import MqttLink
from listener.outputs.mqtt.connecting import connect_fail_hint
from tests.mqtt_broker import BASE, DEVICE_ID, Mosquitto, Recorder, free_port, redate_server_certificate
from tests.mqtt_feed import block, spool_depth, stage_on
from tests.mqtt_links import link_to
from tests.mqtt_relay import AckHold
from tests.waiting import wait_until

WAIT_S = 3.0  # long enough for a few attempts at reconnect_min_s = 0.2


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def _attempt(link: MqttLink, wait_s: float = WAIT_S) -> bool:
    with link:
        return link.wait_connected(wait_s)


def test_plain_mqtt_to_a_tls_port_suggests_tls(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # the TLS port reads the plain CONNECT as a broken handshake and hangs up before any CONNACK
    with Mosquitto(tmp_path / "tls", tls=True) as broker, caplog.at_level(logging.DEBUG):
        assert not _attempt(link_to(broker, tls=False, ca_file=""))
    warnings = _warnings(caplog)
    assert len(warnings) == 1, warnings  # once, not at every attempt
    assert f"127.0.0.1:{broker.port} closed the connection before answering it" in warnings[0]
    assert "), 2 times in a row: " in warnings[0]  # said at the second: a mismatch closes every time
    assert "set mqtt.tls = true" in warnings[0] and "check mqtt.port" in warnings[0]  # or no MQTT port at all


def test_tls_to_a_plain_port_names_the_reset_and_suggests_plain(
    broker: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    # the plain port reads the TLS handshake as a broken CONNECT and resets the connection
    with caplog.at_level(logging.DEBUG):
        assert not _attempt(link_to(broker, tls=True))
    warnings = _warnings(caplog)
    assert len(warnings) == 1, warnings
    assert f"127.0.0.1:{broker.port} (TLS) is unreachable" in warnings[0]
    assert "Connection reset by peer" in warnings[0] or "EOF" in warnings[0]  # the cause, as the OS gave it
    assert "set mqtt.tls = false" in warnings[0]


def test_an_unverifiable_certificate_is_named_with_its_cause(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # no ca_file: the system CAs do not know the test CA
    with Mosquitto(tmp_path / "tls", tls=True) as broker, caplog.at_level(logging.DEBUG):
        assert not _attempt(link_to(broker, ca_file=""))
    warnings = _warnings(caplog)
    assert len(warnings) == 1, warnings
    assert "CERTIFICATE_VERIFY_FAILED" in warnings[0]
    assert "check mqtt.ca_file" in warnings[0] and "names mqtt.host" in warnings[0]
    assert "check that it is running" not in warnings[0]  # it is: the TLS handshake failed


def test_a_broker_that_wants_a_client_certificate_is_named_as_the_likely_cause(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # mosquitto's require_certificate: the TLS 1.3 handshake completes, then the broker hangs up on a client
    # without a certificate before any CONNACK; the journal must point at the client certificate keys
    broker = Mosquitto(tmp_path / "tls", tls=True)
    broker.conf.write_text(broker.conf.read_text() + "require_certificate true\n")
    with broker, caplog.at_level(logging.DEBUG), link_to(broker) as link:
        wait_until(lambda: _warnings(caplog), WAIT_S)  # said at the second hang-up in a row
        assert not link.connected
    warnings = _warnings(caplog)
    assert len(warnings) == 1, warnings
    assert f"127.0.0.1:{broker.port} (TLS) closed the connection before answering it" in warnings[0]
    assert "it may require a client certificate: mqtt.cert_file, mqtt.key_file" in warnings[0]
    assert "mqtt.tls = " not in warnings[0]  # TLS is right: no switch to plain MQTT is suggested


def test_a_certificate_refused_by_its_dates_blames_the_clock_not_the_ca_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # a Pi on 1970 (no network time) sees the broker's good certificate as not yet valid: the journal sent the
    # installer to mqtt.ca_file, while README and doctor blame the clock
    broker = Mosquitto(tmp_path / "tls", tls=True)
    redate_server_certificate(broker, "20990101000000Z", "20991231000000Z")
    with broker, caplog.at_level(logging.DEBUG):
        assert not _attempt(link_to(broker))
    warnings = _warnings(caplog)
    assert len(warnings) == 1, warnings
    assert "certificate is not yet valid" in warnings[0]
    assert "judged by this device's clock, which reads 20" in warnings[0] and " UTC (local " in warnings[0]
    assert "fix the time first (NTP" in warnings[0] and "renew the broker's certificate" in warnings[0]
    assert "check mqtt.ca_file" not in warnings[0]


def test_a_stopped_broker_is_named_with_its_cause(broker: Mosquitto, caplog: pytest.LogCaptureFixture) -> None:
    broker.stop()
    with caplog.at_level(logging.DEBUG):
        assert not _attempt(link_to(broker), wait_s=1.0)
    warnings = _warnings(caplog)
    assert len(warnings) == 1 and "Connection refused" in warnings[0], warnings
    assert "check that it is running, mqtt.host and mqtt.port" in warnings[0]


def test_the_end_of_an_early_outage_is_logged(
    broker: Mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # a connection shorter than 2 x reconnect_max_s, accepted at the first attempt, then an outage:
    # no other client has this id, so the reconnect and the fault's end are news, not noise
    with caplog.at_level(logging.INFO), stage_on(broker, tmp_path, reconnect_max_s=8.0, outage_fault_s=1.0) as stage:
        link = stage._link
        assert link is not None and link.wait_connected(10)
        broker.stop()
        time.sleep(1.5)
        assert [e.mode for e in stage.process(block(0.0)) if isinstance(e, DeviceState)] == [DeviceMode.FAULT]
        stage.process(Backchannel(by=Party.REP, onset_s=0.5, decided_s=1.0, duration_s=0.3))  # spooled meanwhile
        waiting = stage.spool.depth
        caplog.clear()
        broker.start()
        assert link.wait_connected(15)
        assert stage.publisher.flush(10)  # as the drain usually is before the pipeline's next turn
        assert [e.mode for e in stage.process(block(1.0)) if isinstance(e, DeviceState)] == [DeviceMode.LISTENING]
    info = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any(m.startswith(f"MQTT connected to 127.0.0.1:{broker.port}") for m in info), info
    back = [m for m in info if "reachable again" in m]
    assert len(back) == 1, info
    # the backlog the connection found, not what was left of it when the pipeline looked (0: already sent)
    assert waiting >= 1 and f"the fault is cleared, sending {waiting} spooled messages" in back[0], back


@pytest.mark.parametrize(
    ("spool_metrics", "kept"),
    [
        (True, "metrics are spooled on disk and sent when it is back"),
        (False, "events and session summaries are spooled on disk and sent when it is back; live metrics are not kept"),
    ],
)
def test_an_outage_warning_says_what_is_kept_as_the_config_has_it(
    broker: Mosquitto, caplog: pytest.LogCaptureFixture, spool_metrics: bool, kept: str
) -> None:
    # with spool_metrics off the live metrics of an outage are not kept: the warning said they were
    broker.stop()
    with caplog.at_level(logging.DEBUG):
        assert not _attempt(link_to(broker, spool_metrics=spool_metrics), wait_s=1.0)
    warnings = _warnings(caplog)
    assert len(warnings) == 1 and kept in warnings[0], warnings
    assert ("set it to true to keep them" in warnings[0]) is not spool_metrics


def test_a_run_that_ends_after_one_early_close_names_it_with_what_stays_in_the_spool(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # a --fast run against a port that hangs up ended with "N messages stay in the spool" and no cause: one
    # close is only logged at debug level (a broker restarting does it once), and the run ended before a second
    with Mosquitto(tmp_path / "tls", tls=True) as broker, caplog.at_level(logging.INFO):
        mqtt = {"tls": False, "ca_file": "", "reconnect_min_s": 60.0, "reconnect_max_s": 60.0}  # one attempt only
        with stage_on(broker, tmp_path, shutdown_drain_s=0.5, **mqtt) as stage:
            link = stage._link
            wait_until(lambda: link is None or "closed the" in link.unsaid, WAIT_S)
            stage.process(Backchannel(by=Party.REP, onset_s=0.5, decided_s=1.0, duration_s=0.3))
    (said,) = [r.getMessage() for r in caplog.records if "stay in the spool" in r.getMessage()]
    assert f"next start (MQTT broker 127.0.0.1:{broker.port} closed the connection before answering it (" in said, said


def test_early_closes_with_a_connection_between_them_are_not_in_a_row(
    broker: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    # a broker restarting hangs up on one attempt now and then; only a port that hangs up on every attempt
    # (a TLS mismatch) is worth a warning, so an answered connection starts the count again
    with AckHold(broker.port, hang_up=frozenset({1, 3})) as relay, caplog.at_level(logging.DEBUG):
        link = link_to(broker, port=relay.port)
        with link:
            assert link.wait_connected(WAIT_S)  # the second attempt, after the first one's hang-up
            relay.drop()
            wait_until(lambda: link.connects >= 2, WAIT_S)
            connects = link.connects
    assert relay.accepted >= 4 and connects == 2, (relay.accepted, connects)
    closed = [r for r in caplog.records if "closed the connection before answering it" in r.getMessage()]
    assert [r.levelno for r in closed] == [logging.DEBUG, logging.DEBUG], [r.getMessage() for r in closed]


# --- a port that takes the connection but is no MQTT broker ------------------------------------------

HTTP_400 = b"HTTP/1.1 400 Bad Request\r\n\r\n"  # and HTTP/1.1 keeps the connection open
TLS_ALERT = b"\x15\x03\x03\x00\x02\x02\x46"  # a TLS port's "protocol version" alert to a plain CONNECT
NOT_MQTT = "accepted the connection but"
NOT_YET = "has not answered it"  # no CONNACK in 5 s: a slow link can say the same, and a late CONNACK takes it back
NEVER = "never answered it as an MQTT broker"  # bytes that are not MQTT
PORT_ADVICE = "check mqtt.port and mqtt.tls (plain MQTT is usually on 1883, MQTT over TLS on 8883)"


class NotABroker:
    """A TCP server that accepts every connection, reads the CONNECT and sends ``reply`` (or nothing),
    then keeps the connection open until the test ends."""

    def __init__(self, reply: bytes) -> None:
        self.reply = reply
        self.port = free_port()
        self._server = socket.create_server(("127.0.0.1", self.port))
        self._server.settimeout(0.1)  # so that the thread sees the end
        self._done = threading.Event()
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._done.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            self._conns.append(conn)
            conn.settimeout(5.0)
            if self.reply:
                conn.recv(4096)  # the CONNECT
                conn.sendall(self.reply)

    def config(self, tmp_path: Path, **mqtt: object) -> dict[str, object]:
        table = {"enabled": True, "host": "127.0.0.1", "port": self.port, "device_id": DEVICE_ID}
        table.update({"reconnect_min_s": 0.2, "reconnect_max_s": 1.0, "shutdown_drain_s": 0.5, **mqtt})
        return {"mqtt": table, "service": {"state_dir": str(tmp_path / "state")}}

    def __enter__(self) -> NotABroker:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._done.set()
        self._thread.join(timeout=5)
        self._server.close()
        for conn in self._conns:
            conn.close()


@pytest.mark.parametrize(
    ("reply", "seen"),
    [
        (b"", f"{NOT_YET} (no CONNACK within 5 s)"),
        (HTTP_400, f"{NOT_YET} (no CONNACK within 5 s)"),  # paho reads 'H' as a packet and waits for the rest of it
        (TLS_ALERT, f"{NEVER} (it sent something else: Protocol error)"),
    ],
    ids=["silent", "http-400", "tls-alert"],
)
def test_a_port_that_is_no_mqtt_broker_is_named_once_while_running_and_the_messages_stay_spooled(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, reply: bytes, seen: str
) -> None:
    # such a port ran on with paho waiting keepalive_s (30 s) for each CONNACK: the journal said only, at
    # the end, "N messages stay in the spool", and a run of less than 30 s not even that the broker was away
    with (
        NotABroker(reply) as server,
        caplog.at_level(logging.DEBUG),
        MqttStage(parse_config(server.config(tmp_path))) as stage,
    ):
        stage.process(Backchannel(by=Party.REP, onset_s=0.5, decided_s=1.0, duration_s=0.3))
        wait_until(lambda: [w for w in _warnings(caplog) if NOT_MQTT in w], 10.0)
        time.sleep(1.5)  # the tls-alert port is tried again meanwhile: still one warning
    warnings = _warnings(caplog)
    (said,) = [w for w in warnings if NOT_MQTT in w]
    assert said.startswith(f"MQTT broker 127.0.0.1:{server.port} {NOT_MQTT} {seen}: "), said
    assert PORT_ADVICE in said and said.endswith("metrics are spooled on disk and sent when it is back"), said
    assert any("stay in the spool and are sent at the next start" in w for w in warnings), warnings
    assert spool_depth(tmp_path / "state") >= 1  # nothing lost: the backchannel event waits in the spool


def test_a_run_that_ends_before_a_silent_port_is_named_says_it_with_what_stays_in_the_spool(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # a --fast run is over before the 5 s wait: the line at its end is the only place left to say it
    with (
        NotABroker(b"") as server,
        caplog.at_level(logging.INFO),
        MqttStage(parse_config(server.config(tmp_path))) as stage,
    ):
        link = stage._link
        wait_until(lambda: link is None or link.unsaid, WAIT_S)  # the connection is made
        stage.process(Backchannel(by=Party.REP, onset_s=0.5, decided_s=1.0, duration_s=0.3))
    (said,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "stay in the spool and are sent at the next start (" in said, said
    assert f"(MQTT broker 127.0.0.1:{server.port} {NOT_MQTT} {NOT_YET} (no CONNACK before the run ended): " in said
    assert PORT_ADVICE in said, said
    assert spool_depth(tmp_path / "state") >= 1


def test_a_slow_broker_that_answers_after_the_wait_is_not_left_blamed(
    broker: Mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A CONNACK after 6 s: the warning at 5 s was worded as "no MQTT broker there", with nothing taking it
    back once the broker answered, so a technician changed a port that was right."""
    relay = AckHold(broker.port)  # the broker's CONNACK held 6 s: a lossy link, a slow authentication
    table = {**broker.mqtt_config(), "port": relay.port, "keepalive_s": 30}  # paho itself waits this long
    link = MqttLink(
        parse_config({"mqtt": table}).mqtt,
        client_id=DEVICE_ID,
        will=("listener/x/status", lambda: b"offline"),
        on_connected=lambda: None,
        on_message=lambda topic, payload: None,
        subscriptions=(),
    )
    try:
        with caplog.at_level(logging.DEBUG, logger="listener.outputs.mqtt.client"):
            with relay:
                relay.hold()
                threading.Timer(6.0, relay.release).start()
                link.open()
                assert link.wait_connected(15.0)
            # the relay gone, the link is lost: said as a warning again, for the slow broker's was taken back
            wait_until(lambda: _warnings(caplog)[1:], WAIT_S)
    finally:
        link.close()
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    warning, *after = _warnings(caplog)
    assert (
        f"{NOT_MQTT} {NOT_YET} (no CONNACK within 5 s): a slow link, or something other than an MQTT broker" in warning
    )
    assert said.index(warning) < said.index(
        f"MQTT broker 127.0.0.1:{relay.port} answered after all: a slow link, its port is right"
    )
    assert after and f"127.0.0.1:{relay.port}" in after[0], said  # the next problem is a warning, not a debug line


def _refused_handshake() -> ssl.SSLError:
    """What OpenSSL raises when the broker answers the device's hello with a handshake_failure alert (no
    protocol version or cipher in common): a TLS error that is neither a certificate nor a plain port."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ssl.create_default_context().wrap_bio(incoming, outgoing, server_hostname="broker.local")
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()  # the hello, sent
    incoming.write(bytes([21, 3, 3, 0, 2, 2, 40]))  # an alert record: fatal, handshake_failure
    with pytest.raises(ssl.SSLError) as refused:
        tls.do_handshake()
    return refused.value


def test_a_tls_handshake_the_broker_refuses_points_at_the_tls_settings_not_the_network() -> None:
    config = parse_config({"mqtt": {"enabled": True, "tls": True}}).mqtt
    hint = connect_fail_hint(config, _refused_handshake())
    assert hint == "check mqtt.ca_file, mqtt.cert_file, mqtt.key_file and the broker's TLS settings"


def test_close_leaves_its_last_words_retained_and_is_safe_unopened_and_twice(broker: Mosquitto) -> None:
    # the stage's "offline" at a clean stop: a clean DISCONNECT sends no Will, so these words are all that says it
    link = link_to(broker)
    link.close()  # a stage that failed before opening it closes it all the same
    link.open()
    assert link.wait_connected(WAIT_S)
    link.close(last_words=(f"{BASE}/status", b"offline at close"))
    link.close()
    with Recorder(broker) as rec:  # subscribed after: what it gets is what the broker retained
        got = rec.wait_for(lambda ms: any(m.topic == f"{BASE}/status" for m in ms), timeout_s=2.0)
    assert [(m.payload, m.retain) for m in got if m.topic == f"{BASE}/status"] == [(b"offline at close", True)]
    assert not link.connected
