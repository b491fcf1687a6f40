"""Which of two clusters `listener calibrate` takes for the rep when it places one talker alone.

Two clusters end up as one talker when the second speaks in no turns of its own (an echo, a loudspeaker,
a customer heard only over the rep). The rep is then the cluster matched to the configured rep direction,
not the strongest one, which can be the echo's or the customer's.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from listener.audio.wav import WavSource
from listener.cli import main
from listener.config import geometry, load_config
from listener.service.calibrate import Votes, collect_votes, estimate
from listener.service.calibrate.clusters import (
    MIN_OWN_TURNS,
    OWN_VOTES,
    SECOND_TALKER_SHARE,
    find_clusters,
    own_turns,
    turn_votes,
)
from listener.service.calibrate.space import Space
from tests import synth
from tests.calibrate_cases import CONFIG_TEXT, REP_DEG, REP_ONLY, angle_error, printed

HOP_S = 0.01

# --- a stronger cluster with no turns of its own ---------------------------------------

SPEAKER_DEG = 250.0


def test_a_louder_relay_of_the_reps_words_is_not_taken_for_the_rep(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A loudspeaker at 250 deg relays the rep's words 50 ms later and 3 dB louder: it holds the most votes,
    but only among the rep's own words, so there is one talker, and that is the rep near the configured 0 deg."""
    relay = [replace(u, party="speaker", start_s=u.start_s + 0.05, azimuth_deg=SPEAKER_DEG, gain=1.4) for u in REP_ONLY]
    samples, _ = synth.render([*REP_ONLY, *relay], 12.0, seed=21)
    wav = synth.write_wav(tmp_path / "relay.wav", samples)
    path = tmp_path / "listener.toml"
    path.write_text(CONFIG_TEXT)  # rep 0, customer 180
    config = load_config(path)

    # the case itself: the strongest cluster is the loudspeaker's, the rep's is second with no turns of its own
    with WavSource(wav, geometry(config), block_ms=100) as source:
        votes = collect_votes(config, source.events())
    space = Space.of(config)
    x = space.coordinate(votes.doa_deg)
    clusters = find_clusters(space, x, votes.weight, votes.time_s, votes.hop_s)
    assert len(clusters) == 2
    strongest, second = clusters
    assert angle_error(strongest.centre_deg, SPEAKER_DEG) <= 10.0 and angle_error(second.centre_deg, REP_DEG) <= 10.0
    assert strongest.weight > second.weight
    assert own_turns(space, x, votes.weight, votes.time_s, clusters[1]) < MIN_OWN_TURNS

    assert main(["calibrate", "--config", str(path), "--input", str(wav)]) == 0
    out = capsys.readouterr().out
    found = printed(out)
    assert angle_error(found["rep"], REP_DEG) <= 10.0, out  # not the loudspeaker at 250 deg
    assert "(opposite the rep)" in out, out
    assert "beside the rep" not in out, out  # an area array refuses such a customer itself (test_calibrate_doubt)
    assert angle_error(found["customer"], found["rep"] + 180.0) < 0.05, out
    assert found["confidence"] < 0.5, out  # the rep's share of the votes, a minority: not written without --force


def test_a_stronger_cluster_among_the_reps_words_is_not_the_rep() -> None:
    """Votes from 250 deg, twice the rep's, all within 20 ms of one of the rep's (40 deg): not a talker of its
    own, so the rep alone is placed, and the confidence is the rep's third of the votes, not the strongest's."""
    frame = np.arange(900)
    doa = np.where(frame % 3 == 0, 40.0, 250.0)
    result = estimate(Votes(doa, np.ones(doa.size), HOP_S, frame=frame), load_config(None))  # rep 0, customer 180
    assert (result.rep_azimuth_deg, result.customer_azimuth_deg) == (40.0, 220.0)
    assert result.customer_from == "opposite the rep"
    assert result.rep_share == pytest.approx(1 / 3)
    assert result.confidence == 0.33  # 9 s of speech: full evidence, times the rep's share


# --- a line pair whose measured angles the config would refuse ----------------------------

LINE_TEXT = "[array]\npreset = 'respeaker-2mic'\n[parties]\nrep_azimuth_deg = 0.0\ncustomer_azimuth_deg = 180.0\n"
LINE_REP_DEG, LINE_CUSTOMER_DEG = 1.4, 60.04


def test_a_line_pair_the_config_would_refuse_as_measured_is_stored_at_the_lines_ends(tmp_path: Path) -> None:
    """2-mic HAT: the rep 1.4 deg off the mic line, then a customer who talks longer at 60.04 deg. Their cosines
    to the line (0.9997, 0.4994) are 0.5003 apart, so calibrate finds two talkers; but 60.04 is printed and
    stored as 60.0 (cosine 0.5), and 0.4997 apart the config's mirror check would refuse the pair as measured.
    A line tells only which end each is nearer: the ends are stored, which the config accepts, the rep's the
    0 deg end; and since the talker matched to the rep said less, that needs --force."""
    path = tmp_path / "listener.toml"
    path.write_text(LINE_TEXT)
    config = load_config(path)
    doa = np.concatenate([np.full(300, LINE_REP_DEG), np.full(600, LINE_CUSTOMER_DEG)])
    frame = np.concatenate([np.arange(300), np.arange(400, 1000)])  # a turn each, 1 s apart
    votes = Votes(doa, np.ones(doa.size), HOP_S, frame=frame)

    # the case itself: two separable clusters, each in turns of its own, whose rounded azimuths are refused
    space = Space.of(config)
    x = space.coordinate(votes.doa_deg)
    clusters = find_clusters(space, x, votes.weight, votes.time_s, votes.hop_s)
    assert [round(c.centre_deg, 2) for c in clusters] == [LINE_CUSTOMER_DEG, LINE_REP_DEG]
    assert space.separable(clusters[0].centre_deg, clusters[1].centre_deg)
    assert own_turns(space, x, votes.weight, votes.time_s, clusters[1]) == 1.0
    rep_images, customer_images = (LINE_REP_DEG, 360.0 - LINE_REP_DEG), (60.0, 300.0)
    assert not any(space.acceptable(rep, customer) for rep in rep_images for customer in customer_images)

    result = estimate(votes, config)
    assert (result.rep_azimuth_deg, result.customer_azimuth_deg) == (0.0, 180.0)
    assert result.customer_from == "second talker"
    assert result.rep_heard_deg == LINE_REP_DEG
    assert result.rep_share == pytest.approx(1 / 3)
    assert space.acceptable(result.rep_azimuth_deg, result.customer_azimuth_deg)
    assert "talked most" in result.doubt


def test_the_reps_smear_just_outside_their_cluster_does_not_hide_the_customer() -> None:
    """Another talker's peak is looked for at least a cluster's width from the first's (calibrate.clusters):
    the rep's voice smeared 40 deg aside by the room is no candidate, though it outvotes the customer's peak, and
    the customer who answered across the counter is found."""
    rep = np.arange(100, 1200)
    smear = np.arange(105, 1200, 4)  # among the rep's words, 300 votes: more than the customer's 250
    customer = np.arange(1400, 1650)
    frame = np.r_[rep, smear, customer]
    doa = np.r_[np.zeros(rep.size), np.full(smear.size, 40.0), np.full(customer.size, 180.0)]
    order = np.argsort(frame, kind="stable")
    votes, space = Votes(doa[order], np.ones(frame.size), HOP_S, frame=frame[order]), Space.of(load_config(None))
    x = space.coordinate(votes.doa_deg)
    clusters = find_clusters(space, x, votes.weight, votes.time_s, votes.hop_s)
    assert [round(c.centre_deg) for c in clusters] == [0, 180]


# --- a far quieter second direction ------------------------------------------------------

NOISE_DEG = 100.0


def _rep_and_a_noise(sprinkled: bool, alone_s: float = 0.7, from_s: float = 6.1) -> Votes:
    """The rep at 0 deg talks 1-6 s and 7-13 s; a noise at 100 deg sounds alone for ``alone_s`` from ``from_s``
    (in the rep's pause), and (``sprinkled``) casts a vote every 70 ms among the rep's later words: 13 % of the
    rep's votes in all."""
    rep = np.r_[np.arange(100, 600), np.arange(700, 1300)]
    alone = np.arange(round(from_s / HOP_S), round((from_s + alone_s) / HOP_S))
    among = np.arange(800, 1300, 7) if sprinkled else np.arange(0)
    frame = np.r_[rep, alone, among]
    doa = np.r_[np.zeros(rep.size), np.full(alone.size + among.size, NOISE_DEG)]
    order = np.argsort(frame, kind="stable")
    return Votes(doa[order], np.ones(frame.size), HOP_S, frame=frame[order])


def test_a_quiet_direction_is_the_customer_only_if_half_of_it_held_the_floor() -> None:
    """Under 15 % of the rep's votes, a direction is placed only when half its weight (and 0.6 s of votes) is in
    turns of its own: 0.7 s alone in a pause passes; the same with as many votes again among the rep's words is
    a noise, or an echo, and the customer goes opposite the rep."""
    config = load_config(None)
    alone = estimate(_rep_and_a_noise(sprinkled=False), config)
    assert (alone.customer_from, alone.customer_azimuth_deg) == ("second talker", NOISE_DEG)
    result = estimate(_rep_and_a_noise(sprinkled=True), config)
    assert (result.customer_from, result.rep_azimuth_deg, result.customer_azimuth_deg) == ("opposite the rep", 0, 180)


@pytest.mark.parametrize(
    ("alone_s", "from_s"),
    [(0.4, 6.1), (0.7, 0.2)],
    ids=["a 0.4 s shout in a pause", "0.7 s before the rep's first word"],
)
def test_a_quiet_direction_that_held_the_floor_too_briefly_or_too_early_is_not_the_customer(
    alone_s: float, from_s: float
) -> None:
    """QUIET_FLOOR_S: 0.4 s alone, all of it in a turn of its own, is too short to be an answer; and a customer
    answers the rep, so 0.7 s alone before the rep's first word is no turn of a customer's."""
    result = estimate(_rep_and_a_noise(sprinkled=False, alone_s=alone_s, from_s=from_s), load_config(None))
    assert (result.customer_from, result.rep_azimuth_deg, result.customer_azimuth_deg) == ("opposite the rep", 0, 180)
    assert result.note == ""  # no second voice at all: under 15 % of the rep's, and it held no floor after the rep


def _rep_and_clatter(burst_frames: int) -> Votes:
    """The rep at 0 deg talks 1-6 s and 7-13 s; then clatters at 100 deg, ``burst_frames`` votes back to back each,
    0.7 s apart (further than OWN_TURN_S either side, so no two count together), 200 votes or more in all: over
    15 % of the rep's, so only their turns of their own tell a talker from a noise."""
    rep = np.r_[np.arange(100, 600), np.arange(700, 1300)]
    clatter = np.concatenate(
        [np.arange(start, start + burst_frames) for start in range(1400, 1400 + 70 * math.ceil(200 / burst_frames), 70)]
    )
    frame = np.r_[rep, clatter]
    doa = np.r_[np.zeros(rep.size), np.full(clatter.size, NOISE_DEG)]
    return Votes(doa, np.ones(frame.size), HOP_S, frame=frame)


@pytest.mark.parametrize(
    ("burst_frames", "placed"),
    [(15, False), (OWN_VOTES - 1, False), (OWN_VOTES, True)],
    ids=["sink clatter, 15 votes", "one vote short", "a voice going on"],
)
def test_a_direction_is_a_talker_only_with_own_votes_within_a_turn(burst_frames: int, placed: bool) -> None:
    """OWN_VOTES: a clink casts a few votes in a burst, a voice keeps voting. The bench's sink clatter between the
    rep's sentences cast 15 (calibrate.clusters' comment); with one vote fewer per burst than OWN_VOTES the same
    direction, alone each time, is no talker's either, and the customer goes opposite the rep."""
    votes, config = _rep_and_clatter(burst_frames), load_config(None)
    space = Space.of(config)
    x = space.coordinate(votes.doa_deg)
    clusters = find_clusters(space, x, votes.weight, votes.time_s, votes.hop_s)
    assert [round(c.centre_deg) for c in clusters] == [0, NOISE_DEG]
    assert clusters[1].weight >= SECOND_TALKER_SHARE * clusters[0].weight
    assert own_turns(space, x, votes.weight, votes.time_s, clusters[1]) == (1.0 if placed else 0.0)
    result = estimate(votes, config)
    if placed:
        assert (result.customer_from, result.customer_azimuth_deg) == ("second talker", NOISE_DEG)
    else:
        assert (result.customer_from, result.rep_azimuth_deg, result.customer_azimuth_deg) == (
            "opposite the rep",
            0,
            180,
        )


def test_a_vote_just_0_3_s_away_is_within_own_turn_s_either_side() -> None:
    """OWN_TURN_S either side of a vote holds 61 frames of 0.01 s, its ends included as the frame times round:
    the last of 24 votes in a row with one more 0.3 s after it, or the first with one 0.3 s before it, has OWN_VOTES
    (25) around it, and so is in a turn of its own."""
    # (the votes' frames, the vote whose window just reaches the 25th)
    for frame, edge in ((np.r_[np.arange(24), 53], 23), (np.r_[0, np.arange(30, 54)], 1)):
        votes = Votes(np.zeros(frame.size), np.ones(frame.size), HOP_S, frame=frame)
        _, alone = turn_votes(np.ones(frame.size, dtype=bool), votes.weight, votes.time_s, -math.inf)
        assert alone[edge], (frame, alone)


@pytest.mark.parametrize(
    ("text", "a_deg", "b_deg"),
    [
        ("", 70.2, 130.2),  # 59.99999999999999 deg apart as computed
        (LINE_TEXT, 0.0, 60.0),  # cosines 1.0 and 0.5000000000000001
    ],
    ids=["circle", "line"],
)
def test_two_talkers_exactly_as_far_apart_as_the_config_allows_are_separable(
    tmp_path: Path, text: str, a_deg: float, b_deg: float
) -> None:
    """calibrate judges two talkers apart by the config's own rule, and the config accepts a value at its bound."""
    path = tmp_path / "listener.toml"
    path.write_text(text)
    space = Space.of(load_config(path))
    assert space.separable(space.coordinate(np.array([a_deg]))[0], space.coordinate(np.array([b_deg]))[0])
