"""LeadMeter (listener.audio.leads): which of the parties' two mics leads while someone speaks, by the rules its
module docstring gives (20 ms frames; speech SPEECH_DB above a channel's own floor; a mic that never leads while
the other often does hears only leakage). The recordings it was tuned on: test_channel_watch_parties.py."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from listener.audio.leads import NO_SPEECH, LeadMeter, LeadShares

RATE_HZ = 16000
FRAME = 320  # 20 ms


def frames_at(levels_dbfs: list[tuple[float, float]]) -> npt.NDArray[np.float64]:
    """One 20 ms frame per (first, second) level: a +-a square wave, whose RMS about its mean is a."""
    sign = np.where(np.arange(FRAME) % 2 == 0, 1.0, -1.0)[:, None]
    return np.concatenate([sign * 10 ** (np.array(pair) / 20.0) for pair in levels_dbfs])


def test_a_meter_that_heard_nothing_or_no_frame_whole_says_no_speech() -> None:
    """A recording shorter than one frame (calibrate --input of a 10 ms clip) has no levels: no speech, no
    share, not an error."""
    meter = LeadMeter(RATE_HZ)
    meter.add(np.full((FRAME - 1, 2), 0.1))  # a frame counts only once whole
    assert meter.heard_s == 0.0
    assert meter.shares() == NO_SPEECH and meter.hears_speech() == (0.0, 0.0)
    meter.add(np.full((1, 2), 0.1))
    assert meter.heard_s == 0.02


def test_steady_noise_on_both_mics_is_no_speech() -> None:
    meter = LeadMeter(RATE_HZ)
    meter.add(frames_at([(-60.2, -65.2)] * 200))
    assert meter.heard_s == 4.0
    assert meter.shares().speech_s == 0.0 and meter.hears_speech() == (0.0, 0.0)


def test_a_frame_speech_db_above_its_floor_is_speech() -> None:
    """SPEECH_DB = 12: a frame 12 dB above its channel's floor is speech; 11 dB is not."""
    floor = [(-60.2, -60.2)] * 190
    for above_db, speech in ((12.0, True), (11.0, False)):
        meter = LeadMeter(RATE_HZ)
        meter.add(frames_at([*floor, *[(-60.2 + above_db, -60.2)] * 10]))
        assert meter.hears_speech() == ((1.0, 0.0) if speech else (0.0, 0.0)), above_db
        assert meter.shares().speech_s == (0.2 if speech else 0.0), above_db


def test_a_mic_that_never_leads_while_the_other_often_does_hears_only_leakage() -> None:
    """Often is 30 % of the speech frames: a working customer mic led in 12 to 99 % of a conversation."""
    meter = LeadMeter(RATE_HZ)
    assert meter.leakage_only(LeadShares(60.0, 0.4, 0.0)) == [1]
    assert meter.leakage_only(LeadShares(60.0, 0.0, 0.35)) == [0]
    assert meter.leakage_only(LeadShares(60.0, 0.0, 0.25)) == []  # the other is not often ahead: no verdict
    assert meter.leakage_only(LeadShares(60.0, 0.02, 0.9)) == []  # led now and then: it hears its talker
