"""Settings written to no effect are said, by check-config and at the start of run: not silently ignored.

TLS files beside ``tls = false`` let ``run`` connect in plain text, and a password file (or the password
variable) beside an empty user name was never read, with no word from check-config; nor was a fleet's file
with each device's broker and name under ``[mqtt] enabled = false``, which published nothing. Keys the file leaves
out, or writes as their defaults, say nothing: their writer asked for nothing.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from listener.cli import main
from listener.service import runner

# MQTT on: with it off every [mqtt] key written is said at once (test_mqtt_keys_under_mqtt_off_are_said)
TLS_OFF = (
    '[mqtt]\nenabled = true\nca_file = "/etc/listener/ca.pem"\ncert_file = "/c.pem"\nkey_file = "/k.pem"\n'
    "tls_insecure = true\n"
)


def warnings_of(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str) -> list[str]:
    config = tmp_path / "listener.toml"
    config.write_text(text)
    assert main(["check-config", str(config)]) == 0
    out, err = capsys.readouterr()
    assert ": ok (" in out
    return [line for line in err.splitlines() if line.startswith("listener: warning at ")]


def test_tls_settings_under_tls_false_are_said(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    said = warnings_of(tmp_path, capsys, TLS_OFF)
    keys = [line.removeprefix("listener: warning at ").split(" = ")[0] for line in said]
    assert keys == ["mqtt.ca_file", "mqtt.cert_file", "mqtt.key_file", "mqtt.tls_insecure"], said
    assert all("has no effect with mqtt.tls = false" in line and "tls = true" in line for line in said), said


def test_tls_settings_with_tls_on_say_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Nothing of their having no effect; the host name check skipped is said, as a risk of its own."""
    said = warnings_of(tmp_path, capsys, TLS_OFF + "tls = true\nusername = 'counter'\npassword_file = '/pw'\n")
    assert len(said) == 1 and said[0].startswith("listener: warning at mqtt.tls_insecure = true: the broker's"), said
    assert "any device on the way" in said[0] and "tls_insecure = false (it is for testing only)" in said[0], said
    secure = TLS_OFF.replace("tls_insecure = true", "tls_insecure = false")
    assert warnings_of(tmp_path, capsys, secure + "tls = true\nusername = 'counter'\npassword_file = '/pw'\n") == []


@pytest.mark.parametrize(("host", "warned"), [("192.0.2.10", True), ("broker.shop.lan", True), ("localhost", False),
                                              ("127.0.0.1", False), ("::1", False)])  # fmt: skip
def test_a_login_sent_in_plain_text_over_the_network_is_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], host: str, warned: bool
) -> None:
    """A broker password without TLS is anyone's on the shop's network; on the device itself it never leaves."""
    login = f'[mqtt]\nenabled = true\nhost = "{host}"\nusername = "counter"\n'
    said = warnings_of(tmp_path, capsys, login)
    if not warned:
        assert said == []
        return
    assert said == [
        'listener: warning at mqtt.username = "counter" with mqtt.tls = false: the broker login (user name and '
        "password) crosses the network in plain text, readable by any device on the way: set [mqtt] tls = true and "
        "the broker's TLS port (usually 8883); on a network only trusted devices reach, this can be left as it is (the "
        "warning stays)"
    ]
    assert warnings_of(tmp_path, capsys, login + "tls = true\n") == []


def test_a_password_file_without_a_user_name_is_said(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    said = warnings_of(tmp_path, capsys, '[mqtt]\nenabled = true\nusername = ""\npassword_file = "/etc/listener/pw"\n')
    assert len(said) == 1 and 'mqtt.password_file = "/etc/listener/pw": has no effect while mqtt.username' in said[0]


@pytest.mark.parametrize(
    ("leds", "key"), [('preset = "rgb"\namber_pin = "GPIO5"', "amber_pin"), ('blue_pin = "GPIO5"', "blue_pin")]
)
def test_the_pin_of_a_light_the_preset_lacks_is_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], leds: str, key: str
) -> None:
    said = warnings_of(tmp_path, capsys, f"[leds]\n{leds}\n")
    assert len(said) == 1 and f'leds.{key} = "GPIO5": has no effect with leds.preset' in said[0], said


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        ("[activity]\nhangover_s = 0.6\nparty_ratio_db = 3.0\n", ["activity.hangover_s", "activity.party_ratio_db"]),
        (
            '[turn_model]\nenabled = false\npath = "/opt/m.onnx"\nthreads = 2\n',
            ["turn_model.path", "turn_model.threads"],
        ),
        # thresholds on the model's outputs (listener.analytics.overlaps), which nothing makes without it
        (
            "[turn_model]\nenabled = false\n[analytics]\nmodel_interruption_prob = 0.8\npremature_hold_prob = 0.6\n",
            ["analytics.model_interruption_prob", "analytics.premature_hold_prob"],
        ),
    ],
)
def test_the_keys_of_the_activity_decider_that_is_not_running_are_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, keys: list[str]
) -> None:
    """The heuristic decider's settings under the turn model (the default), the model's with it off: check-config
    said "ok" to both, and the writer's tuning did nothing."""
    said = warnings_of(tmp_path, capsys, text)
    assert [line.removeprefix("listener: warning at ").split(" = ")[0] for line in said] == keys, said
    assert all("has no effect while" in line for line in said), said


@pytest.mark.parametrize(
    "text",
    [
        # the decider that runs reads them
        "[turn_model]\nenabled = false\n[activity]\nhangover_s = 0.6\nparty_ratio_db = 3.0\n",
        "[turn_model]\nthreads = 2\n",
        "[analytics]\nmodel_interruption_prob = 0.8\npremature_hold_prob = 0.6\npremature_resume_s = 0.8\n",
        # written as their defaults: nothing was asked that is not done
        '[mqtt]\ntls = false\nca_file = ""\ntls_insecure = false\npassword_file = ""\n',
        '[leds]\npreset = "rgb"\namber_pin = "GPIO23"\n',
        '[leds]\nblue_pin = "GPIO25"\n',
        # no lights at all: the pins are unused, as asked
        '[leds]\nenabled = false\nblue_pin = "GPIO5"\n',
    ],
)
def test_keys_left_at_their_defaults_say_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str) -> None:
    assert warnings_of(tmp_path, capsys, text) == []


def test_run_says_them_at_its_start_with_the_password_variable_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(runner, "run", lambda config, options: 0.0)  # the start is what is checked
    monkeypatch.setenv("LISTENER_MQTT_PASSWORD", "hunter2-secret")
    config = tmp_path / "listener.toml"
    config.write_text(TLS_OFF)
    assert main(["run", "--config", str(config)]) == 0
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert [line.split(" = ")[0] for line in said[:4]] == [
        f"config warning at mqtt.{key}" for key in ("ca_file", "cert_file", "key_file", "tls_insecure")
    ], said
    assert len(said) == 5 and "LISTENER_MQTT_PASSWORD (in the environment): has no effect" in said[4], said
    assert "hunter2-secret" not in caplog.text


@pytest.mark.parametrize(("ratio", "said"), [(10.0, True), (6.0, True), (4.0, False), (3.0, False)])
def test_an_echo_guard_above_the_channel_map_ceiling_is_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], ratio: float, said: bool
) -> None:
    """With one mic per party the heuristic decider uses at most 4 dB: a 10 written was lowered without a word."""
    text = (
        '[array]\npreset = "generic"\nchannels = 2\n[parties]\nrep_channel = 0\ncustomer_channel = 1\n'
        "[turn_model]\nenabled = false\n"
        f"[activity]\nparty_ratio_db = {ratio}\n"
    )
    lines = warnings_of(tmp_path, capsys, text)
    assert lines == (
        [f"listener: warning at activity.party_ratio_db = {ratio}: with one mic per party at most 4 dB is used"
         " (more lets a voice leaking into the other mic pass as the other party's speech): set it to 4 or less,"
         " or delete it"]
        if said
        else []
    )  # fmt: skip


FLEET = """[mqtt]
enabled = false
host = "broker.shop"
port = 8883
device_id = "counter-3"
tls = true
username = "counter3"
"""


@pytest.mark.parametrize("enabled", ["enabled = false\n", ""], ids=["written", "the-default"])
def test_mqtt_keys_under_mqtt_off_are_said(tmp_path: Path, capsys: pytest.CaptureFixture[str], enabled: str) -> None:
    """firmware/README.md's fleet files (from the installed one, ``enabled = false``) named each device's broker,
    user and id: check-config said "ok", run said nothing about MQTT, and nothing was ever published."""
    said = warnings_of(tmp_path, capsys, FLEET.replace("enabled = false\n", enabled))
    default = "" if enabled else " (not written: the default)"
    assert said == [
        f"listener: warning at mqtt.enabled = false{default}: [mqtt] host, port, device_id, tls, username are "
        "written but nothing is published (no broker is connected to); set [mqtt] enabled = true, or delete them"
    ]
    assert warnings_of(tmp_path, capsys, FLEET.replace("enabled = false", "enabled = true")) == []


def test_asr_keys_under_asr_off_are_said(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = '[asr]\nenabled = false\nmodel_path = "/var/lib/listener/models/vosk"\nqueue_s = 20.0\n'
    assert warnings_of(tmp_path, capsys, text) == [
        "listener: warning at asr.enabled = false: [asr] model_path, queue_s are written but nothing is transcribed"
        " (no content cues are counted); set [asr] enabled = true, or delete them"
    ]
    # the provisioned file without a model: model_path = "" is its default, and the others are not written
    assert warnings_of(tmp_path, capsys, '[asr]\nenabled = false\nmodel_path = ""\n[mqtt]\nhost = "127.0.0.1"\n') == []


def test_run_says_the_switched_off_mqtt_keys_at_its_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(runner, "run", lambda config, options: 0.0)
    config = tmp_path / "listener.toml"
    config.write_text(FLEET)
    assert main(["run", "--config", str(config)]) == 0
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert said == [
        "config warning at mqtt.enabled = false: [mqtt] host, port, device_id, tls, username are written but "
        "nothing is published (no broker is connected to); set [mqtt] enabled = true, or delete them"
    ], said
