"""The spatial front end and the heuristic decider on awkward input: odd block cuts, digital silence,
mismatched channel gains, no hangover, one stage used for two streams."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from listener.config import Config, geometry, parse_config
from listener.events import ActivityFrames, AudioBlock, AudioDropped, EndOfStream, Event, SpatialFrames
from listener.spatial.decide import SMOOTH_FRAMES, ActivityDecider
from listener.spatial.frontend import SpatialFrontEnd
from listener.spatial.noise import NoiseFloor
from listener.turns.base import join_frames, slice_frames
from listener.turns.features import features_of
from tests import synth
from tests.conftest import f1, frames

RATE_HZ = synth.RATE_HZ
SECONDS = 7.0  # the dialogue's first rep utterance and the customer's answer


@pytest.fixture(scope="module")
def dialogue() -> np.ndarray:
    samples, _ = synth.render(synth.DIALOGUE, SECONDS)
    return samples


def spatial(
    samples: np.ndarray, config: Config, sizes: list[int], front: SpatialFrontEnd | None = None
) -> SpatialFrames:
    """The front end's frames for ``samples`` handed over in blocks of ``sizes`` samples (cycled), joined."""
    front = front or SpatialFrontEnd(config, geometry(config))
    out: list[SpatialFrames] = []
    a = k = 0
    while a < samples.shape[0]:
        b = min(samples.shape[0], a + sizes[k % len(sizes)])
        block = AudioBlock(a / RATE_HZ, RATE_HZ, np.ascontiguousarray(samples[a:b], dtype=np.float32))
        out += [e for e in front.process(block) if isinstance(e, SpatialFrames)]
        a, k = b, k + 1
    return join_frames(*out)


def decided(
    config: Config, spatial_frames: SpatialFrames, decider: ActivityDecider | None = None
) -> tuple[np.ndarray, np.ndarray]:
    events: list[Event] = [*(decider or ActivityDecider(config)).process(spatial_frames)]
    acts = [e for e in events if isinstance(e, ActivityFrames)]
    return np.concatenate([a.rep_active for a in acts]), np.concatenate([a.customer_active for a in acts])


@pytest.mark.parametrize(
    "sizes",
    [[800], [160], [112], [RATE_HZ * 10 // 1000 * 7 + 3, 1, 555]],
    ids=["50ms", "one frame", "7ms", "ragged"],
)
@pytest.mark.parametrize("mode", ["doa", "channels"])
def test_the_evidence_does_not_depend_on_where_the_stream_is_cut(
    dialogue: np.ndarray, sizes: list[int], mode: str
) -> None:
    # Bit for bit, so that the live service (50 ms blocks) hears exactly what analyze (1 s) reports.
    # Moving sums as cumsum-and-difference carried the rounding of everything earlier in the block,
    # and the direction map every other frame restarted with each block: a quiet frame's weights
    # could swing from 0 to 1 with the block size. Then, at the last bit: numpy's complex64 product
    # fused multiply and add in its vector loop only, a product over many frames rounded a frame by
    # its place among them, and bins picked by a mask summed in another order than a one-frame block's.
    channels = {"mode": "channels", "rep_channel": 0, "customer_channel": 2}
    config = parse_config({"parties": channels} if mode == "channels" else {})
    audio = dialogue[:, [0, 2]] if mode == "channels" else dialogue  # the source keeps the parties' channels
    whole = spatial(audio, config, [audio.shape[0]])
    cut = spatial(audio, config, sizes)
    assert cut.n_frames == whole.n_frames
    for name in ("power", "rep_weight", "customer_weight", "rep_snr_db", "customer_snr_db", "doa_deg"):
        np.testing.assert_array_equal(getattr(cut, name), getattr(whole, name), err_msg=name)


@pytest.mark.parametrize("lead", ["zeros", "one LSB of DC"])
def test_digital_silence_before_the_room_does_not_make_its_background_speech(dialogue: np.ndarray, lead: str) -> None:
    # A codec that starts with zeros (or a constant) dragged the noise floor to -120 dB; it then took
    # many seconds to climb back, and all that time both parties were "speaking" in the background.
    config = parse_config({})
    silence = np.zeros((RATE_HZ, dialogue.shape[1]), dtype=np.float32) + (0.0 if lead == "zeros" else -1 / 32768)
    plain_frames = spatial(dialogue, config, [800])
    led_frames = spatial(np.concatenate([silence, dialogue]), config, [800])
    plain = decided(config, plain_frames)
    led = decided(config, led_frames)
    skip = RATE_HZ // 160  # the lead's 10 ms frames
    for party in (0, 1):
        assert not led[party][:skip].any()
        assert np.sum(led[party][skip:] != plain[party]) <= 5
    # the frames whose window lies wholly inside the lead (a window's length clear of either edge, whichever
    # way a frame is aligned to its hop) are no sound at all: exact zeros, which no floor downstream follows
    hop = round(led_frames.hop_s * led_frames.sample_rate_hz)
    margin = -(-led_frames.fft_size // hop)
    inside = slice(margin, silence.shape[0] // hop - margin)
    assert led_frames.start_s == 0.0 and inside.stop - inside.start > 80
    np.testing.assert_array_equal(led_frames.power[inside], 0.0)
    # so the turn model's features, whose floor skips frames without power, are back on the plain ones'
    # within a second of the lead's end
    plain_features, led_features = features_of(plain_frames), features_of(led_frames)
    rows = skip // 2  # one feature row per two frames
    after = led_features[2 * rows :]
    diff = np.abs(after - plain_features[rows : rows + after.shape[0]])
    assert diff.shape[0] > 200
    assert diff.mean() <= 0.05 and diff.max() <= 0.5, (diff.mean(), diff.max())


def test_a_muted_stretch_leaves_the_noise_floor_where_it_was() -> None:
    rng = np.random.default_rng(0)
    floor = NoiseFloor(n_bins=257, hop_s=0.01)
    floor.update(rng.exponential(1e-4, size=(300, 257)).astype(np.float32), np.ones(300, bool))
    before = floor.floor.copy()
    during = floor.update(np.zeros((500, 257), dtype=np.float32), np.zeros(500, bool))
    np.testing.assert_array_equal(floor.floor, before)
    np.testing.assert_array_equal(during[-1], before)


def test_many_short_gaps_keep_the_frames_on_the_stream_clock() -> None:
    """Audio lost in pieces that are no whole number of 10 ms frames (a USB array dropping 15 ms at a
    time) must still advance the frames by the time lost: cut to whole frames one by one, a minute
    of such gaps would put every later word, turn and LED a third of it early."""
    config = parse_config({})
    front = SpatialFrontEnd(config, geometry(config))
    frames_out = [
        f
        for _ in range(200)
        for f in front.process(AudioDropped(0.0, 0.015, "overflow"))
        if isinstance(f, SpatialFrames)
    ]
    assert sum(f.n_frames for f in frames_out) == 300  # 3 s of 10 ms frames
    block = AudioBlock(3.0, RATE_HZ, np.zeros((RATE_HZ // 10, 4), dtype=np.float32))
    after = [e for e in front.process(block) if isinstance(e, SpatialFrames)]
    assert after[0].start_s == pytest.approx(3.0, abs=1e-9)


def test_audio_before_a_gap_does_not_sound_in_the_frames_after_it() -> None:
    """A frame's 32 ms window reaches back before the gap: what it holds there never arrived, so it
    is silence, not the last words before the gap heard again after it."""
    config = parse_config({})
    front = SpatialFrontEnd(config, geometry(config))
    rng = np.random.default_rng(0)
    loud = AudioBlock(0.0, RATE_HZ, (0.3 * rng.standard_normal((RATE_HZ, 4))).astype(np.float32))
    list(front.process(loud))
    list(front.process(AudioDropped(1.0, 0.5, "device_lost")))
    quiet = AudioBlock(1.5, RATE_HZ, np.zeros((RATE_HZ // 2, 4), dtype=np.float32))
    after = [e for e in front.process(quiet) if isinstance(e, SpatialFrames)]
    assert after and not np.any(after[0].power)
    assert np.all(after[0].rep_snr_db < -50.0) and np.all(after[0].customer_snr_db < -50.0)


@pytest.mark.parametrize("gain_db", [-20.0, 20.0])
def test_channel_map_mode_survives_mics_at_different_gains(gain_db: float) -> None:
    # The quieter channel's party was never louder than the other channel, so every one of its words
    # went to the louder party. The two parties' speech tells the gains apart once both have spoken
    # (tests/test_channel_gain.py): before the customer's first words the rep's cannot be placed, so the
    # score starts 1.5 s into them (half a second of speech to learn from, half to move 20 dB, the hangover).
    samples, truth = synth.lapel_dialogue(customer_gain_db=gain_db)
    config = parse_config({"array": {"preset": "respeaker-2mic"}, "parties": {"rep_channel": 0, "customer_channel": 1}})
    rep, cust = decided(config, spatial(samples, config, [800]))
    start = round(100 * (min(float(s["start"]) for s in truth if s["party"] == "customer") + 1.5))  # type: ignore[arg-type]
    assert f1(frames(truth, "rep", rep.size)[start:], rep[start:]) > 0.8
    assert f1(frames(truth, "customer", cust.size)[start:], cust[start:]) > 0.8


def evidence(levels_db: list[float]) -> SpatialFrames:
    n = len(levels_db)
    snr = np.asarray(levels_db, dtype=np.float32)
    return SpatialFrames(
        start_s=0.0, hop_s=0.01, sample_rate_hz=RATE_HZ, fft_size=512,
        power=np.zeros((n, 257), np.float32), rep_weight=np.full((n, 257), 0.5, np.float32),
        customer_weight=np.full((n, 257), 0.5, np.float32), noise_power=np.zeros(257, np.float32),
        rep_snr_db=snr, customer_snr_db=np.full(n, -60.0, np.float32), doa_deg=np.full(n, np.nan, np.float32),
    )  # fmt: skip


def test_without_a_hangover_a_party_stops_when_its_evidence_does() -> None:
    config = parse_config({"activity": {"hangover_s": 0.0}})
    rep, _ = decided(config, evidence([20.0] * 50 + [-60.0] * 50))
    assert rep[20:45].all()
    assert not rep[60:].any()


@pytest.mark.parametrize("cut_s", [3.0, 5.0], ids=["rep-just-spoke", "customer-speaking"])
def test_a_second_stream_starts_afresh(dialogue: np.ndarray, cut_s: float) -> None:
    # as the turn stage does: neither the floors, the votes, the decider's hold nor the clock carry over
    # (for either party: at 5.0 s the first stream ends in the middle of the customer's answer)
    config = parse_config({})
    front, decider = SpatialFrontEnd(config, geometry(config)), ActivityDecider(config)
    cut = round(cut_s * RATE_HZ)
    first, second = dialogue[:cut], dialogue[cut:]
    decided(config, spatial(first, config, [800], front=front), decider)
    for stage in (front, decider):
        list(stage.process(EndOfStream(cut_s)))
    again = spatial(second, config, [800], front=front)
    fresh = spatial(second, config, [800])
    assert again.start_s == 0.0
    np.testing.assert_array_equal(again.rep_weight, fresh.rep_weight)
    np.testing.assert_array_equal(again.rep_snr_db, fresh.rep_snr_db)
    np.testing.assert_array_equal(again.customer_weight, fresh.customer_weight)
    np.testing.assert_array_equal(again.customer_snr_db, fresh.customer_snr_db)
    np.testing.assert_array_equal(again.power, fresh.power)
    np.testing.assert_array_equal(again.noise_power, fresh.noise_power)
    np.testing.assert_array_equal(again.doa_deg, fresh.doa_deg)
    rep_again, customer_again = decided(config, again, decider)
    rep_fresh, customer_fresh = decided(config, fresh)
    np.testing.assert_array_equal(rep_again, rep_fresh)
    np.testing.assert_array_equal(customer_again, customer_fresh)
    assert customer_fresh.any()  # the customer answers in the second stream: a real comparison


def test_one_channel_in_digital_silence_does_not_set_the_channel_gains() -> None:
    # A lapel receiver that is muted, or comes on a moment later than the other, gives exact zeros on its
    # channel alone. Its band floor sank to the 1e-12 guard and, rising 0.75 dB/s, read as the other mic
    # recording everything ~90 dB louder: the rep's own speech went to the customer for minutes.
    samples, truth = synth.lapel_dialogue()
    config = parse_config({"array": {"preset": "respeaker-2mic"}, "parties": {"rep_channel": 0, "customer_channel": 1}})
    background = np.std(samples[: RATE_HZ // 10], axis=0)
    lead = (np.random.default_rng(3).standard_normal((RATE_HZ // 5, 2)) * background * [1.0, 0.0]).astype(np.float32)
    rep, cust = decided(config, spatial(np.concatenate([lead, samples]), config, [800]))
    skip = lead.shape[0] // 160
    rep, cust = rep[skip:], cust[skip:]
    assert f1(frames(truth, "rep", rep.size), rep) > 0.8
    assert f1(frames(truth, "customer", cust.size), cust) > 0.8


def test_the_heuristic_decision_does_not_depend_on_where_its_frames_are_cut(dialogue: np.ndarray) -> None:
    # Its smoothing was a running sum (cumsum, then differences) whose rounding carried everything
    # earlier in the piece, so the same frame's level and probability changed with the blocking.
    config = parse_config({})
    whole = spatial(dialogue, config, [dialogue.shape[0]])
    outputs: list[list[ActivityFrames]] = []
    for cuts in ([0, whole.n_frames], [0, 1, 7, 100, 333, whole.n_frames]):
        decider = ActivityDecider(config)
        events = [e for a, b in itertools.pairwise(cuts) for e in decider.process(slice_frames(whole, a, b))]
        outputs.append([e for e in events if isinstance(e, ActivityFrames)])
    (one,), pieces = outputs
    for name in ("rep_prob", "customer_prob", "rep_active", "customer_active"):
        np.testing.assert_array_equal(np.concatenate([getattr(p, name) for p in pieces]), getattr(one, name))
    assert one.rep_active.any() and one.customer_active.any()


def test_the_decider_forgets_its_onset_evidence_between_streams() -> None:
    # A stream that ends mid-speech leaves the last frames' evidence bits set; the next stream's first
    # frames must need their own onset frames, as in a fresh decider.
    config = parse_config({"activity": {"hangover_s": 0.0}})
    speech = evidence([20.0] * 30)
    used = ActivityDecider(config)
    decided(config, speech, used)
    list(used.process(EndOfStream(0.3)))
    starts = evidence([20.0] * 5 + [-60.0] * 10)  # smoothed from silence: three frames of evidence, short of an onset
    np.testing.assert_array_equal(decided(config, starts, used)[0], decided(config, starts)[0])


def onset_of(frames_over: int, on_db: float) -> list[float]:
    """Levels whose 5-frame smoothed value is over ``on_db`` for exactly ``frames_over`` frames.

    Just over the switch-on level, between silence: a window that holds one silent frame falls far short.
    """
    return [-60.0] * 10 + [on_db + 1.0] * (frames_over + SMOOTH_FRAMES - 1) + [-60.0] * 30


@pytest.mark.parametrize(("frames_over", "speaks"), [(3, False), (4, True)], ids=["30ms-click", "40ms-onset"])
def test_a_party_needs_four_frames_of_evidence_to_come_on(frames_over: int, speaks: bool) -> None:
    # A click or a door knock lifts the level for a moment; four 10 ms frames of evidence (within the
    # last eight) are what tell the start of a word from it, so three frames must not make a speaker.
    config = parse_config({"activity": {"hangover_s": 0.0}})
    rep, _ = decided(config, evidence(onset_of(frames_over, config.activity.speech_snr_db)))
    assert rep.any() == speaks


def test_a_speaker_stays_on_a_few_db_below_the_level_that_switched_them_on() -> None:
    # A voice that drops a little mid-sentence (turning the head, trailing off) is still the same speaker:
    # once on, a party stays on down to HYSTERESIS_DB (3 dB) under the switch-on level, even with no hangover.
    config = parse_config({"activity": {"hangover_s": 0.0}})
    on = config.activity.speech_snr_db
    rep, _ = decided(config, evidence([on + 2.0] * 50 + [on - 1.5] * 50 + [on - 4.0] * 50))
    assert rep[20:100].all()  # on at +2 dB, and kept at -1.5 dB
    assert not rep[110:].any()  # below the stay-on level: off
    # the same -1.5 dB from silence is not enough to come on: it is the band between the two levels
    assert not decided(config, evidence([on - 1.5] * 100))[0].any()
