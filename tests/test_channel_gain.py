"""Channel-map mode's gain correction: learnt from both parties' speech, not from the mics' backgrounds.

Two lapel mics at the same speech gain can have very different backgrounds (one mic's own hiss, a
noise source nearer one of them). Read off the backgrounds, that difference passed for a gain
mismatch and handed the noisier mic's party's speech to the other party.
"""

from __future__ import annotations

import numpy as np
import pytest

from listener.config import parse_config
from listener.spatial.gain import GAIN_TOLERANCE_DB, MAX_STEP_DB, ChannelGain
from tests import synth
from tests.conftest import f1, frames
from tests.test_spatial_review import decided, spatial

RATE_HZ = synth.RATE_HZ
CONFIG = parse_config({"array": {"preset": "respeaker-2mic"}, "parties": {"rep_channel": 0, "customer_channel": 1}})
QUIET = 1e-4  # each voice's own rendering noise (-80 dBFS): the mics' backgrounds are set by each test


def dbfs(level_db: float) -> float:
    return float(10 ** (level_db / 20))


def hiss(samples: np.ndarray, rep_db: float, customer_db: float, seed: int = 5) -> np.ndarray:
    """Each mic's own white self-noise added, at its own level."""
    rng = np.random.default_rng(seed)
    return (samples + rng.standard_normal(samples.shape) * [dbfs(rep_db), dbfs(customer_db)]).astype(np.float32)


def scored(samples: np.ndarray, truth: list[dict[str, object]], from_s: float = 0.0) -> dict[str, float]:
    """Each party's F1 and the rep's share of the talk (system and truth), from ``from_s`` on."""
    rep, cust = decided(CONFIG, spatial(samples, CONFIG, [800]))
    start = round(from_s * 100)
    rep, cust = rep[start:], cust[start:]
    true_rep, true_cust = (frames(truth, party, rep.size + start)[start:] for party in ("rep", "customer"))
    return {
        "rep_f1": f1(true_rep, rep),
        "customer_f1": f1(true_cust, cust),
        "rep_share": rep.sum() / max(rep.sum() + cust.sum(), 1),
        "true_share": true_rep.sum() / (true_rep.sum() + true_cust.sum()),
    }


def assert_attributed(score: dict[str, float]) -> None:
    assert score["rep_f1"] > 0.8, score
    assert score["customer_f1"] > 0.8, score
    assert abs(score["rep_share"] - score["true_share"]) < 0.05, score


def test_more_hiss_on_one_mic_is_no_gain_mismatch() -> None:
    # The rep's mic hisses at -60 dBFS, the customer's at -75, both record speech alike: the background
    # floors said the rep's channel was 15 dB louder, and most of the rep's words went to the customer.
    samples, truth = synth.lapel_dialogue(noise=QUIET)
    assert_attributed(scored(hiss(samples, -60.0, -75.0), truth))


def test_a_noise_source_nearer_one_mic_is_no_gain_mismatch() -> None:
    # An exercise bike 15 dB louder at the rep's mic than at the customer's, the same speech gain
    samples, truth = synth.lapel_dialogue(noise=QUIET)
    n = samples.shape[0]
    bike = np.stack([synth.load_noise("exercise_bike.wav", n, 5.0), synth.load_noise("exercise_bike.wav", n, 30.0)], 1)
    noisy = hiss(samples + bike * [dbfs(-45.0), dbfs(-60.0)], -80.0, -80.0)
    assert_attributed(scored(noisy, truth))


@pytest.mark.parametrize("hiss_db", [(-75.0, -75.0), (-75.0, -60.0)], ids=["same-hiss", "customer-mic-hisses"])
def test_a_real_gain_mismatch_is_still_removed(hiss_db: tuple[float, float]) -> None:
    # The customer's channel records everything 12 dB quieter: uncorrected, the customer's own words never
    # lead the rep's channel and the customer is lost. Once both have spoken, the two clusters of the
    # channels' level ratio (rep talking, customer talking) tell the mismatch, whatever either background.
    samples, truth = synth.lapel_dialogue(customer_gain_db=-12.0, noise=QUIET)
    matched, _ = synth.lapel_dialogue(noise=QUIET)
    assert scored(hiss(samples, *hiss_db), truth)["customer_f1"] > 0.8
    # from a second into the customer's first words on, as good as two matched mics
    settled_s = min(float(s["start"]) for s in truth if s["party"] == "customer") + 1.0  # type: ignore[arg-type]
    score = scored(hiss(samples, *hiss_db), truth, from_s=settled_s)
    reference = scored(hiss(matched, *hiss_db), truth, from_s=settled_s)
    for key in ("rep_f1", "customer_f1", "rep_share"):
        assert score[key] == pytest.approx(reference[key], abs=0.05), (key, score, reference)


def test_a_mismatch_is_learnt_from_the_first_words_in_ordinary_noise() -> None:
    # Washing-up at -40 dBFS on each mic, 11 dB under the dialogue's speech, and the customer's mic 20 dB
    # hotter. Speech counted only 15 dB above a floor that sits 4 dB above the background, with the leaked
    # voice above that floor too: the customer's three turns (3.5 s) went by uncounted, the correction came
    # at 12.75 s, and the rep's words after the customer's were all the customer's (rep F1 0.0).
    def washing_up(customer_gain_db: float) -> tuple[np.ndarray, list[dict[str, object]]]:
        samples, truth = synth.lapel_dialogue(customer_gain_db=customer_gain_db, noise=QUIET)
        n = samples.shape[0]
        sink = np.stack(
            [synth.load_noise("doing_the_dishes.wav", n, 5.0), synth.load_noise("doing_the_dishes.wav", n, 40.0)], 1
        )
        return hiss(samples + sink * [dbfs(-40.0), dbfs(-40.0 + customer_gain_db)], -80.0, -80.0), truth

    (samples, truth), (matched, _) = washing_up(20.0), washing_up(0.0)
    settled_s = min(float(s["start"]) for s in truth if s["party"] == "customer") + 1.5  # type: ignore[arg-type]
    score, reference = scored(samples, truth, from_s=settled_s), scored(matched, truth, from_s=settled_s)
    for key in ("rep_f1", "customer_f1", "rep_share"):
        assert score[key] == pytest.approx(reference[key], abs=0.05), (key, score, reference)


@pytest.mark.parametrize("sizes", [[160], [RATE_HZ * 10 // 1000 * 7 + 3, 1, 555]], ids=["one frame", "ragged"])
def test_the_correction_does_not_depend_on_where_the_stream_is_cut(sizes: list[int]) -> None:
    # it settles every UPDATE_FRAMES frames of the stream, counting whole frames: bit for bit what analyze
    # (1 s blocks) reports, the live service (50 ms) hears
    samples, _ = synth.lapel_dialogue(customer_gain_db=-12.0)
    whole, cut = spatial(samples, CONFIG, [samples.shape[0]]), spatial(samples, CONFIG, sizes)
    for name in ("rep_weight", "customer_weight", "rep_snr_db", "customer_snr_db"):
        np.testing.assert_array_equal(getattr(cut, name), getattr(whole, name), err_msg=name)


def talk(
    party: str, seconds: float, gain_db: float, rng: np.random.Generator, leak_db: float | np.ndarray = 12.0
) -> np.ndarray:
    """Band levels (frames, 2) of one party talking in bursts over each mic's background.

    ``gain_db``: how much louder the rep's channel records the same sound; the other party's mic hears
    the voice ``leak_db`` down (per frame, if an array); the rep's mic's background is 15 dB above the
    customer's.
    """
    n = round(seconds * 100)
    voice_db = rng.uniform(-40.0, -15.0, n) * np.where(np.arange(n) % 60 < 40, 1.0, np.inf)  # 0.4 s pauses
    own, other = voice_db, voice_db - leak_db
    rep_db, cust_db = (own + gain_db, other) if party == "rep" else (other + gain_db, own)
    background = 10 ** (np.array([-65.0, -80.0]) / 10) * rng.exponential(1.0, (n, 2))
    return (10 ** (np.stack([rep_db, cust_db], axis=1) / 10) + background).astype(np.float32)


def offsets(gain: ChannelGain, levels: np.ndarray) -> np.ndarray:
    return gain.update(levels, np.ones(levels.shape[0], dtype=bool))


@pytest.mark.parametrize("gain_db", [0.0, 20.0, -20.0])
def test_one_party_alone_gets_no_correction(gain_db: float) -> None:
    # +m + g while the rep talks is -m + g' while the customer does: one party's speech cannot tell the
    # gains, nor can the backgrounds (15 dB apart here at any gain). No correction rather than a wrong one.
    rng = np.random.default_rng(1)
    for party in ("rep", "customer"):
        gain = ChannelGain(0.01)
        assert not offsets(gain, talk(party, 30.0, gain_db, rng)).any()


@pytest.mark.parametrize("gain_db", [20.0, -12.0, 3.0])
def test_the_mismatch_is_learnt_once_both_parties_have_spoken(gain_db: float) -> None:
    rng = np.random.default_rng(2)
    gain = ChannelGain(0.01)
    before = offsets(gain, talk("rep", 10.0, gain_db, rng))
    after = offsets(gain, talk("customer", 3.0, gain_db, rng))
    assert not before.any()
    expected = gain_db if abs(gain_db) > GAIN_TOLERANCE_DB else 0.0  # a few dB either way are left alone
    assert after[-1] == pytest.approx(expected, abs=0.5)
    assert np.abs(np.diff(np.concatenate([before, after]))).max() <= MAX_STEP_DB  # in bounded steps
    later = offsets(gain, np.concatenate([talk("rep", 20.0, gain_db, rng), talk("customer", 5.0, gain_db, rng)]))
    assert np.abs(later - expected).max() <= 0.5  # and held


@pytest.mark.parametrize("spread", ["smeared", "two-postures"])
def test_one_party_whose_leakage_varies_is_not_taken_for_two(spread: str) -> None:
    # a rep's voice reaching the customer's mic anywhere from 4 to 24 dB down (turning the head,
    # reverberation) is one broad cluster, which the best cut splits into two halves 10 dB apart;
    # one facing the customer half the time, 5 dB louder at the customer's mic than otherwise, is two
    # clusters, but nearer than two parties' voices are to each other
    rng = np.random.default_rng(3)
    n = 3000
    leak_db = rng.uniform(4.0, 24.0, n) if spread == "smeared" else np.where(np.arange(n) < n // 2, 10.0, 15.0)
    for gain_db in (0.0, 20.0):
        assert not offsets(ChannelGain(0.01), talk("rep", n / 100, gain_db, rng, leak_db)).any()


@pytest.mark.parametrize("seed", [0, 1])
def test_two_parties_12_db_apart_with_a_spread_a_third_of_that_are_two(seed: int) -> None:
    # each voice 2.4 to 9.6 dB down at the other's mic: clusters 12 dB apart (their medians), each 3.6 dB
    # across its middle half, so 12 >= SPREAD_RATIO x 3.6: two parties, and the 20 dB mismatch is learnt
    rng = np.random.default_rng(seed)
    gain = ChannelGain(0.01)
    rep, customer = (talk(party, 20.0, 20.0, rng, rng.uniform(2.4, 9.6, 2000)) for party in ("rep", "customer"))
    assert offsets(gain, np.concatenate([rep, customer]))[-1] == pytest.approx(20.0, abs=0.5)


def test_a_mismatch_that_changes_after_40_minutes_is_learnt_again_within_20() -> None:
    """Past HISTORY_FRAMES of counted speech the old counts are halved: a receiver's gain turned down after
    40 minutes of a 20 dB mismatch (now 12 dB the other way) is learnt within 20 minutes, where counts kept
    for ever would hold the old clusters until as much speech had come again (about 40 minutes)."""
    rng = np.random.default_rng(4)
    gain = ChannelGain(0.01)

    def minutes(n: int, gain_db: float) -> np.ndarray:
        return offsets(
            gain, np.concatenate([talk(p, 30.0, gain_db, rng) for _ in range(n) for p in ("rep", "customer")])
        )

    assert minutes(40, 20.0)[-1] == pytest.approx(20.0, abs=0.5)
    assert minutes(20, -12.0)[-1] == pytest.approx(-12.0, abs=0.5)
