"""The heuristic decider (listener/spatial/decide.py) on hand-made levels, where its stated rules decide."""

from __future__ import annotations

import numpy as np
import pytest

from listener.config import Config, parse_config
from listener.events import ActivityFrames, SpatialFrames
from listener.spatial.decide import HYSTERESIS_DB, SMOOTH_FRAMES, ActivityDecider
from listener.spatial.frontend import SILENT_SNR_DB
from tests.level_frames import HOP_S, levels


def decided(config: Config, frames: SpatialFrames) -> ActivityFrames:
    (out,) = [e for e in ActivityDecider(config).process(frames) if isinstance(e, ActivityFrames)]
    return out


def test_the_speech_likelihood_is_even_at_the_switch_on_level() -> None:
    """Each party's ``*_prob`` is its likelihood: 0.5 where its level reaches speech_snr_db, less below, more
    above, never past 1 (the other party silent throughout)."""
    config = parse_config({})
    on = config.activity.speech_snr_db
    held = SMOOTH_FRAMES - 1  # the first frame whose smoothing window holds only the level itself
    for level_db, low, high in [(on, 0.5, 0.5), (on + 12.0, 0.5, 1.0), (on - 12.0, 0.0, 0.5), (-60.0, 0.0, 1e-6)]:
        for speaker, silent in [("rep", "customer"), ("customer", "rep")]:
            given = {speaker: [level_db] * 20, silent: [-60.0] * 20}
            out = decided(config, levels(given["rep"], given["customer"]))
            prob = getattr(out, f"{speaker}_prob")[held:]
            assert np.all((prob >= low - 1e-6) & (prob <= high + 1e-6)), (speaker, level_db, prob)
            assert np.all(getattr(out, f"{silent}_prob") < 1e-6)


def test_a_streams_first_block_is_decided_frame_for_frame() -> None:
    """The smoothing starts from silence it makes up, not from frames it takes out of the block."""
    config = parse_config({})
    for n in (1, 5, 20):
        out = decided(config, levels([20.0] * n))
        assert out.n_frames == out.rep_prob.size == out.customer_active.size == n


@pytest.mark.parametrize("hangover_s", [0.01, 0.1, 0.4])
def test_a_party_stays_on_for_the_hangover_after_its_evidence_fades(hangover_s: float) -> None:
    """docs/config.md: "a party stays active this long after its evidence fades" (the frames it stops at
    without a hangover being where the evidence faded)."""
    speech = levels([20.0] * 50 + [-60.0] * 100)
    without = decided(parse_config({"activity": {"hangover_s": 0.0}}), speech).rep_active
    held = decided(parse_config({"activity": {"hangover_s": hangover_s}}), speech).rep_active
    assert without[20:50].all() and not without[60:].any()
    assert held.sum() - without.sum() == round(hangover_s / HOP_S)
    assert held[without].all()  # the same run, lengthened


def test_a_level_exactly_at_the_switch_on_or_stay_on_level_counts() -> None:
    """speech_snr_db is the level that counts as speech, and a party once on stays on *down to* HYSTERESIS_DB
    under it: either level itself is evidence."""
    config = parse_config({"activity": {"hangover_s": 0.0}})
    on = config.activity.speech_snr_db
    assert decided(config, levels([on] * 30)).rep_active[10:].all()
    stays = decided(config, levels([on + 2.0] * 30 + [on - HYSTERESIS_DB] * 30)).rep_active
    assert stays[10:].all()


def onsets(evidence: str) -> np.ndarray:
    """The rep's activity where its smoothed level is just over (``1``) or far under (``0``) the switch-on level.

    The levels fed are the ones whose SMOOTH_FRAMES-frame mean (after the silent history a stream starts with)
    is that, so each frame's evidence is set on its own through the decider's public path."""
    config = parse_config({"activity": {"hangover_s": 0.0}})
    on = config.activity.speech_snr_db
    raw = [SILENT_SNR_DB] * (SMOOTH_FRAMES - 1)
    for bit in evidence:
        raw.append(SMOOTH_FRAMES * (on + 1.0 if bit == "1" else SILENT_SNR_DB) - sum(raw[1 - SMOOTH_FRAMES :]))
    return decided(config, levels(raw[SMOOTH_FRAMES - 1 :])).rep_active


def test_an_onset_needs_four_frames_of_evidence_within_the_last_eight() -> None:
    """README: "an onset that needs 4 of 8 frames". Four frames spanning nine (first to last) are one too spread."""
    assert onsets("1" + "0000" + "111" + "0000")[7]  # frames 0 and 5-7: within eight
    assert not onsets("1" + "00000" + "111" + "0000").any()  # frames 0 and 6-8
    assert onsets("1" + "00000" + "1111" + "0000")[9]  # a fourth frame in 2-9


def test_a_stream_starts_with_no_onset_evidence() -> None:
    """Three frames of evidence right at a stream's start are as short of an onset as anywhere else."""
    assert not onsets("111" + "0000").any()
    assert onsets("1111" + "0000")[3]


def test_without_a_hangover_a_party_is_off_at_the_first_frame_with_no_evidence() -> None:
    """The hangover tests count frames past this one: with none configured, nothing is left over."""
    assert onsets("1111" + "000").tolist() == [False] * 3 + [True] + [False] * 3
