"""Channel-map mode, heuristic decision: a voice leaking into the other party's mic is no speech of theirs."""

from __future__ import annotations

import numpy as np
import pytest

from listener.config import parse_config
from tests import synth
from tests.conftest import frames
from tests.test_channel_gain import hiss
from tests.test_spatial_review import decided, spatial

RATE_HZ = synth.RATE_HZ
CONFIG = parse_config(
    {
        "array": {"preset": "generic", "channels": 2},
        "parties": {"rep_channel": 0, "customer_channel": 1},
        "turn_model": {"enabled": False},
    }
)


def on_two_mics(rep: np.ndarray, customer: np.ndarray, leak_db: float) -> np.ndarray:
    """Each voice on its own party's mic, and on the other's ``leak_db`` down and 3 ms later (lapels 1 m apart)."""
    lag = round(0.003 * RATE_HZ)

    def leaked(x: np.ndarray) -> np.ndarray:
        return np.concatenate([np.zeros((lag, 1)), x[: x.shape[0] - lag]]) * 10 ** (leak_db / 20)

    return hiss(np.concatenate([rep + leaked(customer), customer + leaked(rep)], axis=1), -60.0, -60.0)


def voice(*turns: synth.Utterance) -> tuple[np.ndarray, list[dict[str, object]]]:
    """``turns`` of one party as one mono recording, and their truth."""
    return synth.render(list(turns), 17.0, np.zeros((1, 3)), 1e-4, seed=1)


REP = synth.Utterance("rep", 0.5, "cmu_arctic_us_axb_a0004.wav", 0.0)


@pytest.mark.parametrize("leak_db", [-6.0, -12.0])
def test_a_voice_leaking_into_the_other_mic_is_not_the_other_party_speaking(leak_db: float) -> None:
    # The rep alone, 4.4 s of speech. Leaked 6 dB down, the rep's voice reached the customer's evidence
    # about 6.5 dB down through the channel weights, and bins whose lead scattered lower passed the echo
    # guard's 6 dB: the customer showed as speaking for 1.8 s. In channel-map mode the guard is 4 dB.
    rep_voice, _ = voice(*(u for u in synth.DIALOGUE if u.party == "rep"))
    rep, customer = decided(CONFIG, spatial(on_two_mics(rep_voice, np.zeros_like(rep_voice), leak_db), CONFIG, [800]))
    assert rep.sum() > 400
    assert customer.sum() == 0


def test_two_parties_at_once_are_still_both_heard() -> None:
    # the guard keeps real overlaps: the customer talking over the rep for 1.5 s, each on their own mic
    # (both heard in 146 of its 154 frames, 147 with the 6 dB guard)
    rep_voice, rep_truth = voice(REP)
    customer_voice, customer_truth = voice(synth.Utterance("customer", 1.5, "cmu_arctic_us_aew_a0001.wav", 0.0))
    rep, customer = decided(CONFIG, spatial(on_two_mics(rep_voice, customer_voice, -6.0), CONFIG, [800]))
    both = frames(rep_truth, "rep", rep.size) & frames(customer_truth, "customer", rep.size)
    assert both.sum() > 100
    assert (rep & customer & both).sum() > 0.8 * both.sum()
