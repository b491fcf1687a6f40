"""`listener doctor` against real parts: ALSA file-PCM arrays, a real mosquitto, onnxruntime, gpiozero's mock."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from listener.cli import main
from listener.config import Config
from listener.errors import OutputError
from listener.outputs import gpio
from listener.service import doctor
from listener.service.doctor.mqtt import OWN_ID
from listener.service.instance import InstanceLock
from tests import alsa_device, asr_audio
from tests.alsa_device import TestDevice
from tests.doctor_config import config
from tests.mqtt_broker import BASE, DEVICE_ID, PASSWORD, Mosquitto, Recorder, free_port

alsa_config = alsa_device.alsa_config  # fixtures
test_array = alsa_device.test_array


def broker_with_acl(folder: Path, rules: str) -> Mosquitto:
    """A plain, anonymous broker whose ACL file holds ``rules`` (lines before any 'user' apply to anonymous)."""
    broker = Mosquitto(folder)
    acl = folder / "acl"
    acl.write_text(rules)
    broker.conf.write_text(broker.conf.read_text() + f"acl_file {acl}\n")
    return broker


def test_broker_reachable_and_publishing(tmp_path: Path) -> None:
    with Mosquitto(tmp_path / "broker") as broker, Recorder(broker) as seen:
        check = doctor.check_mqtt(config(tmp_path, mqtt=broker.mqtt_config(protocol="5")))
        probes = seen.wait_for(lambda messages: len(messages) == 2, timeout_s=5.0)
    assert check.status == "ok", check
    discovery = f"homeassistant/device/{DEVICE_ID}/doctor"  # a leaf Home Assistant ignores (not /config)
    assert check.detail == (
        f"connected to 127.0.0.1:{broker.port} anonymously, and publishes to {BASE}/doctor and {discovery}"
        " were accepted"
    )
    assert [(m.topic, m.retain) for m in probes] == [(f"{BASE}/doctor", False), (discovery, False)]  # doctor's leaf


def _check_behind_acl(tmp_path: Path, acl: str, protocol: str) -> doctor.Check:
    with broker_with_acl(tmp_path / "broker", acl) as broker:
        return doctor.check_mqtt(config(tmp_path, mqtt=broker.mqtt_config(protocol=protocol)))


def test_broker_acl_refusing_publish_fails_on_mqtt5(tmp_path: Path) -> None:
    check = _check_behind_acl(tmp_path, "topic read listener/#\n", "5")
    assert check.status == "FAIL", check
    assert f"refused a publish to {BASE}/doctor: Not authorized" in check.detail
    assert f"let anonymous clients publish to {BASE}/# in the broker's ACL" in check.fix


def test_a_broker_that_hangs_up_on_the_probe_publish_fails(tmp_path: Path) -> None:
    # mosquitto's max_qos 0 drops a client's connection at its QoS 1 publish: no PUBACK, as from brokers that
    # disconnect a client that may not publish
    broker = Mosquitto(tmp_path / "broker")
    broker.conf.write_text(broker.conf.read_text() + "max_qos 0\n")
    with broker:
        check = doctor.check_mqtt(config(tmp_path, mqtt=broker.mqtt_config(protocol="5")))
    assert check.status == "FAIL", check
    assert f"a QoS 1 publish to {BASE}/doctor was not acknowledged within 5 s" in check.detail, check


def test_a_broker_refusing_home_assistant_discovery_fails_naming_both_prefixes(tmp_path: Path) -> None:
    # the service's `refused the retained message for homeassistant/device/.../config` went with `ok mqtt`
    check = _check_behind_acl(tmp_path, "topic readwrite listener/#\n", "5")
    assert check.status == "FAIL", check
    assert f"one to homeassistant/device/{DEVICE_ID}/doctor (under the prefix" in check.detail
    assert check.detail.endswith("was refused: Not authorized")
    assert f"publish to {BASE}/# and homeassistant/# in the broker's ACL" in check.fix
    assert "[mqtt] discovery = false" in check.fix


def test_publish_rights_are_verified_on_mqtt311_by_reading_the_message_back(tmp_path: Path) -> None:
    check = _check_behind_acl(tmp_path, "topic readwrite listener/#\n", "3.1.1")
    assert check.status == "ok", check


def test_publish_rights_are_unverified_on_mqtt311(tmp_path: Path) -> None:
    # mosquitto acknowledges a 3.1.1 publish its ACL refuses, so an accepted publish proves nothing there
    check = _check_behind_acl(tmp_path, "topic read listener/#\n", "3.1.1")
    assert check.status == "warn", check
    assert "could not be verified on MQTT 3.1.1" in check.detail
    assert "mqtt.protocol = '5'" in check.fix


def test_a_broker_granting_rights_by_client_id_judges_doctor_as_the_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the service connects under the device id: doctor does too, unless the service runs and holds that id
    acl = "pattern readwrite listener/%c/#\npattern write homeassistant/device/%c/#\n"
    with broker_with_acl(tmp_path / "broker", acl) as broker:
        cfg = config(tmp_path, mqtt=broker.mqtt_config(protocol="5"))
        stopped = doctor.check_mqtt(cfg)
        with InstanceLock(Path(cfg.service.state_dir)):
            running = doctor.check_mqtt(cfg)
        # the login user's doctor on the service's 0750 folder: it cannot tell, and stopping the service would
        # change nothing (it was told it runs, and to stop it)
        monkeypatch.setattr("listener.service.instance.held", lambda state_dir: None)
        untold = doctor.check_mqtt(cfg)
    assert untold.status == "warn" and "whether a listener runs with this state_dir could not be told" in untold.detail
    assert "run doctor as the service user" in untold.fix and "stop the service" not in untold.fix, untold
    assert stopped.status == "ok", stopped
    assert running.status == "warn", running  # its own id refused: the service's rights are unknown, not wrong
    assert "client id of doctor's own" in running.detail
    assert "%c" in running.fix and f"publishes from client {DEVICE_ID}" in running.fix


def test_home_assistant_discovery_granted_by_client_id_is_no_fault_while_the_service_holds_that_id(
    tmp_path: Path,
) -> None:
    """Doctor beside a running service connects under an id of its own: a discovery publish refused to that id
    says nothing of the service's, so it is a warning naming why, not the FAIL a refusal to the device id is."""
    acl = "topic readwrite listener/#\npattern write homeassistant/device/%c/#\n"
    with broker_with_acl(tmp_path / "broker", acl) as broker:
        cfg = config(tmp_path, mqtt=broker.mqtt_config(protocol="5"))
        with InstanceLock(Path(cfg.service.state_dir)):
            running = doctor.check_mqtt(cfg)
    assert running.status == "warn", running
    assert f"one to homeassistant/device/{DEVICE_ID}/doctor (under the prefix" in running.detail, running
    assert running.detail.endswith(f"was refused: Not authorized, {OWN_ID}"), running
    assert f"publishes from client {DEVICE_ID}" in running.fix and "[mqtt] discovery = false" in running.fix


def test_broker_tls_with_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Mosquitto(tmp_path / "broker", tls=True) as broker:
        cfg = config(tmp_path, mqtt=broker.mqtt_config())
        monkeypatch.setenv("LISTENER_MQTT_PASSWORD", PASSWORD)
        good = doctor.check_mqtt(config(tmp_path, mqtt=broker.mqtt_config(protocol="5")))
        monkeypatch.setenv("LISTENER_MQTT_PASSWORD", "wrong")
        refused = doctor.check_mqtt(cfg)
        monkeypatch.delenv("LISTENER_MQTT_PASSWORD")
        untrusted = doctor.check_mqtt(config(tmp_path, mqtt=broker.mqtt_config(ca_file="")))
        plain = doctor.check_mqtt(config(tmp_path, mqtt=broker.mqtt_config(tls=False, ca_file="")))
    assert plain.status == "FAIL"  # a plain CONNECT to the TLS port: the fix names the likely mix-up
    assert "set mqtt.tls = true" in plain.fix, plain
    assert good.status == "ok", good
    assert good.detail.startswith(f"connected to 127.0.0.1:{broker.port} (TLS) as counter, and publishes")
    assert refused.status == "FAIL"
    assert "refused the connection" in refused.detail
    assert "password" in refused.fix
    assert untrusted.status == "FAIL"  # the system CAs do not know the test CA
    assert "CERTIFICATE_VERIFY_FAILED" in untrusted.detail
    assert "mqtt.ca_file" in untrusted.fix


def test_closed_port_fails_naming_host_and_port(tmp_path: Path) -> None:
    port = free_port()
    check = doctor.check_mqtt(config(tmp_path, mqtt={"enabled": True, "host": "127.0.0.1", "port": port}))
    assert check.status == "FAIL"
    assert f"127.0.0.1:{port}" in check.detail
    assert "mqtt.host and mqtt.port" in check.fix


def test_corrupt_turn_model_fails_naming_the_file(tmp_path: Path) -> None:
    spec = pytest.importorskip("listener.turns.spec")
    shipped_model_path, sidecar_path = spec.shipped_model_path, spec.sidecar_path
    model = tmp_path / "turn.onnx"
    model.write_bytes(shipped_model_path().read_bytes()[:200] + b"\x00garbage" * 100)
    shutil.copy(sidecar_path(shipped_model_path()), sidecar_path(model))
    check = doctor.check_turn_model(config(tmp_path, turn_model={"path": str(model)}))
    assert check.status == "FAIL"
    assert str(model) in check.detail
    assert "[turn_model] enabled = false" in check.fix


def test_missing_turn_model_line_reads_cleanly(tmp_path: Path) -> None:
    pytest.importorskip("listener.turns.spec")
    missing = tmp_path / "gone.onnx"
    check = doctor.check_turn_model(config(tmp_path, turn_model={"path": str(missing)}))
    assert check.status == "FAIL"
    assert check.detail == f"{missing} not found"  # no "found:" left dangling before "; fix:"
    assert check.line().count("turn model") == 1  # the check's name, not said again by the error
    assert "found; fix: set [turn_model] path = '' to use the model shipped" in check.line()


def test_shipped_turn_model_loads(tmp_path: Path) -> None:
    shipped_model_path = pytest.importorskip("listener.turns.spec").shipped_model_path
    check = doctor.check_turn_model(config(tmp_path))
    assert check.status == "ok"
    assert str(shipped_model_path()) in check.detail


def test_the_turn_model_is_read_once_for_its_load_and_its_fingerprint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """doctor loaded the model, then read the file again to fingerprint it: the one loaded is the one named."""
    shipped = pytest.importorskip("listener.turns.spec").shipped_model_path()
    from listener.outputs.mqtt.identity import turn_model_version

    reads: list[Path] = []
    read_bytes = Path.read_bytes

    def counted(path: Path) -> bytes:
        if path == shipped:
            reads.append(path)
        return read_bytes(path)

    monkeypatch.setattr(Path, "read_bytes", counted)
    check = doctor.check_turn_model(config(tmp_path))
    assert check.status == "ok" and len(reads) == 1, (check, reads)
    assert f"fingerprint {turn_model_version(config(tmp_path))})" in check.detail  # the one MQTT's info sends


def test_gpio_mock_factory_warns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    check = doctor.check_gpio(config(tmp_path))
    assert check.status == "warn"
    assert "simulated" in check.detail


def test_gpio_without_env_is_no_fault_off_a_pi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GPIOZERO_PIN_FACTORY", raising=False)
    monkeypatch.setattr(gpio, "board_model", lambda: "")  # a laptop
    check = doctor.check_gpio(config(tmp_path))
    # no GPIO is a warning; where gpiozero does find a pin library, its factory is named
    assert (check.status, "mock" in check.detail) in {("warn", True), ("ok", False)}, check


def test_a_pin_library_named_in_the_environment_that_cannot_load_is_a_fault_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A typo in GPIOZERO_PIN_FACTORY (the unit's Environment=): gpiozero would fall back to nothing, and the
    LEDs stay dark at the counter; doctor names the variable, its value, and both ways out."""
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "lgpio-typo")
    check = doctor.check_gpio(config(tmp_path))
    assert check.status == "FAIL", check
    assert check.detail.startswith("GPIOZERO_PIN_FACTORY=lgpio-typo cannot be loaded ("), check
    assert "'lgpio-typo'" in check.detail, check  # gpiozero's own reason rides along
    assert check.fix == "install that pin library, or unset GPIOZERO_PIN_FACTORY", check


def test_gpio_is_not_looked_at_without_leds_or_button(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a device without LEDs or button: a missing pin library is no fault there, not even a warning
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "lgpio-typo")
    base = config(tmp_path)
    bare = replace(base, leds=replace(base.leds, enabled=False, button_pin=""))
    assert doctor.check_gpio(bare) == doctor.Check("gpio", "ok", "not used (no LEDs, no button)")
    # a button alone still needs the pins: looked at, and the library's fault found
    button_only = replace(bare, leds=replace(bare.leds, button_pin="GPIO17"))
    assert doctor.check_gpio(button_only).status == "FAIL"


def test_a_pi_whose_gpio_cannot_be_used_is_a_fault(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """python3-lgpio missing, or the user not in group gpio: dark LEDs on a counter would go unnoticed."""
    from gpiozero import Device
    from gpiozero.exc import BadPinFactory

    def no_library() -> None:
        raise BadPinFactory("Unable to load any default pin factory!")

    monkeypatch.delenv("GPIOZERO_PIN_FACTORY", raising=False)
    monkeypatch.setattr(gpio, "board_model", lambda: "Raspberry Pi 4 Model B Rev 1.4")
    monkeypatch.setattr(Device, "_default_pin_factory", staticmethod(no_library))
    check = doctor.check_gpio(config(tmp_path))
    assert check.status == "FAIL" and "python3-lgpio" in check.fix and "group gpio" in check.fix
    monkeypatch.setattr(gpio, "_shared", None)
    with pytest.raises(OutputError, match="no GPIO pin library works on this Raspberry Pi 4"):
        gpio.pin_factory()


def test_a_check_with_a_bug_fails_alone_and_the_others_still_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An installer runs doctor to find every problem at once: a bug in one check (here the
    directions check) must show as that check's FAIL, not end the run before the others."""

    def check_directions(config: Config) -> doctor.Check:
        raise KeyError("a bug")

    monkeypatch.setattr(doctor, "check_directions", check_directions)
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    path = tmp_path / "listener.toml"
    path.write_text(f'[array]\ndevice = "gone"\n[service]\nstate_dir = "{tmp_path}"\n')
    assert main(["doctor", "--config", str(path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert any(line.startswith("FAIL  directions the check itself failed: KeyError: 'a bug'") for line in out), out
    assert [line.split()[1] for line in out][-7:] == ["turn", "memory", "asr", "gpio", "mqtt", "disk", "clock"]


def test_cli_exit_codes(
    tmp_path: Path, test_array: TestDevice, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    path = tmp_path / "listener.toml"
    path.write_text(f'[array]\ndevice = "listener_test_array"\n[service]\nstate_dir = "{tmp_path}"\n')
    assert main(["doctor", "--config", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in out] == [
        "config", "audio", "preset", "levels", "directions", "turn", "memory", "asr", "gpio", "mqtt", "disk", "clock"
    ]  # fmt: skip
    assert not [line for line in out if line.startswith("FAIL")]

    path.write_text(f'[array]\ndevice = "gone"\n[service]\nstate_dir = "{tmp_path}"\n')
    assert main(["doctor", "--config", str(path)]) == 1
    assert "FAIL  audio" in capsys.readouterr().out

    path.write_text("[array]\nchannels = 0\n")
    assert main(["doctor", "--config", str(path)]) == 2
    assert "array.channels" in capsys.readouterr().err


def test_asr_model_missing_fails_with_the_fetch_command(tmp_path: Path) -> None:
    check = doctor.check_asr_model(config(tmp_path, asr={"enabled": True}))
    assert check.status == "FAIL"
    assert f"no vosk model in {tmp_path / 'state' / 'models'}" in check.detail
    assert "listener models fetch en-small" in check.fix


def test_a_configured_model_path_gets_a_fetch_that_fills_it(tmp_path: Path) -> None:
    elsewhere = tmp_path / "models" / "vosk-model-small-en-us-0.15"
    check = doctor.check_asr_model(config(tmp_path, asr={"enabled": True, "model_path": str(elsewhere)}))
    assert f"listener models fetch en-small --dir {elsewhere.parent}`" in check.fix
    odd = tmp_path / "my-model"
    check = doctor.check_asr_model(config(tmp_path, asr={"enabled": True, "model_path": str(odd)}))
    assert "empty [asr] model_path" in check.fix and f"not {odd}" in check.fix


def test_asr_model_present_loads(tmp_path: Path) -> None:
    from tests.asr_audio import korean_model

    # the Korean model's parts without its README, which names it Korean ([asr] language is en: a warning)
    model = tmp_path / "model"
    model.mkdir()
    for part in ("am", "conf", "graph", "ivector"):
        (model / part).symlink_to(korean_model() / part)
    check = doctor.check_asr_model(config(tmp_path, asr={"enabled": True, "model_path": str(model)}))
    assert (check.status, check.detail) == ("ok", f"vosk model {model} loads")


@pytest.mark.parametrize("damage", asr_audio.RECOGNISER_DAMAGES)
def test_asr_model_no_recogniser_can_be_built_from_fails(tmp_path: Path, damage: str) -> None:
    # vosk.Model loads it; the recogniser transcription builds on the first audio would fail (doctor said ok)
    bad = asr_audio.damaged_model(tmp_path / "model", damage)
    check = doctor.check_asr_model(config(tmp_path, asr={"enabled": True, "model_path": str(bad)}))
    assert check.status == "FAIL", check.line()
    assert check.detail == f"vosk could not load the model in {bad} (Failed to create a recognizer)"
    assert check.fix == f"replace {bad} with an unzipped vosk model folder, or point [asr] model_path at one"


def broken_default_model(tmp_path: Path) -> Path:
    """An en-small model folder at the default place whose acoustic model vosk cannot load."""
    from listener.transcription.models import MODELS

    path = tmp_path / "state" / "models" / MODELS["en-small"].name
    (path / "am").mkdir(parents=True)
    (path / "am" / "final.mdl").write_bytes(b"\x00truncated by a power cut")
    return path


def test_asr_model_copied_by_hand_and_broken_says_to_delete_it_first(tmp_path: Path) -> None:
    # fetch keeps a model without its stamp, so "fetch it again" alone would change nothing
    path = broken_default_model(tmp_path)
    check = doctor.check_asr_model(config(tmp_path, asr={"enabled": True}))
    assert check.status == "FAIL"
    assert f"vosk could not load the model in {path}" in check.detail and "fetch it again" not in check.detail
    # no config file named: the command names this state_dir's models folder, where fetch must unpack
    fetch = f"listener models fetch en-small --dir {path.parent}"
    assert check.fix == f"delete the folder {path}, then run `{fetch}` while online"


def test_asr_model_fetched_and_damaged_says_fetch_repairs_it(tmp_path: Path) -> None:
    from listener.transcription.models import MODELS, STAMP, STAMP_SCHEMA

    path = broken_default_model(tmp_path)
    stamp = {"schema": STAMP_SCHEMA, "zip_sha256": MODELS["en-small"].sha256, "files": {"am/final.mdl": "0" * 64}}
    (path / STAMP).write_text(json.dumps(stamp))
    check = doctor.check_asr_model(config(tmp_path, asr={"enabled": True}))
    assert check.status == "FAIL"
    fetch = f"listener models fetch en-small --dir {path.parent}"
    assert check.fix == f"run `{fetch}` while online: it replaces the damaged model"
    # a fetch without the config would unpack under the built-in /var/lib/listener, not into this state_dir
    given = doctor.check_asr_model(config(tmp_path, asr={"enabled": True}), config_file=tmp_path / "my conf.toml")
    assert f"`listener models fetch en-small --config '{tmp_path}/my conf.toml'` while online" in given.fix


def test_a_missing_password_file_gives_its_fix_apart_for_a_fleet_script(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the fix field read "fix the [mqtt] keys it names", the real advice left inside the detail
    monkeypatch.delenv("LISTENER_MQTT_PASSWORD", raising=False)
    missing = tmp_path / "nope"
    mqtt = {"enabled": True, "host": "127.0.0.1", "port": free_port(), "username": "u", "password_file": str(missing)}
    check = doctor.check_mqtt(config(tmp_path, mqtt=mqtt))
    assert check.status == "FAIL", check.line()
    assert check.detail.endswith(f"mqtt.password_file {missing} cannot be read (No such file or directory)")
    assert check.fix.startswith("check the path and that the listener user may read it, or set LISTENER_MQTT_PASSWORD")
