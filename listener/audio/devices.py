"""Audio input devices as PortAudio sees them, and choosing the array among them.

Nothing here touches the sound system at import time: PortAudio is only
initialised inside :func:`start_portaudio`. PortAudio's ALSA and JACK back
ends print dozens of harmless lines to stderr while they probe (cards that
do not exist, no JACK server); those are routed to this module's logger at
DEBUG instead, so the journal stays readable.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pyaudio

from listener.audio.alsa_config import check_alsa_config
from listener.audio.base import ONE_MIC
from listener.audio.card_missing import CONNECTED, LOADED, reboot_first
from listener.audio.device_names import lasting_id, named_by
from listener.config import ArrayGeometry
from listener.config.presets import PROVISIONED_DEVICE
from listener.errors import AudioFormatError, AudioInputError

log = logging.getLogger(__name__)

_AlsaErrorHandler = ctypes.CFUNCTYPE(
    None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p
)
_JackMessageHandler = ctypes.CFUNCTYPE(None, ctypes.c_char_p)
# The C libraries keep pointers to these callbacks for the life of the process.
_installed_handlers: list[object] = []
_install_lock = threading.Lock()
# PortAudio starts and ends under this lock: neither is thread-safe (Pa_Initialize's count; the ALSA back end
# searches the global configuration tree that Pa_Terminate frees), and a capture's helper thread ending one
# while another thread started one aborted the process inside libasound
_portaudio_lock = threading.Lock()
START_WAIT_S = 10.0  # for another thread's PortAudio to finish ending (a wedged driver may never let it)


@dataclass(frozen=True, slots=True)
class InputDevice:
    """One PortAudio device that can capture."""

    index: int
    name: str
    max_input_channels: int
    default_rate_hz: int


@contextlib.contextmanager
def open_portaudio() -> Iterator[pyaudio.PyAudio]:
    """PortAudio for the ``with`` block (see :func:`start_portaudio`), terminated at its end however it ends."""
    pa = start_portaudio()
    try:
        yield pa
    finally:
        end_portaudio(pa)


def start_portaudio() -> pyaudio.PyAudio:
    """Initialise PortAudio (enumerating devices afresh) with the library noise silenced; the caller ends it
    with :func:`end_portaudio`. Not a ``with``: a capture run keeps it past the call that starts it
    (:func:`open_portaudio` for a look).

    PortAudio fails to start when ALSA cannot read its configuration (a bad edit to /etc/asound.conf or
    ~/.asoundrc): said as an :class:`AudioInputError`, so ``--wait-for-array`` waits it out and
    ``--demo-fallback`` replays the sample, as for a missing array, instead of a traceback. One it would abort
    the process on (no configuration at all: alsa_config.py) is refused before it starts, in the same words."""
    silence_audio_libraries()
    if not _portaudio_lock.acquire(timeout=START_WAIT_S):
        raise AudioInputError(
            f"the sound system did not start: an earlier stream has not finished closing after {START_WAIT_S:g} s"
            " (the sound card's driver is not responding). Fix: unplug and replug the array, or restart the device"
        )
    try:
        check_alsa_config(_load("libasound.so.2"))
        return _new_portaudio()
    finally:
        _portaudio_lock.release()


def _new_portaudio() -> pyaudio.PyAudio:
    try:
        return pyaudio.PyAudio()
    except OSError as exc:
        raise AudioInputError(
            f"the sound system did not start (PortAudio: {exc}). Fix: check the ALSA configuration "
            "(/etc/asound.conf, ~/.asoundrc, $ALSA_CONFIG_PATH): `arecord -L` names the file and line it cannot read"
        ) from exc


def end_portaudio(pa: pyaudio.PyAudio) -> None:
    """Terminate what :func:`start_portaudio` started, never while another thread starts or ends one."""
    with _portaudio_lock:
        pa.terminate()


def _fresh_lock_in_child() -> None:
    # a child forked while another thread held the lock would wait for a thread it does not have
    global _portaudio_lock
    _portaudio_lock = threading.Lock()


os.register_at_fork(after_in_child=_fresh_lock_in_child)


def list_input_devices() -> list[InputDevice]:
    """Every device that can capture, as ``listener devices`` prints them."""
    with open_portaudio() as pa:
        return input_devices(pa)


def party_channels(geo: ArrayGeometry) -> tuple[int, int] | None:
    """The rep's and the customer's channels in channel-map mode, else None."""
    return (geo.rep_channel, geo.customer_channel) if geo.mode == "channels" else None


def find_array(geo: ArrayGeometry) -> InputDevice:
    """The configured array's input device, looked for without starting a stream."""
    with open_portaudio() as pa:
        return choose_device(
            input_devices(pa), geo.device_hints, geo.capture_channels, default_input_index(pa), party_channels(geo)
        )


def input_devices(pa: pyaudio.PyAudio) -> list[InputDevice]:
    devices = []
    for index in range(pa.get_device_count()):
        info = pa.get_device_info_by_index(index)
        channels = int(info.get("maxInputChannels", 0))
        if channels > 0:
            devices.append(
                InputDevice(
                    index=index,
                    name=str(info.get("name", "")),
                    max_input_channels=channels,
                    default_rate_hz=round(float(info.get("defaultSampleRate", 0.0))),
                )
            )
    return devices


def default_input_index(pa: pyaudio.PyAudio) -> int | None:
    try:
        return int(pa.get_default_input_device_info()["index"])
    except OSError:  # PortAudio raises IOError when there is no default input
        return None


def format_devices(devices: Sequence[InputDevice]) -> str:
    """A table for humans: index, input channels, default rate, name."""
    if not devices:
        return f"no audio input devices found: {_no_inputs_fix()}"
    lines = [f"{'index':>5}  {'inputs':>6}  {'rate':>8}  name"]
    for d in devices:
        lines.append(f"{d.index:>5}  {d.max_input_channels:>6}  {d.default_rate_hz:>5} Hz  {d.name}")
    return "\n".join(lines)


def describe_devices(devices: Sequence[InputDevice]) -> str:
    """The same list on one line, for error messages."""
    if not devices:
        return "none"
    return "; ".join(f"'{d.name}' ({d.max_input_channels} in)" for d in devices)


def choose_device(
    devices: Sequence[InputDevice],
    hints: Sequence[str],
    needed_channels: int,
    default_index: int | None,
    party_channels: tuple[int, int] | None = None,
) -> InputDevice:
    """The device named by the first of ``hints`` that names one with ``needed_channels`` (no hints: PortAudio's
    default input).

    A board shows up under different ALSA names depending on its driver, so a preset may give several, tried
    in order (device_names.py says how a name is matched). A name that fits several devices is an error
    rather than a guess. ``party_channels``: the rep's and the customer's channels in channel-map mode, which
    a device with too few channels is then blamed on.
    """
    found: list[InputDevice] = []  # named, but with too few channels
    for hint, named in _named(devices, hints, default_index):
        fitting = [d for d in named if d.max_input_channels >= needed_channels]
        if len(fitting) > 1:
            raise AudioFormatError(_several(hint, fitting))
        if fitting:
            return fitting[0]
        found += [d for d in named if d not in found]
    if found:
        raise AudioFormatError(_unfit(found, hints, needed_channels, party_channels))
    wanted = f"matching {_either(hints)}" if hints else "set as the default input"
    if not devices:  # "set [array] device to one of these names" would point at nothing
        raise AudioInputError(f"no audio input device {wanted}; no audio inputs at all. Fix: {_no_inputs_fix()}")
    raise AudioInputError(f"no audio input device {wanted}; inputs found: {describe_devices(devices)}. {_fix(hints)}")


def _named(
    devices: Sequence[InputDevice], hints: Sequence[str], default_index: int | None
) -> Iterator[tuple[str, list[InputDevice]]]:
    if not hints:
        yield "", [d for d in devices if d.index == default_index]
    for hint in hints:
        yield hint, named_by(devices, hint)


def _either(hints: Sequence[str]) -> str:
    return " or ".join(f"'{h}'" for h in hints)


def _several(hint: str, fitting: Sequence[InputDevice]) -> str:
    # PortAudio's order follows ALSA card numbers, which USB devices do not keep across boots: no guess
    ids = [i for i in (lasting_id(d.name) for d in fitting) if i is not None]
    by_id = f", or to the ALSA id its name ends with ('{ids[0]}')" if ids else ""
    if ids and "CARD=" in ids[0]:  # the kernel names the card: its id, where a USB card's number can change
        by_id = f", or to its card's ALSA id ('{ids[0]}'), which a USB card keeps across boots"
    return (
        f"the audio input name '{hint}' matches {len(fitting)} devices: {describe_devices(fitting)}. Fix: set "
        f"[array] device to the whole name of the one to capture from{by_id} (`listener devices` lists them)"
    )


def _unfit(
    found: Sequence[InputDevice], hints: Sequence[str], needed_channels: int, party_channels: tuple[int, int] | None
) -> str:
    """Why the devices the names found cannot be captured from, for the one nearest to fitting; all of them
    named, with their channel counts, when there are several."""
    best = max(found, key=lambda d: d.max_input_channels)  # the first of the most channels
    if best.max_input_channels == 1:
        why = (
            f"input device '{best.name}' has 1 input channel but the array configuration captures {needed_channels}:"
            f" {_one_channel_fix(best)}"
        )
    else:
        why = _too_few_channels(best, needed_channels, party_channels)
    if len(found) == 1:
        return why
    return f"no input device matching {_either(hints)} has enough input channels: {describe_devices(found)}; {why}"


def _too_few_channels(device: InputDevice, needed_channels: int, party_channels: tuple[int, int] | None) -> str:
    has = f"input device '{device.name}' has {device.max_input_channels} input channel(s)"
    if party_channels is not None and max(party_channels) >= device.max_input_channels:
        rep, customer = party_channels
        return (
            f"{has} but [parties] rep_channel = {rep} and customer_channel = {customer} need {max(party_channels) + 1}:"
            f" set both below {device.max_input_channels} (channels count from 0), or pick the device that has both"
            " mics with [array] device"
        )
    keys = "preset / channels" if party_channels is not None else "preset / channels / mic_channels"
    # two inputs are as often two lapel mics as an array: said as the analysis of a 2-channel file says it
    lapels = (
        ", or, for one mic per party, set [parties] rep_channel = 0 and customer_channel = 1"
        if party_channels is None and device.max_input_channels == 2
        else ""
    )
    return (
        f"{has} but the array configuration captures {needed_channels}: pick the array's own device with [array]"
        f" device, or set [array] {keys} to what this device provides{lapels}"
    )


def _one_channel_fix(device: InputDevice) -> str:
    if "respeaker" in device.name.casefold():
        # the USB Mic Array v2.0 ships with (or was flashed with) its 1-channel firmware: no setting helps
        return (
            "a ReSpeaker USB Mic Array v2.0 gives its 6 channels only with Seeed's 6-channel firmware: flash it "
            "(respeaker/usb_4_mic_array: `sudo python dfu.py --download 6_channels_firmware.bin`), then unplug and "
            "plug the array back in"
        )
    return (
        f"{ONE_MIC}; pick the input that carries the array's mics (or both parties' mics) with [array] device"
        " (`listener devices` lists the inputs and their channels)"
    )


# PortAudio leaves a card it cannot open out of its list: one held by another program looks unplugged
_FREE = "no other program holds its card (`fuser -v /dev/snd/*` names one that does)"


def _no_inputs_fix() -> str:
    return f"{reboot_first()}check {CONNECTED}, that {LOADED}, that {_FREE}, and that this user is in group 'audio'"


def _fix(hints: Sequence[str]) -> str:
    """What to do about an input that is not there; on a provisioned device, about its card, not the name."""
    if list(hints) == [PROVISIONED_DEVICE]:
        # the name only goes missing with the card it reads: pointing the config elsewhere would bypass it.
        # No --force-config: without --config it installs the bare template, dropping device_id, broker, calibration
        return (
            f"Fix: {reboot_first()}check {CONNECTED}, {LOADED} and {_FREE}; "
            f"{PROVISIONED_DEVICE} is firmware/provision.sh's name for that card: if another board is fitted, set "
            "preset under [array] in /etc/listener/listener.toml to that board's array preset (docs/config.md "
            "lists them; respeaker-2mic for either 2-Mic HAT; its device_id, broker settings and calibration stay), "
            "run provision.sh again with that board's --preset (respeaker-2mic-v1 or -v2 for those), then "
            "`listener calibrate --write` once the new board is mounted"
        )
    return (
        f"Fix: {reboot_first()}set [array] device to part of one of these names (`listener devices` lists them), or "
        f"check {CONNECTED}, {LOADED} and {_FREE}"
    )


def open_fix(device: InputDevice, exc: OSError | ValueError) -> str:
    """The advice for PortAudio's error code (pyaudio raises OSError(code, text)): changing the rate of a
    device that is merely busy would break a working configuration."""
    rate = f"set [array] sample_rate to a rate the device supports (it defaults to {device.default_rate_hz} Hz)"
    busy = "stop the program holding it (`fuser -v /dev/snd/*` names it)"
    code = exc.errno if isinstance(exc, OSError) else None
    if code == pyaudio.paDeviceUnavailable:
        return f"the device is busy: {busy}; leave [array] sample_rate as it is"
    if code == pyaudio.paInvalidSampleRate:
        return rate
    if code == pyaudio.paSampleFormatNotSupported:  # neither the rate nor another program changes a card's format
        return (
            "the device does not give 16-bit samples in a form PortAudio converts (a card with only S24_LE "
            "does not): capture through an ALSA plug over it, which converts: firmware/provision.sh's "
            "listener_array, or a 'type plug' PCM of your own in /etc/asound.conf named in [array] device"
        )
    return f"{rate}, or {busy}"


def silence_audio_libraries() -> None:
    """Send alsa-lib's and libjack's stderr chatter to the DEBUG log (once per process).

    Redirecting file descriptor 2 around ``PyAudio()`` would also swallow
    other threads' log lines, so the libraries' own hooks are used instead.
    """
    with _install_lock:
        if _installed_handlers:
            return
        alsa_handler = _AlsaErrorHandler(_alsa_message)
        jack_handler = _JackMessageHandler(_jack_message)
        _installed_handlers.extend([alsa_handler, jack_handler])
        alsa = _load("libasound.so.2")
        if alsa is not None:
            alsa.snd_lib_error_set_handler(alsa_handler)
        jack = _load("libjack.so.0")
        if jack is not None:
            jack.jack_set_error_function(jack_handler)
            jack.jack_set_info_function(jack_handler)


def _load(soname: str) -> ctypes.CDLL | None:
    # The sonames PortAudio itself links against: the same library instance, the same global hooks.
    try:
        return ctypes.CDLL(soname)
    except OSError:  # PortAudio built without this back end: nothing to silence
        return None


def _alsa_message(file: bytes | None, line: int, function: bytes | None, err: int, fmt: bytes | None) -> None:
    # The variadic arguments cannot be read portably, so the format string is logged as is.
    log.debug("alsa-lib %s:%d %s(): %s (err %d)", _text(file), line, _text(function), _text(fmt), err)


def _jack_message(message: bytes | None) -> None:
    log.debug("libjack: %s", _text(message))


def _text(raw: bytes | None) -> str:
    return raw.decode("utf-8", "replace") if raw else ""
