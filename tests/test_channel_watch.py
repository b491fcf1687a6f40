"""A live array with channels that carry no sound (a plug over a smaller card, a dead or stuck mic) is said once.

Real capture: pyaudio reading the private ALSA test device, whose infiles hold the channels.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from listener.audio.channel_watch import SAID_KEPT, WATCH_S, ChannelWatch
from listener.audio.levels import LevelMeter, rms_dbfs, twin_channels
from listener.audio.live import LiveSource
from listener.cli import main
from listener.config import geometry, parse_config
from listener.events import AudioBlock, EndOfStream, Event, SourceState
from listener.service import doctor, runner
from listener.service.doctor import levels as doctor_levels
from listener.service.runner import RunOptions, sample_conversation
from tests import alsa_card, alsa_device
from tests.alsa_card import CardSet
from tests.alsa_device import AlsaConfig, tones
from tests.doctor_config import config as doctor_config
from tests.live_source import live_config, run_source

alsa_config = alsa_device.alsa_config  # fixture
cards, card_plugin = alsa_card.cards, alsa_card.card_plugin  # fixtures


def _watched(
    alsa_config: AlsaConfig, dead: list[int], caplog: pytest.LogCaptureFixture, copies: dict[int, int] | None = None
) -> list[str]:
    signal = tones(16000, WATCH_S + 1.5, 4)
    signal[:, dead] = 0  # what a plug over a 2-channel card hands on for the missing two
    for to, original in (copies or {}).items():
        signal[:, to] = signal[:, original]  # one signal on two channels: a plug's copy, a mono input
    alsa_config.add("listener_test_array", signal, 16000)
    config = live_config()
    watch = ChannelWatch(geometry(config))

    def step(event: Event, events: list[Event]) -> bool:
        watch.process(event)
        heard_s = sum(e.duration_s for e in events if isinstance(e, AudioBlock))
        return heard_s >= WATCH_S + 0.5

    with caplog.at_level(logging.WARNING, logger="listener.audio.channel_watch"), LiveSource(config) as source:
        run_source(source, step, timeout_s=30.0)
    return [r.getMessage() for r in caplog.records if r.name == "listener.audio.channel_watch"]


def test_channels_of_digital_silence_are_said_once(alsa_config: AlsaConfig, caplog: pytest.LogCaptureFixture) -> None:
    (said,) = _watched(alsa_config, [2, 3], caplog)
    assert said.startswith("captured channel(s) [2, 3] carry no sound (under -90 dBFS) while the others hear it")
    assert "'respeaker-4mic' geometry" in said and "arecord -l" in said


def test_an_array_whose_channels_all_hear_is_not_flagged(
    alsa_config: AlsaConfig, caplog: pytest.LogCaptureFixture
) -> None:
    assert _watched(alsa_config, [], caplog) == []


def _block(start_s: float, dead: list[int], stuck_at: float = 0.0) -> AudioBlock:
    samples = np.random.default_rng(round(start_s * 10)).normal(0.0, 0.01, (1600, 4)).astype(np.float32)
    samples[:, dead] = stuck_at
    return AudioBlock(start_s=start_s, sample_rate_hz=16000, samples=samples)


def _feed(watch: ChannelWatch, dead: list[int], first_s: float = 0.0, stuck_at: float = 0.0) -> None:
    for k in range(round((WATCH_S + 0.5) / 0.1)):
        watch.process(_block(first_s + 0.1 * k, dead, stuck_at))


def test_the_array_is_looked_at_afresh_after_an_outage_and_a_muted_one_is_called_muted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """What comes back after an outage may be another card. All channels silent is a muted input, which no
    channel count explains: said as a muted capture (it was said nowhere but in doctor, and the service heard
    nobody all day)."""
    watch = ChannelWatch(geometry(live_config()))
    with caplog.at_level(logging.WARNING, logger="listener.audio.channel_watch"):
        _feed(watch, [0, 1, 2, 3])
        watch.process(SourceState(t_s=11.0, available=True, detail="'listener_test_array' is back"))
        _feed(watch, [3], first_s=11.0)
    muted, dead = [r.getMessage() for r in caplog.records]
    assert muted.startswith("the array carries no sound on any channel (under -90 dBFS: digital silence)")
    assert "alsamixer" in muted and "channel count" not in muted and "geometry" not in muted
    assert dead.startswith("captured channel(s) [3] carry no sound")


def _said_over(watch: ChannelWatch, dead_at: dict[tuple[float, float], list[int]], until_s: float) -> list[str]:
    """Live blocks fed until ``until_s`` (the channels of ``dead_at``'s spans dead in them): what was said, each
    as "<audio s at the end of the block it came in>: <its first 30 characters>"."""
    log = logging.getLogger("listener.audio.channel_watch")
    said: list[str] = []

    class Said(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            said.append(f"{end_s:.1f}: {record.getMessage()[:30]}")

    handler = Said(logging.WARNING)
    log.addHandler(handler)
    try:
        for k in range(round(until_s / 0.1)):
            start_s, end_s = 0.1 * k, 0.1 * (k + 1)
            dead = next((d for (a, b), d in dead_at.items() if a <= start_s < b - 1e-9), [])
            watch.process(_block(start_s, dead))
    finally:
        log.removeHandler(handler)
    return said


def test_a_live_mic_that_dies_later_is_said_when_it_dies_and_when_it_hears_again() -> None:
    """A service runs for weeks: a mic that died, or a capture muted, after the first WATCH_S of audio was never
    said (the levels were judged once a start). Every WATCH_S is judged now: a change is said once, after the
    WATCH_S that holds it whole; the same finding again is not."""
    watch = ChannelWatch(geometry(live_config()))
    dead_at = {(28.0, 55.0): [1], (62.0, 85.0): [0, 1, 2, 3]}
    assert _said_over(watch, dead_at, 100.0) == [
        "40.0: captured channel(s) [1] carry ",  # [30, 40) dead throughout; [20, 30) heard
        "60.0: captured channel(s) [1] hear s",  # nothing at 50: still dead, said already
        "80.0: the array carries no sound on ",
        "90.0: the array hears sound again: i",
    ]
    assert len(watch.said) == 2  # the warnings; a channel hearing again is no warning to act on (calibrate)


def test_the_same_dead_channel_is_said_again_after_an_outage_and_its_end_after_one() -> None:
    """What comes back after an outage may be another array: its first WATCH_S is said afresh, a dead channel
    even if it was said before; one that hears again is said to, if it was said dead before the outage."""
    watch = ChannelWatch(geometry(live_config()))
    said = _said_over(watch, {(0.0, 30.0): [2]}, 20.0)
    watch.process(SourceState(t_s=20.0, available=True, detail="'listener_test_array' is back"))
    said += _said_over(watch, {(0.0, 30.0): [2]}, 10.0)  # the same channel dead on the array that came back
    watch.process(SourceState(t_s=30.0, available=True, detail="'listener_test_array' is back"))
    said += _said_over(watch, {}, 20.0)
    assert said == [
        "10.0: captured channel(s) [2] carry ",
        "10.0: captured channel(s) [2] carry ",
        "10.0: captured channel(s) [2] hear s",
    ]


def test_a_very_quiet_recording_is_not_called_muted(caplog: pytest.LogCaptureFixture) -> None:
    """Speech peaking at -70 dBFS over a -110 dBFS floor averages under -90 dBFS over the recording: "muted,
    record it again" was said of a file whose figures were fine. Its loudest blocks are far above a mute."""
    watch = ChannelWatch(geometry(live_config()), recording=Path("quiet.wav"))
    rng = np.random.default_rng(3)
    with caplog.at_level(logging.WARNING, logger="listener.audio.channel_watch"):
        for k in range(round((WATCH_S + 0.5) / 0.1)):
            samples = rng.normal(0.0, 3e-6, (1600, 4))  # the floor, -110 dBFS
            if k % 30 == 0:  # a word every 3 s, -78 dBFS in its block (peaks near -70)
                samples += rng.normal(0.0, 1.2e-4, (1600, 4))
            watch.process(AudioBlock(start_s=0.1 * k, sample_rate_hz=16000, samples=samples.astype(np.float32)))
    assert max(watch._meter.dbfs()) < -90.0  # the whole look, pauses included, is under the mute line
    assert not caplog.records, [r.getMessage() for r in caplog.records]


def test_a_live_listen_stopped_before_a_whole_watch_s_is_not_judged(caplog: pytest.LogCaptureFixture) -> None:
    """The live array is judged on each whole WATCH_S: the end of the stream (the service stopping) after 3 s
    with a channel dead is no look, unlike a recording, which is judged on its whole length if shorter."""
    for recording, said in ((None, []), (Path("short.wav"), ["channel(s) [1] of short.wav carry no sound"])):
        watch = ChannelWatch(geometry(live_config()), recording=recording)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="listener.audio.channel_watch"):
            for k in range(30):
                watch.process(_block(0.1 * k, [1]))
            watch.process(EndOfStream(t_s=3.0))
        assert [r.getMessage()[:42] for r in caplog.records] == said


def test_a_pop_before_a_live_arrays_silence_still_shows_it_muted(caplog: pytest.LogCaptureFixture) -> None:
    """The loudest-block rule is for recordings: a re-plugged array's one pop, then exact zeros, is a mute."""
    watch = ChannelWatch(geometry(live_config()))
    pop = np.zeros((1600, 4), np.float32)
    pop[:4] = 0.003 * np.random.default_rng(5).standard_normal((4, 4))  # unlike on each channel
    with caplog.at_level(logging.WARNING, logger="listener.audio.channel_watch"):
        watch.process(AudioBlock(start_s=0.0, sample_rate_hz=16000, samples=pop))
        _feed(watch, [0, 1, 2, 3], first_s=0.1)
    assert [r.getMessage()[:41] for r in caplog.records] == ["the array carries no sound on any channel"]


def test_a_recording_of_digital_silence_is_said_to_be_one(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # "nobody spoke" alone read as a quiet counter, not as a recording made from a muted input
    wav = tmp_path / "muted.wav"
    sf.write(wav, np.zeros((16000 * 4, 4), dtype=np.int16), 16000, subtype="PCM_16")
    with caplog.at_level(logging.WARNING, logger="listener.audio.channel_watch"):
        assert main(["analyze", str(wav)]) == 0
    (said,) = [r.getMessage() for r in caplog.records]
    assert said.startswith(f"{wav} carries no sound on any channel") and "muted input" in said


def test_a_channel_stuck_at_one_level_is_dead_by_doctors_rule(caplog: pytest.LogCaptureFixture) -> None:
    """A converter stuck at an offset is not exact zeros, but it carries no sound: doctor removes the DC and
    calls it dead under -90 dBFS, and so does the running service."""
    watch = ChannelWatch(geometry(live_config()))
    with caplog.at_level(logging.WARNING, logger="listener.audio.channel_watch"):
        _feed(watch, [1], stuck_at=0.25)
    (record,) = caplog.records
    assert record.getMessage().startswith("captured channel(s) [1] carry no sound (under -90 dBFS)")
    assert doctor_levels.level_check(rms_dbfs(_block(0.0, [1], 0.25).samples), [0, 1, 2, 3]).status == "FAIL"


def test_levels_streamed_equal_levels_at_once() -> None:
    blocks = [_block(0.1 * k, [2], stuck_at=-0.5).samples for k in range(30)]
    meter = LevelMeter(4)
    for samples in blocks:
        meter.add(samples)
    assert meter.dbfs() == pytest.approx(rms_dbfs(np.concatenate(blocks)), abs=1e-6)
    assert LevelMeter(2).dbfs() == [-200.0, -200.0]  # nothing heard yet


# --- one signal on two channels -------------------------------------------------------------------


def test_channels_that_carry_one_signal_are_said_once(
    alsa_config: AlsaConfig, caplog: pytest.LogCaptureFixture
) -> None:
    (said,) = _watched(alsa_config, [], caplog, copies={1: 0, 3: 2})
    assert said.startswith("captured channel pairs 0 and 1, 2 and 3 carry the same signal (copies")
    assert "'respeaker-4mic' geometry" in said and "arecord -l" in said


def test_the_parties_mics_carrying_one_signal_are_named_as_the_parties(caplog: pytest.LogCaptureFixture) -> None:
    # channel-map mode on a stereo input fed by one mono mic: both parties hear the same thing
    config = parse_config({"array": {"preset": "respeaker-2mic"}, "parties": {"rep_channel": 1, "customer_channel": 0}})
    watch = ChannelWatch(geometry(config))
    rng = np.random.default_rng(3)
    with caplog.at_level(logging.WARNING, logger="listener.audio.channel_watch"):
        for k in range(round((WATCH_S + 0.5) / 0.1)):
            mono = rng.normal(0.0, 0.01, (1600, 1)).astype(np.float32)
            watch.process(AudioBlock(start_s=0.1 * k, sample_rate_hz=16000, samples=np.repeat(mono, 2, axis=1)))
    (record,) = caplog.records
    said = record.getMessage()
    assert said.startswith("the rep's channel 1 and the customer's channel 0 carry the same signal")
    assert "[parties] rep_channel and customer_channel" in said


def test_real_mics_are_never_taken_for_copies() -> None:
    """The bundled conversation, rendered onto a 4-mic array in a room (one voice per direction, the room's
    noise): its mics hear the same talkers a few centimetres apart, and differ far more than a copy."""
    samples = np.asarray(sf.read(sample_conversation(), dtype="float32")[0])
    assert samples.shape[1] == 4 and twin_channels(samples, [0, 1, 2, 3]) == []
    rng = np.random.default_rng(5)
    near = samples[:, :2].copy()
    rms = float(np.std(near[:, 0]))
    near[:, 1] = near[:, 0] + rng.normal(0.0, rms * 10 ** (-40 / 20), size=near.shape[0])  # a copy, noise 40 dB down
    assert twin_channels(near, [0, 1]) == []
    near[:, 1] = near[:, 0]
    assert twin_channels(near, [0, 1]) == [(0, 1)]


def test_doctor_fails_the_levels_of_copied_channels() -> None:
    rng = np.random.default_rng(4)
    samples = rng.normal(0.0, 0.01, (16000, 4)).astype(np.float32)
    samples[:, 3] = samples[:, 1]
    twins = twin_channels(samples, [0, 1, 2, 3])
    check = doctor_levels.level_check(rms_dbfs(samples), [0, 1, 2, 3], twins)
    assert twins == [(1, 3)] and check.status == "FAIL"
    assert "channels 1 and 3 carry the same signal" in check.detail and "arecord -l" in check.fix


def test_doctor_reads_copied_channels_off_the_array_and_fails(tmp_path: Path, alsa_config: AlsaConfig) -> None:
    """End to end, as `listener doctor` runs it: the level check reads the array through pyaudio and must find the
    copy itself (the test above hands level_check the twins; this one fails if check_levels stops looking)."""
    signal = tones(16000, 2.0, 4)
    signal[:, 3] = signal[:, 1]  # a plug over a smaller card, copying one channel onto another
    alsa_config.add("listener_test_array", signal, 16000)
    checks = {c.name: c for c in doctor.check_audio(doctor_config(tmp_path))}
    assert checks["audio"].status == "ok" and checks["preset"].status == "ok"  # the card itself is fine
    levels = checks["levels"]
    assert levels.status == "FAIL", levels.line()
    assert "channels 1 and 3 carry the same signal (copies, not separate mics)" in levels.detail
    assert "carry no sound" not in levels.detail  # every channel hears its tone: it is the copy that fails
    assert "arecord -l" in levels.fix


# --- a recording ----------------------------------------------------------------------------------


def _recording(tmp_path: Path, seconds: float, dead: list[int], copies: dict[int, int]) -> Path:
    sample = sample_conversation()
    samples, rate = sf.read(sample, dtype="float32", frames=round(16000 * seconds))
    samples[:, dead] = 0.0
    for to, original in copies.items():
        samples[:, to] = samples[:, original]
    path = tmp_path / "made wrong.wav"
    sf.write(path, samples, rate)
    return path


@pytest.mark.parametrize("seconds", [4.0, 27.0])  # judged at the file's end, or after WATCH_S
def test_analyze_says_a_recordings_silent_and_copied_channels_once_each(
    tmp_path: Path, seconds: float, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _recording(tmp_path, seconds, dead=[2], copies={3: 1})
    with caplog.at_level(logging.WARNING, logger="listener.audio.channel_watch"):
        assert main(["analyze", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["schema"] == "listener.analysis/1"  # the report still comes
    dead, copied = (r.getMessage() for r in caplog.records)
    assert dead.startswith(f"channel(s) [2] of {path} carry no sound (under -90 dBFS)")
    assert copied.startswith(f"channels 1 and 3 of {path} carry the same signal (copies")
    assert all("`arecord -D listener_array -c 4 ...`" in said for said in (dead, copied))


def test_analyze_says_nothing_of_a_recording_made_right(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    sample = sample_conversation()
    with caplog.at_level(logging.WARNING, logger="listener.audio.channel_watch"):
        assert main(["analyze", str(sample), "--json"]) == 0
    assert capsys.readouterr().out and not caplog.records


def test_run_on_a_recording_says_its_silent_and_copied_channels_once_each(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`listener run --input FILE` watches the file's channels as analyze does (the service's pipeline, not
    analyze's): a file with a dead and a copied channel is said, naming the file, and the run still goes on."""
    path = _recording(tmp_path, 4.0, dead=[2], copies={3: 1})
    config = parse_config({"leds": {"enabled": False, "button_pin": ""}, "asr": {"enabled": False}})
    with caplog.at_level(logging.WARNING, logger="listener.audio.channel_watch"):
        audio_s = runner.run(config, RunOptions(input=path, fast=True))
    assert audio_s == pytest.approx(4.0, abs=0.1)  # the whole file was heard
    dead, copied = (r.getMessage() for r in caplog.records if r.name == "listener.audio.channel_watch")
    assert dead.startswith(f"channel(s) [2] of {path} carry no sound (under -90 dBFS)")
    assert copied.startswith(f"channels 1 and 3 of {path} carry the same signal (copies")
    assert all("`arecord -D listener_array -c 4 ...`" in said for said in (dead, copied))


@pytest.mark.parametrize("amp_ppm", [3000, 1000])  # about -53 and -63 dBFS: a mic in a quiet shop, a quieter one
def test_doctor_finds_a_quiet_mic_copied_onto_both_channels_of_a_24_bit_card(
    tmp_path: Path, cards: CardSet, amp_ppm: int
) -> None:
    """A mono mic on a stereo 24-bit USB interface, in channel-map mode: PortAudio converts to 16 bits with
    dither, per channel, so the two copies differ by about -95 dBFS; quieter than -40 dBFS they passed as two
    mics ("ok levels"), and every figure after would have been wrong. At 16 bits it was always caught."""
    cards.set({"monostereo24": f"rate 48000; channels 2; format S24_3LE; mono 1; amp {amp_ppm}"})
    config = doctor_config(
        tmp_path,
        array={"preset": "generic", "device": "monostereo24", "sample_rate": 48000, "channels": 2},
        parties={"rep_channel": 0, "customer_channel": 1},
    )
    levels = {c.name: c for c in doctor.check_audio(config)}["levels"]
    assert levels.status == "FAIL", levels.line()
    assert "carry the same signal" in levels.detail, levels.detail


@pytest.mark.parametrize(("rumble_dbfs", "self_noise_dbfs"), [(-70, -100), (-75, -105), (-80, -100), (-70, -95)])
def test_two_low_noise_mics_hearing_only_a_rumble_are_not_copies(rumble_dbfs: float, self_noise_dbfs: float) -> None:
    """A reviewer's counter-case to the dither floor alone: two real mics 4.6 cm apart in a silent room, an
    80 + 120 Hz rumble reaching both with its delay, high-SNR mics (self-noise -100 dBFS): their difference
    reads -93.5 to -93.8 dBFS, under the floor, but only 14-19 dB under the rumble, where a copy is 40 down."""
    rng = np.random.default_rng(1)
    t = np.arange(32000) / 16000.0
    delay_s, amp = 0.046 / 343.0, 10 ** (rumble_dbfs / 20) * np.sqrt(2)

    def rumble(at: np.ndarray) -> np.ndarray:
        return amp * np.sin(2 * np.pi * 80 * at) + amp * 0.5 * np.sin(2 * np.pi * 120 * at + 1)

    x = np.stack([rumble(t), rumble(t - delay_s)], axis=1) + rng.normal(0, 10 ** (self_noise_dbfs / 20), (t.size, 2))
    captured = (np.round(x * 32768) / 32768).astype(np.float32)  # 16 bits, rounded per channel
    assert twin_channels(captured, [0, 1]) == []


def test_two_real_quiet_mics_are_not_copies_under_the_dither_floor() -> None:
    """The floor's other side: one source heard by two mics, each with its own noise at -90 dBFS (a quiet
    MEMS mic in a silent room): their difference is that noise, about -87 dBFS, and they are two mics."""
    rng = np.random.default_rng(7)
    common = rng.normal(0.0, 10 ** (-60 / 20), 48000)
    noise = rng.normal(0.0, 10 ** (-90 / 20), (48000, 2))
    samples = (common[:, None] + noise).astype(np.float32)
    assert twin_channels(samples, [0, 1]) == []


def test_a_live_mic_that_comes_and_goes_for_weeks_keeps_the_latest_warnings_only() -> None:
    # every warning stayed in ``said`` for the service's life: a mic whose lead comes and goes, said dead
    # every other WATCH_S, added 4320 lines a day
    watch = ChannelWatch(geometry(live_config()))
    rng = np.random.default_rng(7)
    windows = 200  # dead and hearing in turn: 100 warnings
    for k in range(round(windows * WATCH_S)):
        samples = rng.normal(0.0, 0.01, (16000, 4)).astype(np.float32)
        if (k // round(WATCH_S)) % 2 == 1:
            samples[:, 1] = 0.0
        watch.process(AudioBlock(start_s=float(k), sample_rate_hz=16000, samples=samples))
    assert len(watch.said) == SAID_KEPT
    assert all(line.startswith("captured channel(s) [1] carry no sound") for line in watch.said)
