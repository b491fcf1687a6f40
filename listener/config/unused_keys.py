"""Settings the file writes that the rest of it makes do nothing: said (check-config, the start of run).

A warning, not an error, as for the direction keys in channel-map mode (:mod:`party_checks`): the file
works, but not as its writer thinks. TLS files beside ``tls = false`` left the link in plain text
with no word said; a password file beside an empty user name was never read; a fleet's file with each
device's broker and name under ``[mqtt] enabled = false`` published nothing, and nothing said so.

Judged on the keys the file itself holds, not on the tree with its defaults filled in: a key its
writer never wrote, or wrote as its default, is no mistake.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from listener.config.mqtt_schema import MqttConfig
from listener.config.presets import PRESETS, PROVISIONED_DEVICE, ArrayPreset
from listener.config.schema import (
    CHANNEL_MAP_RATIO_DB,
    ActivityConfig,
    AnalyticsConfig,
    AsrConfig,
    Config,
    LedsConfig,
    TurnModelConfig,
)
from listener.config.text_checks import plain_name
from listener.config.warning import ConfigWarning
from listener.errors import toml_value

PASSWORD_ENV = "LISTENER_MQTT_PASSWORD"  # read by outputs/mqtt/credentials.py, environment first
TLS_KEYS = ("ca_file", "cert_file", "key_file", "tls_insecure")
# the LED that each preset's wiring does not have
UNUSED_PIN = {"rgb": "amber_pin", "traffic-light": "blue_pin"}
_LIGHTS = {"rgb": "red_pin, green_pin and blue_pin", "traffic-light": "green_pin, amber_pin and red_pin"}


def _set(data: Mapping[str, object], table: str, key: str, default: object) -> object | None:
    """``[table] key`` as the file writes it, or None when it is not written or is its default."""
    written = data.get(table)
    if not isinstance(written, dict) or key not in written or written[key] == default:
        return None
    return written[key]


def _switched_off(data: Mapping[str, object], table: str, defaults: object, done: str) -> list[ConfigWarning]:
    """One warning naming the keys ``[table]`` writes (other than as their defaults) while the table's
    ``enabled`` is false, which nothing then reads; ``done``: what is not done."""
    written = data.get(table)
    if not isinstance(written, dict):
        return []
    keys = [key for key, value in written.items() if key != "enabled" and value != getattr(defaults, key, None)]
    if not keys:
        return []
    # a fleet file from the installed one keeps its "enabled = false": the device's broker and name were
    # written, and nothing was ever published
    said = "" if "enabled" in written else " (not written: the default)"
    are, them = ("is", "it") if len(keys) == 1 else ("are", "them")
    problem = f"{table}.enabled = false{said}: [{table}] {', '.join(keys)} {are} written but {done}"
    return [ConfigWarning(problem, f"set [{table}] enabled = true, or delete {them}")]


def unused_asr_keys(data: Mapping[str, object], asr: AsrConfig) -> list[ConfigWarning]:
    """A warning for the [asr] keys written while transcription is off."""
    if asr.enabled:
        return []
    return _switched_off(data, "asr", AsrConfig(), "nothing is transcribed (no content cues are counted)")


def unused_mqtt_keys(
    data: Mapping[str, object], mqtt: MqttConfig, environ: Mapping[str, str] | None = None
) -> list[ConfigWarning]:
    """With MQTT off, one warning naming the [mqtt] keys written; with it on, one per TLS key under
    ``tls = false``, for an area without discovery, and for a password no user name goes with.

    ``environ``: the environment the password is read from, at run (check-config's is not the service's)."""
    defaults = MqttConfig()
    if not mqtt.enabled:  # nothing connects: which TLS key or password would go unused is moot
        return _switched_off(data, "mqtt", defaults, "nothing is published (no broker is connected to)")
    said: list[ConfigWarning] = []
    for key in TLS_KEYS if not mqtt.tls else ():
        value = _set(data, "mqtt", key, getattr(defaults, key))
        if value is not None:
            plain = "has no effect with mqtt.tls = false (the link to the broker is plain, unencrypted MQTT)"
            fix = "set [mqtt] tls = true to use it, or delete it"
            said.append(ConfigWarning(f"mqtt.{key} = {toml_value(value)}: {plain}", fix, ": "))
    said += _area_unsent(data, mqtt)
    if mqtt.username:
        return said
    anonymous = "has no effect while mqtt.username is empty (the broker is logged in to anonymously)"
    password_file = _set(data, "mqtt", "password_file", defaults.password_file)
    if password_file is not None:
        problem = f"mqtt.password_file = {toml_value(password_file)}: {anonymous}"
        said.append(ConfigWarning(problem, "set [mqtt] username, or delete it", ": "))
    if environ is not None and environ.get(PASSWORD_ENV):  # its value is never said
        fix = "set [mqtt] username, or remove the variable (/etc/listener/secrets.env for the service)"
        said.append(ConfigWarning(f"{PASSWORD_ENV} (in the environment): {anonymous}", fix, ": "))
    return said


def _area_unsent(data: Mapping[str, object], mqtt: MqttConfig) -> list[ConfigWarning]:
    """An area reaches Home Assistant in the discovery message alone: under ``discovery = false`` it does
    nothing, and the device sits in no area with no word of why."""
    area = _set(data, "mqtt", "suggested_area", MqttConfig().suggested_area)
    if area is None or mqtt.discovery:
        return []
    problem = f"mqtt.suggested_area = {toml_value(area)}: has no effect with mqtt.discovery = false (only the Home "
    problem += "Assistant discovery message carries it)"
    return [ConfigWarning(problem, "set [mqtt] discovery = true to use it, or delete it", ": ")]


def unused_led_pins(data: Mapping[str, object], leds: LedsConfig) -> list[ConfigWarning]:
    """A warning for the pin of the one LED the preset's wiring does not have (amber on rgb, blue on a
    traffic light)."""
    key = UNUSED_PIN.get(leds.preset)
    if key is None or not leds.in_use:  # no lights at all: every pin is unused, and that is what was asked
        return []
    value = _set(data, "leds", key, getattr(LedsConfig(), key))
    if value is None:
        return []
    problem = (
        f"leds.{key} = {toml_value(value)}: has no effect with leds.preset = {toml_value(leds.preset)} (its lights "
        f"are {_LIGHTS[leds.preset]})"
    )
    return [ConfigWarning(problem, "delete it, or set the preset whose light it is", ": ")]


# read only by the heuristic decider (listener.spatial.decide), which runs only without the turn model
DECIDER_KEYS: tuple[tuple[str, str], ...] = (("activity", "hangover_s"), ("activity", "party_ratio_db"))
# read only with the turn model: its own, and the analytics' thresholds on its outputs (listener.analytics.overlaps)
MODEL_KEYS: tuple[tuple[str, str], ...] = (
    ("turn_model", "path"),
    ("turn_model", "threads"),
    ("analytics", "model_interruption_prob"),
    ("analytics", "premature_hold_prob"),
)


def unused_decider_keys(data: Mapping[str, object], turn_model: TurnModelConfig) -> list[ConfigWarning]:
    """A warning for each key of the activity decider that is not running: the heuristic decider's under the
    turn model, the model's with it turned off (and the analytics' thresholds on its outputs)."""
    defaults: dict[str, object] = {
        "activity": ActivityConfig(),
        "turn_model": TurnModelConfig(),
        "analytics": AnalyticsConfig(),
    }
    if turn_model.enabled:
        keys = DECIDER_KEYS
        why = "the turn model decides who speaks (turn_model.enabled = true)"
        fix = "set [turn_model] enabled = false to use the heuristic decider, or delete it"
    else:
        keys = MODEL_KEYS
        why = "turn_model.enabled = false (the heuristic decider runs, and no model's outputs are read)"
        fix = "delete it, or enable the model"
    said = []
    for table, key in keys:
        value = _set(data, table, key, getattr(defaults[table], key))
        if value is not None:
            said.append(ConfigWarning(f"{table}.{key} = {toml_value(value)}: has no effect while {why}", fix, ": "))
    return said


def channel_map_on_array(config: Config, channel_map: bool) -> list[ConfigWarning]:
    """Channel-map mode on a preset's own mics: an array on one board, a few cm apart, hears both parties alike.

    Only where the capture is the board's card (``device`` unset, the provisioned ``listener_array`` over it,
    or one of its card names): another device (a USB interface's lapel mics) merely keeps the default preset.
    """
    preset = PRESETS.get(config.array.preset)
    if not channel_map or preset is None or not on_preset_card(config.array.device, preset):
        return []
    channel_key = "rep_channel" if config.parties.rep_channel is not None else "customer_channel"
    problem = (
        f"parties.{channel_key} = {toml_value(getattr(config.parties, channel_key))}: channel-map mode with [array] "
        f"preset = {toml_value(config.array.preset)}, whose mics are an array on one board (a few cm apart): they "
        "hear both parties alike, and channel-map mode needs one mic at each party's mouth"
    )
    fix = (
        "for the array's own mics drop [parties] rep_channel and customer_channel and set the parties' directions "
        '(`listener calibrate`); for lapel mics on a USB interface set [array] preset = "generic", device to its '
        "name (`listener devices`) and channels = 2"
    )
    return [ConfigWarning(problem, fix, "; fix: ")]


def on_the_card(device: str) -> bool:
    """Whether ``device`` is the preset's own card: none named, or provision.sh's device over it, spelt as the
    device search reads names (any case, punctuation aside)."""
    return plain_name(device) in ("", plain_name(PROVISIONED_DEVICE))


def on_preset_card(device: str, preset: ArrayPreset) -> bool:
    """Whether ``device`` is the preset's own card: as :func:`on_the_card`, or one of its card names; else another
    device (a USB interface's lapel mics) that merely keeps the default preset."""
    return on_the_card(device) or any(_names_card(device.lower(), h) for h in preset.device_hints)


def _names_card(device: str, hint: str) -> bool:
    """Whether ``device`` names the board's card: its hint within the name PortAudio shows ("seeed-4mic-voicecard"
    holds "seeed4micvoicec" once only letters and digits are kept), or a part of the hint long enough to be a name
    ("mic" or "4" is in the hint, and in a USB lapel receiver's name too)."""
    name, card = (re.sub(r"[^a-z0-9]", "", text.lower()) for text in (device, hint))
    return card in name or (len(name) >= 4 and name in card)


def capped_party_ratio(data: Mapping[str, object], config: Config, channel_map: bool) -> list[ConfigWarning]:
    """The heuristic decider's echo guard written above the channel-map ceiling, which is used instead."""
    if not channel_map or config.turn_model.enabled:
        return []
    written = data.get("activity")
    value = written.get("party_ratio_db") if isinstance(written, dict) else None  # the default written too
    if value is None or config.activity.party_ratio_db <= CHANNEL_MAP_RATIO_DB:
        return []
    problem = (
        f"activity.party_ratio_db = {toml_value(value)}: with one mic per party at most {CHANNEL_MAP_RATIO_DB:g} dB"
        " is used (more lets a voice leaking into the other mic pass as the other party's speech)"
    )
    return [ConfigWarning(problem, f"set it to {CHANNEL_MAP_RATIO_DB:g} or less, or delete it", ": ")]
