"""Hand-written timelines for shared/metrics.md's premature starts, pauses, response gaps and long silences."""

from __future__ import annotations

import numpy as np
import pytest

from listener.analytics.replay import activity, frame_blocks
from listener.analytics.stage import ConversationAnalytics
from listener.config import Config
from listener.events import (
    AudioDropped,
    Backchannel,
    EndOfStream,
    Event,
    LongSilence,
    Party,
    Pause,
    PrematureStart,
    ResponseGap,
    SessionStarted,
    TurnPredictions,
)
from tests.analytics_timelines import CUST, REP, of, run, with_analytics

# --- premature starts ------------------------------------------------------------


def test_premature_start_by_the_ground_truth_rule() -> None:
    base = [("customer", 0.0, 5.0), ("rep", 5.5, 7.5)]
    resumes = run([*base, ("customer", 6.5, 9.0)], 12.0)
    (p,) = of(resumes, PrematureStart)
    assert (p.by, p.onset_s, p.p_hold) == (REP, 5.5, 1.0)
    assert p.decided_s <= 5.5 + 1.0 + 0.011 + 0.1
    assert not of(run([*base, ("customer", 6.51, 9.0)], 12.0), PrematureStart)  # resumed too late
    assert not of(run(base, 12.0), PrematureStart)


def test_premature_start_by_the_model() -> None:
    segments = [("customer", 0.0, 5.0), ("rep", 5.5, 7.5)]
    hold, backchannel = np.full(1200, 0.3, np.float32), np.full(1200, 0.5, np.float32)
    hold[550] = 0.8
    (p,) = of(run(segments, 12.0, model=(hold, backchannel)), PrematureStart)
    assert p.p_hold == pytest.approx(0.8)
    hold[550] = 0.5  # "hold probability >= 0.5 at the rep's onset"
    (p,) = of(run(segments, 12.0, model=(hold, backchannel)), PrematureStart)
    assert p.p_hold == pytest.approx(0.5)
    hold[550] = 0.49
    assert not of(run(segments, 12.0, model=(hold, backchannel)), PrematureStart)


def test_a_rep_resuming_its_own_floor_is_no_premature_start() -> None:
    """Premature needs the customer holding the floor: the rep holds it, pauses 0.5 s and talks on, and the
    customer comes in 0.5 s after the rep's restart."""
    c = run([("customer", 0.0, 2.0), ("rep", 2.5, 5.0), ("rep", 5.5, 8.0), ("customer", 6.0, 12.0)], 16.0)
    assert of(c, PrematureStart) == []


def test_a_customer_blip_that_proves_no_speech_does_not_keep_a_premature_start_from_being_one() -> None:
    """The customer's 0.05 s blip (under min_speech_s) runs over the rep's onset in the customer's pause: not
    known as speech until it is dropped, it is silence, and the customer's return 0.73 s later makes it premature."""
    c = run([("customer", 0.0, 5.0), ("customer", 5.45, 5.5), ("rep", 5.47, 7.5), ("customer", 6.2, 9.0)], 12.0)
    assert [(p.by, p.onset_s) for p in of(c, PrematureStart)] == [(REP, 5.47)]


def test_an_interruption_is_no_premature_start() -> None:
    """The rep starts over the customer's speech (not in a pause), and the customer talks on: an interruption."""
    c = run([("customer", 0.0, 8.0), ("rep", 3.0, 5.0)], 12.0)
    assert of(c, PrematureStart) == []


def test_a_sound_of_exactly_backchannel_length_in_the_customers_pause_is_no_premature_start() -> None:
    """A premature start "speaks longer than a backchannel": the rep's 1.0 s in the customer's pause, the
    customer resuming during it, is a backchannel and not a premature start."""
    c = run([("customer", 0.0, 4.0), ("rep", 4.5, 5.5), ("customer", 5.0, 9.0)], 12.0)
    assert [(b.by, b.onset_s) for b in of(c, Backchannel)] == [(REP, 4.5)]
    assert of(c, PrematureStart) == []


def test_a_rep_start_the_instant_the_customer_stops_is_premature_only_if_the_customer_resumes() -> None:
    """The customer's speech before the rep's onset is not a resumption: starting in the very frame after the
    customer's last word, with the customer silent after, is a turn, not a premature start."""
    assert of(run([("customer", 0.0, 5.0), ("rep", 5.0, 7.5)], 12.0), PrematureStart) == []


# --- pauses, gaps, silences ----------------------------------------------------------


def test_pauses_carry_the_models_shift_probability_or_the_prior() -> None:
    segments = [("customer", 0.0, 3.0), ("customer", 3.25, 5.0), ("customer", 5.24, 7.0)]
    pause, last = of(run(segments, 10.0), Pause)  # 0.25 s is a pause, 0.24 s is not
    assert (pause.by, pause.onset_s, pause.decided_s, pause.p_shift) == (CUST, 3.0, 3.25, 0.5)
    assert last.onset_s == 7.0
    hold = np.full(1000, 0.9, np.float32)
    hold[320] = 0.25  # 0.2 s into the silence
    pause, _ = of(run(segments, 10.0, model=(hold, np.zeros(1000, np.float32))), Pause)
    assert pause.p_shift == pytest.approx(0.75)


def test_a_pause_is_by_the_party_who_spoke_last_not_the_floor_holder() -> None:
    # the rep's "mm" runs past the customer's last word: the silence follows the rep's sound
    first, *_ = of(run([("customer", 0.0, 4.0), ("rep", 3.8, 4.3), ("customer", 6.0, 12.0)], 14.0), Pause)
    assert (first.by, first.onset_s) == (REP, pytest.approx(4.3))


def test_response_gaps_percentiles_and_patience() -> None:
    segments, t = [], 0.0
    for gap in (-0.5, 0.2, 0.6, 1.0, 1.5):
        segments += [("customer", t, t + 3.0), ("rep", t + 3.0 + gap, t + 6.0)]
        t += 8.0
    c = run(segments, t + 2.0)
    assert [g.gap_s for g in of(c, ResponseGap)] == pytest.approx([-0.5, 0.2, 0.6, 1.0, 1.5])
    (s,) = c.sessions
    assert s.response_gap_median_s == pytest.approx(0.6)
    assert s.response_gap_p10_s == pytest.approx(-0.5 + 0.4 * 0.7)
    assert s.response_gap_p90_s == pytest.approx(1.0 + 0.6 * 0.5)
    assert s.patient_gap_fraction == pytest.approx(0.6)
    assert (s.patient_gaps, s.response_gaps) == (3, 5)  # 0.6, 1.0 and 1.5 s: counts a day's share can pool


def test_a_rep_taking_a_floor_nobody_held_is_no_response_gap() -> None:
    # the customer's 0.5 s never took the floor, so the rep's start is no floor change from the customer
    c = run([("customer", 0.0, 0.5), ("rep", 1.0, 5.0), ("customer", 5.5, 25.0)], 28.0)
    assert of(c, ResponseGap) == []
    assert c.sessions[0].response_gaps == 0


def test_response_gap_runs_to_the_end_of_the_customers_last_speech_before_the_change() -> None:
    # the customer pauses 0.3 s and talks on over the rep's start: the rep came in 1.5 s before the end
    c = run([("customer", 0.0, 3.5), ("customer", 3.8, 4.5), ("rep", 3.0, 8.0)], 12.0)
    assert [g.gap_s for g in of(c, ResponseGap)] == pytest.approx([-1.5])


def test_a_customers_mm_after_the_rep_began_in_a_silence_does_not_end_the_customers_turn() -> None:
    # the rep waited 1.0 s; the customer's "mm" at 6.6 s listens to the rep: the gap is 1.0 s, patient
    c = run([("customer", 0.0, 5.0), ("rep", 6.0, 12.0), ("customer", 6.6, 6.8)], 15.0)
    assert [(g.gap_s, g.patient) for g in of(c, ResponseGap)] == [(pytest.approx(1.0), True)]
    assert [(b.by, b.onset_s) for b in of(c, Backchannel)] == [(CUST, 6.6)]
    # the customer talking on over the rep's start for longer than a backchannel is still its turn
    c = run([("customer", 0.0, 5.0), ("rep", 5.5, 12.0), ("customer", 5.6, 8.0)], 15.0)
    assert [g.gap_s for g in of(c, ResponseGap)] == [pytest.approx(-2.5)]


def test_a_customer_sound_of_exactly_backchannel_length_after_the_reps_start_does_not_end_the_turn() -> None:
    """A backchannel is <= 1.0 s. The rep began in the customer's silence: the customer's 1.0 s sound over
    the rep's start is listening to the rep, so the gap runs from the end of the customer's turn. 0.01 s
    longer it is no backchannel but the customer's last speech, and the gap runs to its end (negative)."""
    c = run([("customer", 0.0, 5.0), ("rep", 6.0, 12.0), ("customer", 6.5, 7.5)], 15.0)
    assert [(g.gap_s, g.patient) for g in of(c, ResponseGap)] == [(pytest.approx(1.0), True)]
    assert [(b.by, b.onset_s, b.duration_s) for b in of(c, Backchannel)] == [(CUST, 6.5, pytest.approx(1.0))]
    longer = run([("customer", 0.0, 5.0), ("rep", 6.0, 12.0), ("customer", 6.5, 7.51)], 15.0)
    assert [(g.gap_s, g.patient) for g in of(longer, ResponseGap)] == [(pytest.approx(-1.51), False)]
    assert not of(longer, Backchannel)


def test_long_silence_from_three_seconds_inside_a_session() -> None:
    c = run([("customer", 0.0, 10.0), ("rep", 13.0, 20.0), ("customer", 22.99, 30.0)], 34.0)
    (ls,) = of(c, LongSilence)
    assert (ls.onset_s, ls.duration_s, ls.decided_s) == (10.0, 3.0, pytest.approx(13.1))
    assert c.sessions[0].long_silences == 1  # 20.0 -> 22.99 is 2.99 s: not long


def test_a_silence_before_a_session_starts_or_after_it_ends_is_no_long_silence() -> None:
    """metrics.md: "nobody speaks for >= 3.0 s inside a session". The rep's 5 s wait for the first customer
    is before the session (which starts with the customer's speech), and the 25 s after the session's last
    words are outside it."""
    before = run([("rep", 0.0, 5.0), ("customer", 10.0, 30.0), ("rep", 30.5, 40.0)], 80.0)
    assert [e.onset_s for e in of(before, SessionStarted)] == [10.0]
    assert of(before, LongSilence) == []
    after = run([("customer", 0.0, 20.0), ("rep", 20.5, 30.0), ("rep", 55.0, 60.0), ("customer", 70.0, 90.0)], 130.0)
    assert [e.onset_s for e in of(after, SessionStarted)] == [0.0, 70.0]
    assert of(after, LongSilence) == []


@pytest.mark.parametrize(("rep_s", "long"), [(49.9, [(20.0, 29.9)]), (49.91, [])])
def test_a_rep_start_known_as_speech_just_as_the_session_gap_runs_out_ends_a_long_silence(
    rep_s: float, long: list[tuple[float, float]]
) -> None:
    """The rep starts 29.9 s after the customer's last word: known as speech (0.1 s) exactly when the 30 s gap
    runs out, so the session takes in its first 0.1 s and the silence before it is a long one inside the
    session. 0.01 s later the session has ended at the customer's last word, and the silence with it."""
    c = run([("customer", 0.0, 20.0), ("rep", rep_s, 60.0)], 100.0)
    assert [(x.onset_s, x.duration_s) for x in of(c, LongSilence)] == [(a, pytest.approx(b)) for a, b in long]
    assert [s.long_silences for s in c.sessions] == [len(long)]


def with_model(
    segments: list[tuple[str, float, float]],
    seconds: float,
    p_hold: float,
    bounds: list[int] | None = None,
    labelled_from: int = 0,
    drop: tuple[float, float] | None = None,
) -> list[Event]:
    """The analytics fed block by block as a turn stage feeds them: each block's TurnPredictions (``p_hold``
    throughout, from frame ``labelled_from``) before its frames; ``drop`` announced after its frames."""
    hop_s = 0.01
    stage, out = ConversationAnalytics(Config()), list[Event]()
    for block in frame_blocks(activity(segments, seconds), hop_s, bounds):
        lo = max(round(block.start_s / hop_s), labelled_from)
        p = np.full(round(block.end_s / hop_s) - lo, p_hold)
        out += stage.process(TurnPredictions(lo * hop_s, hop_s, p, np.full_like(p, 0.5)))
        out += stage.process(block)
        if drop is not None and abs(block.end_s - drop[1]) < 1e-9:
            out += stage.process(AudioDropped(drop[0], drop[1] - drop[0], "paused"))
    return out + list(stage.process(EndOfStream(seconds)))


def test_a_pause_decided_long_after_its_silence_began_keeps_the_models_read() -> None:
    """The customer's pause, 20 s of it unheard (the privacy button): decided at the 22 s mark, it read the model
    0.2 s into the silence, by then pruned (10 s kept), and reported "no model" (p_shift 0.5) while the model ran
    (0.2); delivered as one block, it read it. Blocks as the live pipeline delivers them, the drop after its frames."""
    bounds = [*range(5, 222, 5), 222, 2200, *range(2205, 2600, 5)]
    # the model: the customer goes on (p_shift 0.2)
    out = with_model([("customer", 0.5, 2.0), ("rep", 23.0, 25.0)], 26.0, 0.8, bounds, drop=(2.22, 22.0))
    pauses = [(e.by, e.onset_s, round(e.p_shift, 6)) for e in out if isinstance(e, Pause)]
    assert pauses[0] == (Party.CUSTOMER, 2.0, 0.2), pauses


def test_audio_unheard_outside_a_session_keeps_a_pause_there_from_being_claimed_too() -> None:
    """The rep alone (no session yet), the privacy button pressed for the 2 s between their words: nobody heard
    a pause there. Outside a session unheard stretches are let go only once a minute old, not as they come."""
    out = with_model([("rep", 0.0, 3.0), ("rep", 5.1, 8.0)], 10.0, 0.9, [300, 500], drop=(3.0, 5.0))
    assert not [e for e in out if isinstance(e, SessionStarted)]
    assert [(e.by, e.onset_s) for e in out if isinstance(e, Pause)] == [(Party.REP, 8.0)]
    heard = with_model([("rep", 0.0, 3.0), ("rep", 5.1, 8.0)], 10.0, 0.9, [300, 500])
    assert [e.onset_s for e in heard if isinstance(e, Pause)] == [3.0, 8.0]


@pytest.mark.parametrize("labelled_from", [0, 2, 60])
def test_frames_before_the_first_prediction_are_analysed(labelled_from: int) -> None:
    """The rules started where the first TurnPredictions did: predictions for only the tail of the first block
    (from 0.6 s) dropped every frame before, the customer's first 0.1 s with them (the session began at 0.6 s)."""
    out = with_model([("customer", 0.5, 3.0), ("rep", 3.2, 6.0)], 8.0, 0.3, labelled_from=labelled_from)
    starts = [e.onset_s for e in out if isinstance(e, SessionStarted)]
    assert starts == [0.5], starts


def test_a_gap_under_the_bridge_is_no_mutual_silence_however_short_a_pause_may_be() -> None:
    """metrics.md: gaps shorter than 0.2 s inside one party's speech are bridged, so they are speech, not a
    silence. With pauses from 0.1 s, the customer's 0.15 s gap is no pause; a 0.2 s gap is one, decided when
    it is known not to be bridged (0.2 s after their last word), dated at its start."""
    config = with_analytics(pause_min_s=0.1)
    bridged = run([("customer", 0.0, 3.0), ("customer", 3.15, 5.0)], 6.0, config)
    assert [(p.by, p.onset_s) for p in of(bridged, Pause)] == [(CUST, 5.0)]
    gap = run([("customer", 0.0, 3.0), ("customer", 3.2, 5.0)], 6.0, config)
    assert [(p.by, p.onset_s, p.decided_s) for p in of(gap, Pause)][:1] == [(CUST, 3.0, 3.2)]


def test_a_pause_waits_only_on_sounds_begun_in_its_first_quarter_second() -> None:
    """The rep's 0.02 s blip at 3.20 s might still become speech until 3.42 s (the bridge after it), so the
    customer's silence from 3.0 s waits for it; the customer's own blip at 3.25 s began once the 0.25 s of
    silence had passed, so it cannot unmake the pause: decided at 3.42 s, not when that blip is over (3.48 s)."""
    segments = [("customer", 0.0, 3.0), ("rep", 3.2, 3.22), ("customer", 3.25, 3.28), ("customer", 5.0, 8.0)]
    first, *_ = of(run(segments, 10.0), Pause)
    assert (first.by, first.onset_s, first.decided_s) == (CUST, 3.0, 3.42)


def test_a_long_silence_ends_with_the_first_speech_after_it_when_two_are_known_in_one_frame() -> None:
    """The customer's stretch from 13.0 s (0.05 s, a 0.1 s gap, then on) and the rep's from 13.06 s are both
    known as speech at 13.16 s: nobody spoke 10.0-13.0 s, so the long silence lasts 3.0 s, not 3.06 s."""
    segments = [("customer", 0.0, 10.0), ("customer", 13.0, 13.05), ("customer", 13.15, 15.0), ("rep", 13.06, 16.0)]
    c = run([*segments, ("customer", 16.5, 20.0)], 25.0)
    assert [(x.onset_s, x.decided_s, x.duration_s) for x in of(c, LongSilence)] == [(10.0, 13.16, 3.0)]
