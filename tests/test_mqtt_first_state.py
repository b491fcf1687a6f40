"""The retained ``state`` a start publishes first is what the source found, never a "listening" guessed.

It used to be published as the MQTT stage opened, before the array was looked for: every start without
the array (each of systemd's restarts, a USB array plugged in late) said "listening", then "fault" 0.6 s
later, and an automation keyed on the mode saw it flap.
"""

from __future__ import annotations

from pathlib import Path

from listener.config import parse_config
from listener.events import AudioDropped
from listener.service.runner import RunOptions
from tests.alsa_device import AlsaConfig, alsa_config  # noqa: F401  (fixture)
from tests.mqtt_broker import Mosquitto, Recorder
from tests.mqtt_feed import json_on
from tests.service_stop import StopsAt, run_with_rescue


def test_the_first_state_without_an_array_is_fault(
    alsa_config: AlsaConfig,  # noqa: F811  (no device at all)
    broker: Mosquitto,
    tmp_path: Path,
) -> None:
    config = parse_config(
        {
            "array": {"device": "no_such_array", "reopen_interval_s": 0.2},
            "leds": {"enabled": False, "button_pin": ""},
            "mqtt": broker.mqtt_config(),
            "service": {"state_dir": str(tmp_path)},
        }
    )
    with Recorder(broker) as rec:
        run_with_rescue(config, RunOptions(wait_for_array=True), [StopsAt(1.5, kinds=(AudioDropped,))], rescue_s=30)
        got = rec.wait_for(lambda ms: bool(json_on(ms, "state")), timeout_s=5.0)
    modes = [state["mode"] for state in json_on(got, "state")]
    assert modes and set(modes) == {"fault"}, modes
