"""The configuration tree: one frozen dataclass per TOML table.

Every field documents its unit in its name (``_s``, ``_ms``, ``_hz``,
``_deg``, ``_db``) and its allowed range in :func:`field`, except the keys
issue #2 fixed by name: ``[array] sample_rate`` (Hz) and ``mics`` (metres). The loader
rejects keys that are not declared here. ``[mqtt]``, the longest table, is declared in
:mod:`listener.config.mqtt_schema`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from listener.config.mqtt_schema import MqttConfig
from listener.config.rules import field
from listener.errors import SERVICE_STATE_DIR
from listener.transcription.lexicon import available_languages

PROCESSING_RATE_HZ = 16000

Mic = tuple[float, float, float]
PresetName = Literal["respeaker-2mic", "respeaker-4mic", "respeaker-6mic", "respeaker-usb-v2", "generic"]


MAX_CHANNELS = 32  # captured channels: mics, and indices into them
MAX_COORD_M = 1.0  # a counter-top array is far smaller; anything larger is a unit mistake
MIN_SPACING_M = 0.001  # vendors' drawings are good to about a millimetre, so closer mics are one mic
# Mics all within this of one line are a line: with each mic where it is drawn to about 1 mm (MIN_SPACING_M), an
# array 1 mm off a line told parties at mirror images apart no better than chance (one party's hit rate 0.00-0.45
# with mic positions off by up to 1 mm, free field and a 0.4 s room, 3 seeds), 2 mm off in 0.79-1.00, 3 mm off in
# 0.94-1.00; the same at a 4.6 and a 10 cm aperture, so the bound is a distance, not a share of the aperture. A
# line entered with slop (its y typed as 1.5 mm) is at chance (0.42-0.50) whatever the slop: only refusing it helps.
LINE_SLOP_M = 0.003
# Twice the ±30 deg each party's steered beams span (spatial.frontend.SECTOR_OFFSETS_DEG): closer
# parties' beams would overlap
MIN_PARTIES_APART_DEG = 60.0

# the rules of the checks after the types (text_checks, pins, _check), as the reference says them
_CAPTURED = "a captured channel (below array.channels), not the other party's"
_ON_BOARD = 'on a preset\'s own card (device `""` or `"listener_array"`)'
_PIN = (
    '`"GPIO0"` – `"GPIO27"` (BCM numbers; `"BCM17"`, `"17"`, `"BOARD11"`, `"J8:11"` too), each its own, none the'
    " array's board uses (a ReSpeaker HAT: GPIO0-3, 10, 11, 18-21; the 4- and 6-mic boards GPIO5 too)"
)


def _is_pin(text: str) -> bool:
    from listener.config.pins import is_pin  # here: pins imports this module

    return is_pin(text)


@dataclass(frozen=True, slots=True)
class ArrayConfig:
    preset: PresetName = field(
        "respeaker-4mic", "named geometry; 'generic' needs explicit mics, except in channel-map mode (no mics used)"
    )
    mics: tuple[Mic, ...] | None = field(
        None,
        "metres, one [x, y, z] per mic channel; overrides the preset",
        allowed=f"each coordinate -{MAX_COORD_M:g} – {MAX_COORD_M:g}, mics at least {MIN_SPACING_M * 1000:g} mm apart,"
        f" at most {MAX_CHANNELS} mics; direction mode: at least 2, not all at one x-y point",
    )
    sample_rate: int = field(
        16000,
        "capture rate of the device in Hz",
        min=16000,
        max=48000,
        allowed="at most the preset's (respeaker-usb-v2: 16000)",
    )
    device: str = field(
        "",
        "input device name, case-insensitive: the whole name or the card's before a part of it; 'hw:N' or 'hw:N,M' "
        "(or plughw:) = that card only; 'hw:CARD=id,DEV=M' (as `arecord -L` lists it; also plughw:, sysdefault:, "
        "'hw:id') = the card of that ALSA id, whatever its number this boot; '' = the preset's names",
        allowed='text with a letter or digit, or `""`',
    )
    channels: int | None = field(
        None,
        "channels to capture; default: the preset's (channel-map mode on a generic device, or on another device"
        " than the preset's card: up to the parties' channels)",
        min=2,  # one channel serves neither two mics nor two parties' mics
        max=MAX_CHANNELS,
        allowed=f"{_ON_BOARD}: at most its card's channels; direction mode: above the highest mic channel",
    )
    mic_channels: tuple[int, ...] | None = field(
        None,
        "captured channel index of each mic, in the order of mics",
        min=0,
        max=MAX_CHANNELS - 1,
        allowed=f"one per mic, none twice, below array.channels; {_ON_BOARD}: below its card's channels",
    )
    block_ms: int = field(
        50, "audio block handed to the pipeline; bounds the privacy button's latency", min=20, max=1000
    )
    buffer_s: float = field(5.0, "ring buffer between capture callback and pipeline", min=0.5, max=60.0)
    reopen_interval_s: float = field(
        1.0,
        "wait between attempts to reopen a lost device (the outage is reported every 0.25 s meanwhile)",
        min=0.1,
        max=20.0,
    )


@dataclass(frozen=True, slots=True)
class PartiesConfig:
    mode: Literal["auto", "doa", "channels"] = field(
        "auto",
        "'doa' by direction, 'channels' one mic per party; 'auto' picks channels when rep_channel or"
        " customer_channel is set ('doa' with either of them is refused)",
    )
    rep_azimuth_deg: float = field(
        0.0,
        "rep direction, counter-clockwise from +x; direction mode only; `listener calibrate --write` measures"
        " it (on a line array such as the 2-mic HAT: the end of the mic line nearer the rep)",
        min=-360.0,
        max=360.0,
    )
    customer_azimuth_deg: float = field(
        180.0,
        "customer direction; direction mode only",
        min=-360.0,
        max=360.0,
        allowed=f"at least {MIN_PARTIES_APART_DEG:g} deg from rep_azimuth_deg; where the mics lie on one line (the"
        f" 2-mic HAT; all within {LINE_SLOP_M * 1000:g} mm of it), not rep_azimuth_deg's mirror image across it",
    )
    sector_half_width_deg: float = field(60.0, "how far from its azimuth a party may stand", min=10.0, max=90.0)
    rep_channel: int | None = field(
        None,
        "channel-map mode: captured channel of the rep's mic",
        min=0,
        max=MAX_CHANNELS - 1,
        allowed=_CAPTURED,
    )
    customer_channel: int | None = field(
        None, "channel-map mode: the customer's mic", min=0, max=MAX_CHANNELS - 1, allowed=_CAPTURED
    )


# The heuristic decider's echo guard's ceiling in channel-map mode. There a voice reaches the other party's
# evidence through the channel weights about 1.1 dB down per dB it leaks (frontend._channel_weights): leakage
# 6 dB down, about the least the mode works with, lands 6.5 dB down, and bins whose lead scatters lower passed
# the default 6 dB guard: 13.1 s of a 90 s dialogue showed the quiet party speaking while only the other did.
CHANNEL_MAP_RATIO_DB = 4.0


@dataclass(frozen=True, slots=True)
class ActivityConfig:
    frame_ms: int = field(10, "analysis hop; the turn model needs the one it was trained on (10)", min=10, max=20)
    bridge_gap_s: float = field(0.2, "gaps shorter than this inside one party's speech are bridged", min=0.0, max=2.0)
    hangover_s: float = field(
        0.4,
        "heuristic decider only (turn_model.enabled = false): a party stays active this long after its evidence fades",
        min=0.0,
        max=2.0,
    )
    min_speech_s: float = field(0.1, "shorter bursts are not speech", min=0.0, max=1.0)
    speech_snr_db: float = field(
        3.0,
        "level above the tracked noise floor that counts as speech (heuristic decider; calibrate votes above it)",
        min=1.0,
        max=30.0,
    )
    party_ratio_db: float = field(
        6.0,
        "heuristic decider only: a party is active in overlap when its directional energy is within this"
        " of the louder one (in channel-map mode at most 4 dB: a voice leaking 6 dB into the other mic"
        " lands about 6.5 dB down, and 6 dB let it through as the other party's speech)",
        min=0.0,
        max=30.0,
    )
    low_hz: float = field(200.0, "lowest frequency used for direction", min=50.0, max=1000.0)
    high_hz: float = field(
        4000.0, "highest frequency used for direction", min=1000.0, max=8000.0, allowed="above low_hz"
    )


@dataclass(frozen=True, slots=True)
class AnalyticsConfig:
    rolling_window_s: float = field(120.0, "window of the rolling rep share", min=10.0, max=3600.0)
    floor_take_s: float = field(1.0, "speech needed to take the floor", min=0.1, max=10.0)
    backchannel_max_s: float = field(1.0, "longest vocalisation that can be a backchannel", min=0.1, max=5.0)
    backchannel_proximity_s: float = field(1.0, "a backchannel is within this of the holder's speech", min=0.0, max=5.0)
    interruption_min_s: float = field(1.0, "an interrupter keeps speaking at least this long", min=0.1, max=5.0)
    interruption_yield_s: float = field(
        2.0, "an interruption succeeds if the holder stops within this", min=0.1, max=10.0
    )
    premature_hold_prob: float = field(
        0.5, "turn model only: its hold probability at which a rep start is premature", min=0.0, max=1.0
    )
    model_interruption_prob: float = field(
        0.9,
        "turn model: decide an interruption before interruption_min_s once 1 - p_backchannel reaches this"
        " (1.0 = never early)",
        min=0.5,
        max=1.0,
    )
    premature_resume_s: float = field(
        1.0,
        "without the turn model the device's own rule, and the benchmark's ground truth: a rep start is "
        "premature when the customer resumes within this of its onset",
        min=0.1,
        max=5.0,
    )
    patient_gap_s: float = field(
        0.6,
        "a response gap at least this long is patient (at or above session_gap_s none is: the session ends first)",
        min=0.0,
        max=10.0,
    )
    long_silence_s: float = field(
        3.0,
        "mutual silence reported as long (at or above session_gap_s none is: the session ends first)",
        min=0.5,
        max=60.0,
    )
    stacked_question_s: float = field(3.0, "a second rep question within this is stacked", min=0.5, max=30.0)
    echo_min_words: int = field(
        2, "content words of the customer's last floor a rep turn repeats to be an echo", min=1, max=10
    )
    dominance_on_share: float = field(0.65, "rolling rep share that starts dominance", min=0.51, max=1.0)
    dominance_off_share: float = field(
        0.60, "rolling rep share below which dominance ends", min=0.5, max=1.0, allowed="below dominance_on_share"
    )
    dominance_min_speech_s: float = field(
        30.0, "speech in the window before dominance can start", min=0.0, max=600.0, allowed="≤ rolling_window_s"
    )
    monologue_dominating_s: float = field(
        60.0, "a rep floor heard for longer than this is dominating", min=5.0, max=600.0
    )
    interrupting_display_s: float = field(4.0, "how long an interruption by the rep is shown", min=0.5, max=30.0)
    session_gap_s: float = field(30.0, "customer silence that separates sessions", min=5.0, max=600.0)
    session_min_speech_s: float = field(20.0, "sessions with less speech publish no summary", min=0.0, max=600.0)
    session_max_s: float = field(
        14400.0,
        "longest session (14400 s = 4 h): it ends then, and the next begins then if the customer is still"
        " speaking; a consultation lasts minutes, so a session this long is customer-side sound that never pauses"
        " for session_gap_s (a radio, a fan), which would otherwise never publish a summary and hold the"
        " session's figures in memory",
        min=600.0,
        max=86400.0,
    )
    pause_min_s: float = field(0.25, "mutual silence reported as a pause", min=0.05, max=5.0)


@dataclass(frozen=True, slots=True)
class TurnModelConfig:
    enabled: bool = field(True, "use the turn-taking model (false: the heuristic decider)")
    path: str = field("", "ONNX file; '' = the model shipped in the package", path=True)
    threads: int = field(1, "onnxruntime intra-op threads", min=1, max=4)


@dataclass(frozen=True, slots=True)
class AsrConfig:
    enabled: bool = field(False, "transcribe on the device to count content cues")
    model_path: str = field(
        "",
        "folder of an unzipped vosk model; '' = <service.state_dir>/models/<the language's small model>",
        path=True,
    )
    language: str = field(
        "en",
        "lexicon language of the cue detectors (listener/data/lexicons/<language>.toml)",
        choices=available_languages,
    )
    queue_s: float = field(
        10.0, "audio the recogniser may lag before it skips (the oldest half of it, at once)", min=1.0, max=120.0
    )
    overflow: Literal["auto", "skip", "wait"] = field(
        "auto",
        "recogniser behind by queue_s: 'skip' audio (cues partial), 'wait' for it (live, that holds up the LEDs"
        " and MQTT, and a wait longer than array.buffer_s loses audio), or 'auto': skip on the array and in a"
        " paced `run --input`, wait in `run --input --fast` and `analyze` (the file is read flat out)",
    )
    finish_wait_s: float = field(
        30.0, "at the end of the stream, wait at most this long for the recogniser", min=0.0, max=600.0
    )
    speech_only: bool = field(True, "feed the recogniser only around speech (saves most of its CPU on a quiet counter)")
    speech_pad_s: float = field(
        0.5, "speech_only: audio kept before each onset and after each end of speech", min=0.1, max=3.0
    )


@dataclass(frozen=True, slots=True)
class LedsConfig:
    enabled: bool = field(True, "drive status LEDs through gpiozero")
    preset: Literal["traffic-light", "rgb", "none"] = field("traffic-light", "LED wiring")
    green_pin: str = field(
        "GPIO22", "traffic light: calm 'listening' LED; rgb: the green channel", allowed=_PIN, accepts=_is_pin
    )
    amber_pin: str = field(
        "GPIO23", "traffic light: 'dominating' LED, and blinking alone the fault light", allowed=_PIN, accepts=_is_pin
    )
    red_pin: str = field(
        "GPIO24", "traffic light: 'persisting / interrupting' LED; rgb: the red channel", allowed=_PIN, accepts=_is_pin
    )
    blue_pin: str = field("GPIO25", "rgb: the blue channel", allowed=_PIN, accepts=_is_pin)
    active_high: bool = field(True, "false when the LED is wired between the pin and 3.3 V")
    calm_level: float = field(0.3, "brightness of the calm 'listening' light", min=0.05, max=1.0)
    fade_s: float = field(0.8, "soft transition between steady lights, audio seconds", min=0.0, max=5.0)
    red_after_s: float = field(
        45.0,
        "seconds of rep talk since amber showed (counted afresh after a pause, a fault or a quiet spell) after "
        "which it turns red (while the rep talks or has stopped 5 s ago or less)",
        min=0.0,
        max=3600.0,
    )
    self_test_s: float = field(
        0.2, "start-up self-test: each LED on this long in turn (0 = a 50 ms blink)", min=0.0, max=2.0
    )
    button_pin: str = field(
        "GPIO17",
        "privacy button ('' = none)",
        allowed=f'{_PIN}, or `""`',
        accepts=lambda text: not text or _is_pin(text),
    )
    button_pull_up: bool = field(True, "true: button between the pin and ground; false: between the pin and 3.3 V")
    long_press_s: float = field(3.0, "holding the button this long asks for recalibration", min=0.5, max=30.0)

    @property
    def in_use(self) -> bool:
        """Whether any LED is driven."""
        return self.enabled and self.preset != "none"


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    state_dir: str = field(
        str(SERVICE_STATE_DIR),
        "MQTT spool, privacy-pause flag, downloaded models (the service may write only /var/lib/listener)",
        path=True,
    )
    log_level: Literal["debug", "info", "warning", "error"] = field("info", "journal verbosity")


@dataclass(frozen=True, slots=True)
class Config:
    array: ArrayConfig = ArrayConfig()
    parties: PartiesConfig = PartiesConfig()
    activity: ActivityConfig = ActivityConfig()
    analytics: AnalyticsConfig = AnalyticsConfig()
    turn_model: TurnModelConfig = TurnModelConfig()
    asr: AsrConfig = AsrConfig()
    leds: LedsConfig = LedsConfig()
    mqtt: MqttConfig = MqttConfig()
    service: ServiceConfig = ServiceConfig()
