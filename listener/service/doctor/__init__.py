"""``listener doctor``: check every part of an installation and say how to fix what is wrong.

Each check is a small function returning :class:`Check` lines; none of them
raises for the thing it checks (a missing device is a FAIL line, not an
exception), so one run reports every problem at once. Checks that need
hardware open it briefly through the same code the service uses
(:class:`~listener.audio.live.LiveSource`, onnxruntime, paho), so a pass
means the service would get as far.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial, update_wrapper
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt

from listener.config import Config, geometry
from listener.config.array_checks import LINE_ENDS_COS_APART, angle_apart_deg, line_cosines
from listener.config.presets import PRESETS
from listener.config.unused_keys import channel_map_on_array, on_preset_card
from listener.errors import DENIED_FIX, NOT_ENTERED_FIX, ListenerError
from listener.service.doctor.system_files import SystemFiles, this_run

if TYPE_CHECKING:
    from listener.audio.devices import InputDevice

log = logging.getLogger(__name__)

Status = Literal["ok", "warn", "FAIL"]

# PortAudio's channel count for an ALSA plug PCM (provision.sh's listener_array): the most it
# converts to, not what the card has
PLUG_CHANNELS = 128
MQTT_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the report: what was checked, how it went, and how to fix it."""

    name: str
    status: Status
    detail: str
    fix: str = ""

    def line(self) -> str:
        text = f"{self.status:<4}  {self.name:<10} {self.detail}"
        return f"{text}; fix: {self.fix}" if self.fix else text


def fail(name: str, detail: str, fix: str) -> Check:
    return Check(name, "FAIL", detail, fix)


def warn(name: str, detail: str, fix: str) -> Check:
    return Check(name, "warn", detail, fix)


def fix_apart(text: str, *fixes: str) -> tuple[str, str] | None:
    """``text`` less the first of ``fixes`` (or of the permission advice) it holds, and that fix."""
    for fix in (*fixes, NOT_ENTERED_FIX, DENIED_FIX):
        if fix in text:
            return text.replace(fix, "").rstrip("; .:"), fix
    return None


def failed_with(name: str, exc: ListenerError, usual_fix: str, prefix: str = "") -> Check:
    """FAIL with the message of the error the listener itself raised, its fix apart: the usual one, the
    advice for a file this user may not read, or (neither) the advice after the message's reason."""
    detail, fix = fix_apart(str(exc), usual_fix) or _reason_apart(str(exc))
    detail = detail.removeprefix(f"{name} ")  # the check's own name starts its line already
    return fail(name, prefix + detail, fix or usual_fix)


def _reason_apart(text: str) -> tuple[str, str]:
    """``what (reason): fix`` split after the reason, whose own words may hold ": " (OpenSSL's
    "[X509: NO_CERTIFICATE_OR_CRL_FOUND]"); without one, at the first ": "."""
    at = text.rfind("): ")
    if at >= 0:
        return text[: at + 1], text[at + 3 :]
    detail, _, fix = text.partition(": ")
    return detail, fix


def iter_checks(config: Config, config_file: Path | None = None, files: SystemFiles | None = None) -> Iterator[Check]:
    """Every check, in the order an installer would fix things; each as soon as it is done.

    ``config_file`` is the file ``config`` came from (None: the built-in defaults), which the
    advice of a check must name for a command that reads the configuration to act on the same one.
    ``files``: the system files the run reads, each once (None: the checks' own reading).
    """
    files = this_run(files)
    yield from check_audio(config)
    for check in (
        check_directions,
        check_turn_model,
        _given(check_memory, files=files),  # before the vosk model's check, which leaves doctor holding the model
        _given(check_asr_model, config_file=config_file, files=files),
        check_gpio,
        _given(check_mqtt, files=files),
    ):
        yield _guarded(check, config)
    from listener.service.doctor.device_id import check_device_id

    # its own line, where there is something to say: the service's start-up warning of it is held back here
    if (unstable := check_device_id(config, files)) is not None:
        yield unstable
    for check in (check_state_dir, _given(check_clock, files=files)):  # the clock: secrets.env's TZ
        yield _guarded(check, config)
    from listener.service.doctor import secrets

    for found in (
        secrets.check_secrets_file(),
        secrets.check_inline_comments(files),
        secrets.check_swallowed_lines(files),
        secrets.check_joined_lines(files),
        secrets.check_password_backslash(files),
    ):
        if found is not None:  # only where there is one: a laptop has none
            yield found


def _given(check: Callable[..., Check], **keywords: object) -> Callable[[Config], Check]:
    """``check`` with ``keywords`` given, under its own name (a check that fails is named by it)."""
    return update_wrapper(partial(check, **keywords), check)


def _guarded(check: Callable[[Config], Check], config: Config) -> Check:
    # A bug in one check must not hide the others' findings.
    try:
        return check(config)
    except Exception as exc:
        name = check.__name__.removeprefix("check_").replace("_", " ")
        return fail(name, f"the check itself failed: {type(exc).__name__}: {exc}", "report this as a bug")


# --- audio -------------------------------------------------------------------


def check_audio(config: Config) -> list[Check]:
    """The array is there with the channels the preset captures, and every mic hears something."""
    from listener.audio.alsa_config import ALSA_FIX
    from listener.audio.devices import find_array
    from listener.service.doctor.sound_start import portaudio_crash

    crash = portaudio_crash()
    if crash is not None:  # here, it would end doctor's run (and its other checks) as it ended the child
        return [fail("audio", f"the sound system crashes as it lists the devices (PortAudio: {crash})", ALSA_FIX)]
    try:
        device = find_array(geometry(config))
    except ListenerError as exc:
        return [_device_failure(str(exc))]
    # the rate the service asks for: PortAudio's default rate for a device says little (44100 for any plug), and
    # whether the device takes it shows when the levels are read (their line gives the fix)
    rate_hz = config.array.sample_rate
    found = Check(
        "audio", "ok", f"'{device.name}' has {device.max_input_channels} input channels, to capture at {rate_hz} Hz"
    )
    return [found, _preset_check(config, device), check_levels(config)]


def _device_failure(message: str) -> Check:
    detail, _, fix = message.partition(" Fix: ")
    if not fix:
        detail, _, fix = message.partition(": pick ")
        fix = f"pick {fix}" if fix else "see `listener devices`"
    return fail("audio", detail.rstrip(". "), fix)


def _preset_check(config: Config, device: InputDevice) -> Check:
    geo = geometry(config)
    channels = device.max_input_channels
    source, offers = f"the device offers {channels} channels", "the device offers"
    if channels == PLUG_CHANNELS:
        behind = _card_behind(device.name)
        if behind is None:
            return Check("preset", "ok", f"'{device.name}' is an ALSA plug: it converts to the {geo.capture_channels}"
                         f" channels {geo.preset} captures")  # fmt: skip
        channels = behind.max_input_channels
        source = f"'{device.name}' is an ALSA plug over '{behind.name}', which has {channels} channels"
        offers = f"'{behind.name}' behind the ALSA plug '{device.name}' has"
    if channels == geo.capture_channels:
        return Check("preset", "ok", f"{geo.preset} captures {geo.capture_channels} channels, as {offers}")
    preset = PRESETS.get(geo.preset)
    on_card = preset is not None and on_preset_card(config.array.device, preset)
    if geo.mode == "channels" and channels > geo.capture_channels and not on_card:
        # another device's first channels, up to both parties' mics, are all channel-map mode reads: no preset
        # fits better (one named, "preset = respeaker-4mic", was the preset already kept)
        parties = f"the rep's {geo.rep_channel} and the customer's {geo.customer_channel}"
        return Check("preset", "ok", f"channel-map mode captures {geo.capture_channels} channels ({parties}); {source}")
    fitting = sorted(p.name for p in PRESETS.values() if p.capture_channels == channels)
    hint = f"[array] preset = one of {', '.join(fitting)}" if fitting else "[array] channels / mic_channels"
    if channels < geo.capture_channels:  # the plug would make the missing channels up from the others
        return fail(
            "preset",
            f"{source} but {geo.preset} captures {geo.capture_channels}",
            f"set {hint}, or provision the ALSA device for this array (firmware/provision.sh --preset)",
        )
    return warn(
        "preset",
        f"{source} but {geo.preset} captures {geo.capture_channels}",
        f"if this is not the array's own device, set [array] device; else set {hint}",
    )


def _card_behind(name: str) -> InputDevice | None:
    """The PCM a plug named ``name`` converts from, where it is named as firmware/asound.conf.in names it.

    The dsnoop first: it opens while the service holds the card, the hw PCM then does not.
    """
    from listener.audio.devices import list_input_devices

    devices = {d.name: d for d in list_input_devices() if d.max_input_channels != PLUG_CHANNELS}
    return next((devices[n] for n in (f"{name}_snoop", f"{name}_hw") if n in devices), None)


def check_directions(config: Config) -> Check:
    """Whether the array can tell the configured directions apart well: a line array only near its ends."""
    geo = geometry(config)
    if geo.mode == "channels":
        for said in channel_map_on_array(config, channel_map=True):  # a preset's own mics: not one per party
            return warn("directions", said.problem, said.fix)
        return Check("directions", "ok", "channel-map mode: each party by its own mic")
    return directions_check(geo.mics_m, config.parties.rep_azimuth_deg, config.parties.customer_azimuth_deg)


def directions_check(mics_m: npt.NDArray[np.float64], rep_deg: float, customer_deg: float) -> Check:
    """``check_directions`` for any two azimuths (``listener calibrate`` checks the ones it measured)."""
    line = line_cosines(mics_m, rep_deg, customer_deg)
    if line is None:
        return Check("directions", "ok", f"rep at {rep_deg:g} deg, customer at {customer_deg:g} deg")
    axis = line.axis_deg
    if line.cos_apart >= LINE_ENDS_COS_APART:
        return Check("directions", "ok", f"rep and customer at the two ends of the mic line (along {axis:g} deg)")
    ends = line.ends_deg
    return warn(
        "directions",
        f"the mics lie on one line (along {axis:g} deg), which tells the parties apart well only near its two"
        f" ends; rep at {rep_deg:g} deg and customer at {customer_deg:g} deg are"
        f" {angle_apart_deg(rep_deg, customer_deg):g} deg apart, not along it",
        f"turn the board so its mic line points from the rep to the customer, then set"
        f" rep_azimuth_deg = {ends[0]:g} and customer_azimuth_deg = {ends[1]:g}",
    )


def check_levels(config: Config) -> Check:
    """Read about a second through LiveSource and report each mic channel's level (``doctor.levels``)."""
    from listener.service.doctor.levels import check_levels as levels_check

    return levels_check(config)


# --- models ------------------------------------------------------------------


def check_turn_model(config: Config) -> Check:
    """Loads, runs on silence and on the sample's speech, and keeps up (``doctor.turn_model``, which imports
    this module)."""
    from listener.service.doctor.turn_model import check_turn_model as turn_model_check

    return turn_model_check(config)


def check_asr_model(config: Config, config_file: Path | None = None, files: SystemFiles | None = None) -> Check:
    if not config.asr.enabled:
        return Check("asr model", "ok", "transcription disabled ([asr] enabled = false)")
    from listener.service.doctor.quiet import no_stderr
    from listener.transcription.models import broken_model_hint, is_model_dir, missing_model_hint, model_path
    from listener.transcription.recognizer import LOAD_FIX, load_model

    path = model_path(config)
    try:
        present = is_model_dir(path)
    except ListenerError as exc:
        return failed_with("asr model", exc, missing_model_hint(path, config, config_file))
    if not present:
        return fail("asr model", f"no vosk model in {path}", missing_model_hint(path, config, config_file))
    from listener.service.doctor.model_room import not_loaded, shortfall

    # a second copy beside the service's could get either killed; MemAvailable as the memory check read it
    available_mib = this_run(files).meminfo_mib.get("MemAvailable")
    if (short := shortfall(path, available_mib)) is not None:
        return not_loaded(config, path, short, config_file)
    try:
        with no_stderr():  # Kaldi prints its ERROR lines whatever vosk's log level; the FAIL line says it
            load_model(path)
    except ListenerError as exc:
        detail = str(exc).removesuffix(f": {LOAD_FIX}")  # the loader's own advice is the generic one
        return fail("asr model", detail, broken_model_hint(path, config, config_file))
    from listener.transcription.language import mismatch_fix, named_mismatch

    if (mismatch := named_mismatch(path, config.asr.language)) is not None:
        return warn("asr model", f"vosk model {path} loads, but {mismatch}", mismatch_fix(config, path, config_file))
    return Check("asr model", "ok", f"vosk model {path} loads")


# --- GPIO --------------------------------------------------------------------


def check_gpio(config: Config) -> Check:
    from gpiozero import Device

    from listener.outputs.gpio import ENV, PI_GPIO_FIX, board_model, factory_name

    leds = config.leds
    if not leds.in_use and not leds.button_pin:
        return Check("gpio", "ok", "not used (no LEDs, no button)")
    name = factory_name()  # as the service reads it: blank is unset
    if name.lower() == "mock":
        return warn("gpio", f"{ENV}=mock: LEDs and button are simulated", f"unset {ENV} on the device")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # gpiozero warns once per factory it tries
            factory = Device._default_pin_factory()
    except Exception as exc:
        if name:
            return fail("gpio", f"{ENV}={name} cannot be loaded ({exc})", f"install that pin library, or unset {ENV}")
        if (model := board_model()).startswith("Raspberry Pi"):
            return fail("gpio", f"no GPIO pin library works on this {model} ({exc})", PI_GPIO_FIX)
        return warn(
            "gpio",
            f"no GPIO on this machine ({exc}): LEDs and button would be simulated (mock)",
            "nothing on a laptop; on the Pi install python3-lgpio (provision.sh does)",
        )
    factory.close()
    return Check("gpio", "ok", f"gpiozero pin factory {type(factory).__name__}")


# --- MQTT --------------------------------------------------------------------


def check_mqtt(config: Config, files: SystemFiles | None = None) -> Check:
    """Connect and publish once as the service would (``doctor.mqtt``, which imports this module)."""
    from listener.service.doctor.mqtt import check_mqtt as connect_and_publish

    return connect_and_publish(config, files)


# --- memory, disk and clock --------------------------------------------------


def check_memory(config: Config, files: SystemFiles | None = None) -> Check:
    """RAM for what the config runs, and free now (``doctor.memory``, which imports this module)."""
    from listener.service.doctor.memory import check_memory as memory_check

    return memory_check(config, files)


def check_state_dir(config: Config) -> Check:
    """Room and rights in service.state_dir (``doctor.disk``, which imports this module)."""
    from listener.service.doctor.disk import check_state_dir as state_dir_check

    return state_dir_check(config)


def check_clock(config: Config, files: SystemFiles | None = None) -> Check:
    """NTP synchronisation, and the time the clock reads in the service's zone (``doctor.clock``, which imports
    this module)."""
    from listener.service.doctor.clock import check_clock as clock_check

    return clock_check(config, files)


def exit_code(checks: list[Check]) -> int:
    return 1 if any(c.status == "FAIL" for c in checks) else 0
