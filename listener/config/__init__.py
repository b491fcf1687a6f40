"""Load the configuration once into one frozen, validated tree."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from listener.config.analytics_warnings import backchannels_taken, unreachable_thresholds
from listener.config.array_checks import check_aperture, check_coordinates, check_directions
from listener.config.loader import build, read_toml
from listener.config.mqtt_warnings import exposed_login, slow_drain
from listener.config.party_checks import check_mode_keys, unused_direction_keys
from listener.config.paths import config_folder, resolve_paths
from listener.config.pins import check_pins
from listener.config.presets import PRESETS, ArrayPreset
from listener.config.schema import MAX_CHANNELS, PROCESSING_RATE_HZ, Config, PartiesConfig
from listener.config.text_checks import (
    check_area,
    check_device,
    check_host,
    check_state_dir,
    check_topic_prefix,
    check_username,
    is_topic_id,
)
from listener.config.unused_keys import (
    capped_party_ratio,
    channel_map_on_array,
    on_preset_card,
    on_the_card,
    unused_asr_keys,
    unused_decider_keys,
    unused_led_pins,
    unused_mqtt_keys,
)
from listener.config.warning import ConfigWarning
from listener.errors import ConfigError
from listener.transcription.lexicon import check_language

__all__ = [
    "INSTALLED_CONFIG",
    "PROCESSING_RATE_HZ",
    "ArrayGeometry",
    "Config",
    "ConfigWarning",
    "config_file",
    "config_folder",
    "config_warnings",
    "geometry",
    "load_config",
    "parse_config",
    "read_config",
]

INSTALLED_CONFIG = Path("/etc/listener/listener.toml")  # where firmware/ writes it and the unit's run reads it


def config_file(given: Path | None) -> Path | None:
    """``--config``, else the installed configuration where there is one; None: the built-in defaults.

    What a command run by hand on a device reads (doctor, leds-off): the file its service runs with.
    """
    if given is not None:
        return given
    try:
        return INSTALLED_CONFIG if INSTALLED_CONFIG.exists() else None
    except OSError:  # /etc/listener may not be entered: reading it says so, with the fix
        return INSTALLED_CONFIG


def load_config(path: Path | None) -> Config:
    """Read and validate ``path``; ``None`` gives the defaults."""
    return read_config(path)[0]


def read_config(path: Path | None) -> tuple[Config, dict[str, object]]:
    """``path`` validated, and as read (for :func:`config_warnings`); ``None`` gives the defaults."""
    if path is None:
        return parse_config({}), {}
    data = read_toml(path)
    return parse_config(data, config_folder(path)), data


SHIPPED_TURN_MODEL_FRAME_MS = 10  # its sidecar's input.hop_s is two of these (tests/test_turns_errors.py)


def parse_config(data: dict[str, object], folder: Path | None = None) -> Config:
    """``data`` (a TOML document) validated; ``folder``: where the file holding it is, which its relative
    paths are read from (None: from no file, and a relative path is refused)."""
    _reject_secrets(data)
    config = resolve_paths(build(Config, data, ""), folder)
    check_mode_keys(data)  # on the keys the file writes: a default is no contradiction
    _check(config)
    return config


def config_warnings(
    config: Config, data: dict[str, object], environ: Mapping[str, str] | None = None
) -> list[ConfigWarning]:
    """Keys the file (``data``, as read; ``config``, its parse) writes to no effect, or that switch another
    off (a threshold another makes unreachable or takes the events of): said by check-config, at the start
    of run and by doctor (the problem and the fix in its columns); ``environ``: the environment run reads the
    broker password from."""
    return [
        *unused_direction_keys(data, channel_map_mode(config.parties), config.array.preset != "generic"),
        *unused_mqtt_keys(data, config.mqtt, environ),
        *slow_drain(config.mqtt),
        *exposed_login(config.mqtt),
        *unused_asr_keys(data, config.asr),
        *unused_led_pins(data, config.leds),
        *unused_decider_keys(data, config.turn_model),
        *capped_party_ratio(data, config, channel_map_mode(config.parties)),
        *channel_map_on_array(config, channel_map_mode(config.parties)),
        *unreachable_thresholds(config.analytics),
        *backchannels_taken(config.analytics),
    ]


def channel_map_mode(parties: PartiesConfig) -> bool:
    """One mic per party: ``mode = "channels"``, or ``"auto"`` with either channel key set."""
    # either channel alone means channel-map mode, so the missing one is asked for rather than both ignored
    channel_set = parties.rep_channel is not None or parties.customer_channel is not None
    return parties.mode == "channels" or (parties.mode == "auto" and channel_set)


@dataclass(frozen=True, slots=True)
class ArrayGeometry:
    """What the array configuration resolves to."""

    preset: str
    mics_m: npt.NDArray[np.float64]  # (n_mics, 3)
    capture_channels: int
    mic_channels: tuple[int, ...]
    device_hints: tuple[str, ...]  # names to look for, in order; () = PortAudio's default input
    mode: Literal["doa", "channels"]
    rep_channel: int
    customer_channel: int

    @property
    def n_mics(self) -> int:
        return int(self.mics_m.shape[0])


def geometry(config: Config) -> ArrayGeometry:
    arr, parties = config.array, config.parties
    preset = PRESETS.get(arr.preset)
    mics = arr.mics if arr.mics is not None else (preset.mics_m if preset else ())
    # measured positions of the preset's own mics: they replace its geometry, not its channels (the USB
    # array's mics are channels 1-4; channel 0 is its processed beam)
    board = preset is not None and (arr.mics is None or len(arr.mics) == len(preset.mic_channels))
    mic_channels = _mic_channels(arr.mic_channels, preset if board else None, len(mics))
    rep_channel = parties.rep_channel if parties.rep_channel is not None else 0
    customer_channel = parties.customer_channel if parties.customer_channel is not None else 1
    mode: Literal["doa", "channels"] = "channels" if channel_map_mode(parties) else "doa"
    if arr.channels is not None:
        capture = arr.channels
    elif mode == "channels" and preset is not None:
        # no mics are used: the preset's card as it is, whatever array.mics or mic_channels a file kept from
        # direction mode (three leftover mics made the 4-mic card capture 3 channels, and the error blamed
        # array.channels); another device that keeps the default preset (lapel mics on a 2-channel USB
        # interface) is asked for the parties' channels, not the board's 4, which it refused at the start
        on_card = on_preset_card(arr.device, preset)
        capture = preset.capture_channels if on_card else max(rep_channel, customer_channel) + 1
    elif preset is not None and (board or on_the_card(arr.device)):
        # fewer measured mics than the board has (one left out) are still on its card, which captures as it does
        capture = preset.capture_channels
    elif mic_channels:  # a generic device: its mics say how many channels it has
        capture = max(mic_channels) + 1
    else:  # channel-map mode on a generic device without mics: the parties' channels
        capture = max(rep_channel, customer_channel) + 1
    return ArrayGeometry(
        preset=arr.preset,
        mics_m=np.asarray(mics, dtype=np.float64).reshape(-1, 3),
        capture_channels=capture,
        mic_channels=tuple(mic_channels),
        device_hints=(arr.device,) if arr.device else (preset.device_hints if preset else ()),
        mode=mode,
        rep_channel=rep_channel,
        customer_channel=customer_channel,
    )


def _mic_channels(given: tuple[int, ...] | None, board: ArrayPreset | None, n_mics: int) -> tuple[int, ...]:
    """The channel of each mic: as configured, else the board's (its mics as it has them), else 0, 1, ..."""
    if given is not None:
        return given
    return board.mic_channels if board is not None else tuple(range(n_mics))


def _check(config: Config) -> None:
    arr = config.array
    check_device(arr.device)
    # channel-map mode reads no mic geometry: one mic per party, on the channels [parties] names
    by_direction = not channel_map_mode(config.parties)
    if by_direction and arr.preset == "generic" and arr.mics is None:
        raise ConfigError(
            "array.mics",
            None,
            "required when array.preset = 'generic': list [x, y, z] in metres per mic (or, with one mic per party,"
            " set [parties] rep_channel and customer_channel: channel-map mode needs no mics)",
        )
    preset = PRESETS.get(arr.preset)
    if preset is not None and arr.sample_rate > preset.max_rate_hz:
        raise ConfigError(
            "array.sample_rate",
            arr.sample_rate,
            f"array.preset = '{preset.name}' captures at most {preset.max_rate_hz} Hz",
        )
    if by_direction and arr.mics is not None:
        check_coordinates(arr.mics)
    geo = geometry(config)
    _check_channels(config, geo)
    _check_parties(config, geo)
    _check_analytics(config)
    act = config.activity
    if act.high_hz <= act.low_hz:
        raise ConfigError("activity.high_hz", act.high_hz, f"must be above activity.low_hz ({act.low_hz})")
    if config.turn_model.enabled and not config.turn_model.path and act.frame_ms != SHIPPED_TURN_MODEL_FRAME_MS:
        # the rule the turn stage applies to any model's sidecar when it starts, for the shipped one now
        raise ConfigError(
            "activity.frame_ms",
            act.frame_ms,
            f"the shipped turn model was trained on {SHIPPED_TURN_MODEL_FRAME_MS} ms frames: set [activity] "
            f"frame_ms = {SHIPPED_TURN_MODEL_FRAME_MS}, or [turn_model] enabled = false to use this frame length",
        )
    _check_mqtt(config)
    check_pins(config.leds, arr.preset, preset.reserved_pins if preset is not None else {})
    check_state_dir(config.service.state_dir)
    check_language(config.asr.language)  # the rule the transcription stage applies when it starts


def _check_analytics(config: Config) -> None:
    an = config.analytics
    if an.dominance_off_share >= an.dominance_on_share:
        raise ConfigError(
            "analytics.dominance_off_share",
            an.dominance_off_share,
            f"must be below analytics.dominance_on_share ({an.dominance_on_share}) so dominance has hysteresis",
        )
    if an.dominance_min_speech_s > an.rolling_window_s:
        raise ConfigError(
            "analytics.dominance_min_speech_s",
            an.dominance_min_speech_s,
            f"must not exceed analytics.rolling_window_s ({an.rolling_window_s}): the window holds no more talk"
            " than that (unless both speak at once), so dominance by share would never start",
        )


def _check_channels(config: Config, geo: ArrayGeometry) -> None:
    arr = config.array
    preset = PRESETS.get(arr.preset)
    # the preset's own card, also through provision.sh's device over it (a plug there would repeat channels
    # the card does not have, in silence): its channels are known
    board = preset if preset is not None and on_the_card(arr.device) else None
    if geo.mode == "channels":
        # the mics of the preset (or array.mics) are not used: only the parties' channels must be captured,
        # which _check_parties says, and no more channels than the preset's own card has
        if arr.channels is None and geo.capture_channels > MAX_CHANNELS:  # a generic device's mics count them
            raise ConfigError(
                "array.mics",
                geo.mics_m.tolist(),
                f"has {geo.n_mics} mics, so {geo.capture_channels} channels to capture; at most {MAX_CHANNELS}",
            )
        if board is not None and arr.channels is not None and arr.channels > board.capture_channels:
            _check_board_channels(config, geo, board)
        return
    if arr.mic_channels is not None and len(arr.mic_channels) != geo.n_mics:
        raise ConfigError(
            "array.mic_channels", list(arr.mic_channels), f"must name one channel per mic ({geo.n_mics} mics)"
        )
    if len(set(geo.mic_channels)) != len(geo.mic_channels):
        raise ConfigError("array.mic_channels", list(geo.mic_channels), "must not repeat a channel")
    if board is not None:
        _check_board_channels(config, geo, board)
    if max(geo.mic_channels) >= geo.capture_channels:
        # the channels counted may be the preset's, not written in the file: say where both numbers come from
        counted = "" if arr.channels is not None else f" (the count of array.preset = '{arr.preset}', not set here)"
        listed = "array.mic_channels" if arr.mic_channels is not None else f"the mics of array.preset = '{arr.preset}'"
        raise ConfigError(
            "array.channels",
            geo.capture_channels,
            f"must exceed the highest mic channel ({max(geo.mic_channels)}, of {listed}){counted}",
        )


def _check_board_channels(config: Config, geo: ArrayGeometry, preset: ArrayPreset) -> None:
    """Channels the preset's card does not have: said at check-config, not when the card refuses them."""
    arr, has = config.array, preset.capture_channels
    board = f"the {preset.name}'s card captures {has} channels (0-{has - 1})"
    other = "set array.device too for another array"
    if arr.channels is not None and arr.channels > has:
        raise ConfigError("array.channels", arr.channels, f"{board}: {other}")
    if arr.mic_channels is not None and max(arr.mic_channels) >= has:
        raise ConfigError(
            "array.mic_channels", list(arr.mic_channels), f"{board}: name channels among them, or {other}"
        )
    if arr.mics is None or arr.mic_channels is not None or geo.mic_channels == preset.mic_channels:
        return
    if preset.mic_channels[0] != 0:
        raise ConfigError(
            "array.mics",
            geo.mics_m.tolist(),
            f"the {preset.name}'s mics are channels {_span(preset.mic_channels)}, not from 0: give "
            f"{len(preset.mic_channels)} mics, or say which channel each is with array.mic_channels",
        )
    if geo.n_mics > has:
        raise ConfigError(
            "array.mics", geo.mics_m.tolist(), f"{board}: {geo.n_mics} mics, give at most {has}, or {other}"
        )


def _span(channels: tuple[int, ...]) -> str:
    return f"{channels[0]}-{channels[-1]}" if channels == tuple(range(channels[0], channels[-1] + 1)) else str(channels)


def _check_parties(config: Config, geo: ArrayGeometry) -> None:
    parties = config.parties
    if geo.mode == "channels":
        for key in ("rep_channel", "customer_channel"):
            value = getattr(parties, key)
            if value is None:
                raise ConfigError(f"parties.{key}", None, "required in channel-map mode")
            if value >= geo.capture_channels:
                counted = _counted_by(config)
                raise ConfigError(
                    f"parties.{key}", value, f"must be a captured channel, 0 to {geo.capture_channels - 1}{counted}"
                )
        if parties.rep_channel == parties.customer_channel:
            raise ConfigError("parties.customer_channel", parties.customer_channel, "must differ from rep_channel")
        return
    if geo.n_mics < 2:
        raise ConfigError(
            "array.mics", geo.mics_m.tolist(), "direction of arrival needs at least 2 mics; or use channel-map mode"
        )
    check_aperture(geo.mics_m)
    check_directions(geo.mics_m, parties, "array.mics" if config.array.mics is not None else geo.preset)


def _counted_by(config: Config) -> str:
    """Channel-map mode: the key that set how many channels are captured, said with the fix."""
    arr = config.array
    if arr.channels is not None:
        return ""
    if arr.preset == "generic" and (arr.mics is not None or arr.mic_channels is not None):
        key = "array.mic_channels" if arr.mic_channels is not None else "array.mics"
        return f" (on a generic device {key} says how many are captured: set array.channels to the device's own count)"
    if arr.preset != "generic":  # the board's card captures what it has: no setting adds a channel
        count = PRESETS[arr.preset].capture_channels
        other = "array.channels to its count" if arr.device else "array.device and array.channels"
        return f" (the {arr.preset} board's card captures {count}; for another device set {other})"
    return " (array.channels says how many are captured)"


def _reject_secrets(data: dict[str, object]) -> None:
    mqtt = data.get("mqtt")
    if isinstance(mqtt, dict) and "password" in mqtt:
        raise ConfigError(
            "mqtt.password",
            "<hidden>",
            "passwords are never read from the config file: for the service put LISTENER_MQTT_PASSWORD=... in "
            "/etc/listener/secrets.env (mode 0600, root's: systemd reads it), or write it to a file named by "
            "mqtt.password_file that only the service's user reads (owner listener, mode 0600); delete this key",
        )


def _check_mqtt(config: Config) -> None:
    mqtt = config.mqtt
    check_host(mqtt.host)
    if mqtt.device_id and not is_topic_id(mqtt.device_id):
        raise ConfigError(
            "mqtt.device_id",
            mqtt.device_id,
            "use 1-64 ASCII letters, digits, '-' or '_', starting with a letter or digit (it is a topic level, and "
            "Home Assistant's discovery topic allows only [a-zA-Z0-9_-]; e.g. 'counter-3', not 'counter.3')",
        )
    for key in ("topic_prefix", "discovery_prefix"):
        check_topic_prefix(f"mqtt.{key}", getattr(mqtt, key))
    check_username(mqtt.username)
    check_area(mqtt.suggested_area)
    if mqtt.reconnect_max_s < mqtt.reconnect_min_s:
        raise ConfigError("mqtt.reconnect_max_s", mqtt.reconnect_max_s, "must be at least mqtt.reconnect_min_s")
    if bool(mqtt.cert_file) != bool(mqtt.key_file):
        raise ConfigError("mqtt.key_file", mqtt.key_file, "set both mqtt.cert_file and mqtt.key_file, or neither")
