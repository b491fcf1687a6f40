"""config_hash leaves out what `listener calibrate --write` measures per counter, lapel mics' order included."""

from __future__ import annotations

from listener.config import parse_config
from listener.outputs.mqtt.identity import config_hash


def _lapel(rep: int, customer: int) -> str:
    array = {"preset": "generic", "channels": 4}
    parties = {"mode": "channels", "rep_channel": rep, "customer_channel": customer}
    return config_hash(parse_config({"array": array, "parties": parties, "mqtt": {"device_id": "counter-1"}}))


def test_lapel_mics_swapped_by_calibrate_keep_the_fleets_hash_other_channels_do_not() -> None:
    # calibrate swapped one counter's plugs: it is still set up like the rest of the fleet
    assert _lapel(0, 1) == _lapel(1, 0)
    assert _lapel(0, 1) != _lapel(2, 3)  # another pair of channels is another set-up
    assert _lapel(0, 1) != config_hash(parse_config({"mqtt": {"device_id": "counter-1"}}))  # the array by directions
