"""Channel-map mode (one mic per party): a party's dead mic is said as that party's, and a mic that hears the
other party only as leakage (unplugged: hiss and hum above -90 dBFS, muted, facing away) is said once.

The recordings are the lapel dialogue of tests.synth (two mics, each voice reaching the other 12 dB down).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from listener.audio.channel_watch import LEAK_LOOK_S, WATCH_S, ChannelWatch
from listener.audio.levels import rms_dbfs
from listener.cli import main
from listener.config import ArrayGeometry, geometry, parse_config
from listener.events import AudioBlock, DeviceMode, DeviceState, Event, SourceState
from listener.service.doctor import levels as doctor_levels
from tests import synth

RATE = 16000
PARTIES = {"array": {"preset": "respeaker-2mic"}, "parties": {"rep_channel": 0, "customer_channel": 1}}
WATCHER = "listener.audio.channel_watch"


def _geometry(parties: bool = True) -> ArrayGeometry:
    return geometry(parse_config(PARTIES if parties else {"array": {"preset": "respeaker-2mic"}}))


def _unplugged(n: int, seed: int = 7) -> np.ndarray:
    """An unplugged mic's input: preamp hiss and mains hum, about -67 dBFS, far above DEAD_DBFS."""
    hiss = 3e-4 * np.random.default_rng(seed).standard_normal(n)
    return hiss + 5e-4 * np.sin(2 * np.pi * 50 * np.arange(n) / RATE)


def _dialogue(customer: str) -> np.ndarray:
    """The lapel dialogue with the customer's mic as ``customer`` says: ok, dead, unplugged, quiet (the
    customer's voice 20 dB down, on both mics), low-gain (the customer's channel 20 dB down)."""
    if customer == "quiet":
        one_mic, leak = np.zeros((1, 3)), 10 ** (-12 / 20)
        rep, _ = synth.render([u for u in synth.DIALOGUE if u.party == "rep"], 17.0, mics=one_mic, seed=1)
        quiet = [u for u in synth.DIALOGUE if u.party == "customer"]
        cust, _ = synth.render(quiet, 17.0, mics=one_mic, seed=2, noise=0.0)
        cust *= 10 ** (-20 / 20)
        hiss = synth.render([], 17.0, mics=one_mic, seed=3)[0]
        return np.concatenate([rep + leak * cust, cust + leak * rep + hiss], axis=1)
    samples, _ = synth.lapel_dialogue(customer_gain_db=-20.0 if customer == "low-gain" else 0.0)
    if customer == "dead":
        samples[:, 1] = 0.0
    elif customer == "unplugged":
        samples[:, 1] = _unplugged(samples.shape[0])
    return samples


def _analyze(tmp_path: Path, samples: np.ndarray, caplog: pytest.LogCaptureFixture, parties: bool = True) -> list[str]:
    wav = synth.write_wav(tmp_path / "counter.wav", samples)
    toml = tmp_path / "listener.toml"
    one_mic_each = "[parties]\nrep_channel = 0\ncustomer_channel = 1\n" if parties else ""
    toml.write_text('[array]\npreset = "respeaker-2mic"\n' + one_mic_each)
    with caplog.at_level(logging.WARNING, logger=WATCHER):
        assert main(["analyze", str(wav), "--config", str(toml)]) == 0
    return [r.getMessage() for r in caplog.records if r.name == WATCHER]


def _live(watch: ChannelWatch, samples: np.ndarray, seconds: float, first_s: float = 0.0) -> None:
    """``samples`` looped for ``seconds``, in 100 ms blocks, as the live array hands them on."""
    block = RATE // 10
    for k in range(round(seconds * 10)):
        start = k * block % (samples.shape[0] - block)
        chunk = samples[start : start + block].astype(np.float32)
        watch.process(AudioBlock(start_s=first_s + k / 10, sample_rate_hz=RATE, samples=chunk))


# --- a dead mic -----------------------------------------------------------------------------------


def test_a_recordings_dead_customer_mic_is_said_as_the_customers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """It said "a device with fewer channels than the geometry ... directions are wrong ... set mic_channels":
    nothing of which a channel-map recording has."""
    (said,) = _analyze(tmp_path, _dialogue("dead"), caplog)
    wav = tmp_path / "counter.wav"
    assert said.startswith(f"the customer's mic (channel 1) of {wav} carries no sound (under -90 dBFS)")
    assert "all speech in this analysis is credited to the rep" in said and "customer_channel" in said
    assert all(word not in said for word in ("mic_channels", "direction", "geometry"))


def test_a_live_dead_rep_mic_is_said_as_the_reps() -> None:
    config = parse_config({**PARTIES, "parties": {"rep_channel": 1, "customer_channel": 0}})
    watch = ChannelWatch(geometry(config))
    samples = _dialogue("ok")
    samples[:, 0] = 0.0  # blocks hold the rep's channel first: here captured channel 1
    _live(watch, samples, WATCH_S + 0.5)
    (said,) = watch.said
    assert said.startswith("the rep's mic (channel 1) carries no sound (under -90 dBFS) while the customer's hears")
    assert "all speech will be credited to the customer until it is fixed" in said
    assert "cable, plug and mute" in said and "[parties] rep_channel" in said
    assert all(word not in said for word in ("mic_channels", "direction", "geometry"))


def test_a_live_rep_mic_that_hears_again_is_said_as_the_reps_and_ends_the_fault() -> None:
    watch = ChannelWatch(_geometry())
    samples = _dialogue("ok")
    dead = samples.copy()
    dead[:, 0] = 0.0
    _live(watch, dead, WATCH_S)
    shown: list[Event] = []
    for k in range(round(WATCH_S * 10)):
        chunk = samples[k * 1600 : (k + 1) * 1600].astype(np.float32)
        shown += watch.process(AudioBlock(start_s=WATCH_S + k / 10, sample_rate_hz=RATE, samples=chunk))
    assert [(s.mode, s.detail) if isinstance(s, DeviceState) else s for s in shown] == [
        (DeviceMode.LISTENING, "the rep's mic (channel 0) hears sound again")
    ]


def test_doctor_names_the_party_whose_mic_is_dead() -> None:
    samples = _dialogue("dead")[:RATE]
    check = doctor_levels.level_check(rms_dbfs(samples), [0, 1], (), _geometry())
    assert check.status == "FAIL"
    assert "the customer's mic (channel 1) carries no sound (under -90 dBFS)" in check.detail
    assert "credited to the rep" in check.detail and "[parties] customer_channel" in check.fix
    assert "mic_channels" not in check.fix
    assert "mic_channels" in doctor_levels.level_check(rms_dbfs(samples), [0, 1], (), _geometry(parties=False)).fix


def test_doctor_says_a_far_quieter_mic_as_a_partys_not_as_the_arrays() -> None:
    """Each party's mic hears its own party loudest: one 20 dB below the other is the customer who did not speak
    while doctor listened, or a mic turned down; "check nothing rests on the array" fits neither."""
    samples = np.random.default_rng(0).normal(0.0, 0.1, (RATE, 2)).astype(np.float32)
    samples[:, 1] *= 0.05  # 26 dB down: heard, not dead
    check = doctor_levels.level_check(rms_dbfs(samples), [0, 1], (), _geometry())
    assert (
        check.status == "warn" and "the customer's mic (channel 1) is more than 20 dB below the rep's" in check.detail
    )
    assert "expected if only the rep spoke" in check.fix and "[parties] customer_channel" in check.fix
    assert "array" not in check.fix
    assert "nothing rests on the array" in doctor_levels.level_check(rms_dbfs(samples), [0, 1]).fix


def test_doctor_says_neither_partys_mic_when_both_are_dead() -> None:
    check = doctor_levels.level_check(rms_dbfs(np.zeros((RATE, 2))), [0, 1], (), _geometry())
    assert check.status == "FAIL"
    assert "neither party's mic carries any sound (under -90 dBFS)" in check.detail, check.detail
    assert "credited" not in check.detail and "rep_channel and customer_channel" in check.fix
    assert "mic_channels" not in check.fix


def test_array_mode_still_says_a_dead_channel_as_a_short_recording(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The same file without [parties]: two mics of one array, so the array's wording, and no look for leakage."""
    (said,) = _analyze(tmp_path, _dialogue("dead"), caplog, parties=False)
    assert said.startswith(f"channel(s) [1] of {tmp_path / 'counter.wav'} carry no sound (under -90 dBFS)")
    assert "'respeaker-2mic' geometry" in said and "mic_channels" in said
    caplog.clear()
    assert _analyze(tmp_path, _dialogue("unplugged"), caplog, parties=False) == []


# --- a mic that hears only the other party -------------------------------------------------------


def test_a_recordings_unplugged_customer_mic_is_said_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Hiss and hum at -67 dBFS is no dead channel: nothing was said, and the report gave the rep 100 %."""
    samples = _dialogue("unplugged")
    assert min(rms_dbfs(samples)) > -70.0  # above DEAD_DBFS: the dead-channel rule cannot see it
    (said,) = _analyze(tmp_path, samples, caplog)
    wav = tmp_path / "counter.wav"
    assert said.startswith(f"the customer's mic (channel 1) of {wav} hears only the rep: unplugged, muted, or facing")
    assert "it never led the rep's mic, which led in 100 %)" in said  # the rep's share, as the module's doc has it
    # a file's words: what this analysis credited, not a device's "until it is fixed"
    assert said.endswith(": the customer is not heard, and their speech in this analysis is credited to the rep")
    assert "mic_channels" not in said


@pytest.mark.parametrize("customer", ["ok", "quiet", "low-gain"])
def test_a_customer_mic_that_hears_the_customer_is_not_flagged(
    tmp_path: Path, customer: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A customer 20 dB quieter (or a channel with 20 dB less gain) still leads while speaking: said nothing."""
    assert _analyze(tmp_path, _dialogue(customer), caplog) == []


def test_a_live_unplugged_rep_mic_is_said_once_and_again_after_an_outage() -> None:
    watch = ChannelWatch(_geometry())
    samples = _dialogue("ok")
    samples[:, 0] = _unplugged(samples.shape[0])
    _live(watch, samples, WATCH_S + 1.0)
    assert watch.said == []  # the first look (dead, copies) has nothing to say, the longer one is not done
    _live(watch, samples, 4 * LEAK_LOOK_S, first_s=WATCH_S + 1.0)
    (said,) = watch.said
    assert said.startswith("the rep's mic (channel 0) hears only the customer: unplugged, muted, or facing away")
    assert "check its cable, plug and mute and that it faces the rep" in said
    watch.process(SourceState(t_s=200.0, available=True, detail="'listener_array' is back"))
    _live(watch, samples, 4 * LEAK_LOOK_S, first_s=200.0)
    assert len(watch.said) == 2 and watch.said[1].split(" (in ")[0] == said.split(" (in ")[0]


def test_a_live_conversation_on_two_working_mics_says_nothing() -> None:
    watch = ChannelWatch(_geometry())
    for customer in ("ok", "quiet", "low-gain"):
        _live(watch, _dialogue(customer), 4 * LEAK_LOOK_S)
        watch.process(SourceState(t_s=0.0, available=True, detail="back"))
    assert watch.said == []
