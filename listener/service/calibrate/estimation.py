"""Where the rep and the customer stand, from the votes of ``calibrate.votes``.

The votes' histogram has one or two clear peaks (refined by the mean of
the votes within CLUSTER_HALF_DEG). One peak is the rep, who was asked to
talk, and the customer is placed across the counter. Two peaks are matched
to the configured rep and customer directions by nearest angle, not by
loudness (but a far quieter second, kept only when it answered the rep for
long enough, is the customer: held_the_floor), and only when the second speaks
in turns of its own (OWN_TURN_S; both in ``calibrate.clusters``):
an echo or a clatter whose votes fall among the rep's words is no talker,
and the one nearer the configured rep is then placed alone, and the other voice is said (and
in doubt when it holds much of the speech: it may be a customer who only
talked over the rep). Matched, a customer who talks more or louder than the
rep is still the customer, but in doubt: the rep was asked to talk, and on
a new install the configured directions are placeholders. When both
matchings are about as near, which peak is the rep is a guess, and the
result says so. What is in doubt is stored only with --force.

A line array (the 2-mic HAT) hears only the angle to its axis: a talker
and its mirror image across the axis look the same, and a talker's height
and the room's echoes widen that angle (a rep 4 deg off the line's end,
standing, in a reverberant shop, was measured at 72 deg). What it can tell
is which end of the line the rep is nearer, and that is all it uses: its
votes are folded onto one side, and the rep is stored at the end of the
line nearer them, the customer at the other end, which is where the line
tells the parties apart best (LINE_ENDS_COS_APART, as listener doctor
checks). Nothing is proposed that the config's own checks would refuse.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from listener.config import Config
from listener.config.schema import MIN_PARTIES_APART_DEG
from listener.errors import CalibrationError
from listener.service.calibrate.clusters import (
    CLUSTER_HALF_DEG,
    MIN_OWN_TURNS,
    SECOND_TALKER_SHARE,
    find_clusters,
    first_vote_s,
    of_votes,
    own_turns,
    turn_votes,
)
from listener.service.calibrate.space import Cluster, Float, Space, azimuths, line_ends, normal
from listener.service.calibrate.votes import SETTLE_S, Votes

MIN_SPEECH_S = 1.0  # less speech than this cannot place anyone
ALONE = "repeat with the rep talking alone for about 10 s, nobody else near the counter"
# This much speech gives full confidence in the amount of evidence. At 5 s, bench.calibrate refused about half
# its rooms with a steady noise 3-15 dB under the rep, which leaves 1-3 s of clear speech in 10 s; in its first
# layout 76 of the 77 refused for that had the rep within 6.5 deg (the other 16 deg).
FULL_CONFIDENCE_S = 3.0
# The least listening that leaves the rep room to be stored: full evidence is FULL_CONFIDENCE_S of clear speech
# after the first SETTLE_S. (At 2.5 s every frame after the settling would have to vote to reach 0.5.)
MIN_LISTEN_S = SETTLE_S + FULL_CONFIDENCE_S
# A second voice in no turns of its own is not placed; holding more than this share of the speech it may be
# the customer (the bench's overlapping customers hold a third), so storing without it needs --force.
MAX_UNPLACED_SHARE = 0.2
# Two talkers: how much nearer the chosen matching is to the configured directions (sum of both angles)
# than the swapped one. Below AMBIGUOUS the rep is a guess; from CLEAR on, the matching is beyond doubt.
AMBIGUOUS_MARGIN_DEG = 30.0
CLEAR_MARGIN_DEG = 90.0

CustomerFrom = Literal["second talker", "opposite the rep", "far end of the mic line"]


@dataclass(frozen=True, slots=True)
class Factors:
    """What the confidence is the product of, each 0..1, kept so a low one can be named."""

    evidence: float  # how much speech, against FULL_CONFIDENCE_S
    explained: float  # share of the speech votes the talkers found account for
    clarity: float = 1.0  # two talkers: how much nearer the matching is than the swapped one, against CLEAR_MARGIN_DEG

    @property
    def confidence(self) -> float:
        return round(self.evidence * self.explained * self.clarity, 2)


@dataclass(frozen=True, slots=True)
class Calibration:
    rep_azimuth_deg: float
    customer_azimuth_deg: float
    customer_from: CustomerFrom
    factors: Factors
    speech_s: float
    rep_share: float  # of the speech votes within CLUSTER_HALF_DEG of the rep
    ambiguous: bool = False  # two talkers, and either could be the rep
    doubt: str = ""  # why storing these needs --force, with what to do instead ('' when nothing is in doubt)
    note: str = ""  # a voice heard but not placed, said after the result
    rep_heard_deg: float | None = None  # a line array: the rep's measured angle to the mic line, 0..180

    @property
    def confidence(self) -> float:
        return self.factors.confidence


def estimate(votes: Votes, config: Config) -> Calibration:
    """The rep's and the customer's azimuths, and how sure we are."""
    speech_s = votes.doa_deg.size * votes.hop_s
    if speech_s < MIN_SPEECH_S or votes.weight.sum() <= 0:
        raise CalibrationError(too_little_speech(votes, speech_s))
    space = Space.of(config)
    votes_deg = space.coordinate(votes.doa_deg)
    time_s = votes.time_s
    clusters = find_clusters(space, votes_deg, votes.weight, time_s, votes.hop_s)
    configured_deg = (config.parties.rep_azimuth_deg, config.parties.customer_azimuth_deg)
    total = float(votes.weight.sum())
    evidence = min(1.0, speech_s / FULL_CONFIDENCE_S)
    rep, doubt, note = clusters[0], "", ""
    if len(clusters) == 2:
        rep, customer, margin_deg = match(space, clusters, configured_deg)
        quiet_customer = customer.weight <= rep.weight
        talks = _quieter_turns(space, votes_deg, votes, rep, customer, quiet_customer)
        both = azimuths(space, rep.centre_deg, customer.centre_deg) if talks >= MIN_OWN_TURNS else None
        if both is not None:
            explained = _explained(space, votes_deg, votes.weight, (rep, customer), total)
            factors = Factors(evidence, explained, min(1.0, margin_deg / CLEAR_MARGIN_DEG))
            return Calibration(
                *both,
                "second talker",
                factors,
                speech_s,
                rep.weight / total,
                ambiguous=margin_deg < AMBIGUOUS_MARGIN_DEG,
                doubt=_rep_talked_less(space, rep, customer, configured_deg),
                rep_heard_deg=space.heard(rep.centre_deg),
            )
        if talks < MIN_OWN_TURNS:
            note, doubt = _unplaced(space, rep, customer, configured_deg, total, quiet_customer)
    if not doubt:
        doubt = _too_near(space, votes_deg, votes.weight, time_s, rep, total, second_said=len(clusters) == 2)
    share, heard = rep.weight / total, space.heard(rep.centre_deg)
    placed = _place_one(space, rep.centre_deg)
    return Calibration(*placed, Factors(evidence, share), speech_s, share, doubt=doubt, note=note, rep_heard_deg=heard)


def _explained(space: Space, votes_deg: Float, weight: Float, talkers: tuple[Cluster, Cluster], total: float) -> float:
    """The share of the votes the two talkers account for. Their windows can overlap (the second peak is kept
    a cluster's width from the first one's centre, not its peak): a vote in both counts once, so never over 1."""
    mine = np.zeros(votes_deg.size, dtype=bool)
    for talker in talkers:
        mine |= space.apart(votes_deg, talker.peak_deg) <= CLUSTER_HALF_DEG
    return min(1.0, float(weight[mine].sum()) / total)


def _quieter_turns(
    space: Space, votes_deg: Float, votes: Votes, rep: Cluster, customer: Cluster, quiet_customer: bool
) -> float:
    """The quieter direction's share in turns of its own. Two talkers only if it holds some (the customer's
    counted from the rep's first word: they answer the rep); an echo or a noise among the rep's words, or before
    the rep began, holds none. Else one, the matched rep: an echo taken for the rep holds few of the votes, and
    the confidence (its share) refuses it."""
    after_s = first_vote_s(space, votes_deg, votes.time_s, rep) if quiet_customer else -math.inf
    return own_turns(space, votes_deg, votes.weight, votes.time_s, customer if quiet_customer else rep, after_s)


def _rep_talked_less(space: Space, rep: Cluster, customer: Cluster, configured_deg: tuple[float, float]) -> str:
    """Doubt when the talker matched to the rep said less than the other one ('' when the rep said more).

    The rep was asked to talk; a customer may answer. Matched only by the configured directions, which on
    a new install are placeholders, the customer who answered would become the rep with full confidence.
    """
    if rep.weight >= customer.weight:
        return ""
    there = space.describe(customer.centre_deg)
    return (
        f"the configured directions (rep {configured_deg[0]:g} deg, customer {configured_deg[1]:g} deg) make the "
        f"talker {space.describe(rep.centre_deg)} the rep, but the one {there} talked most; if the rep stands {there}, "
        f"{ALONE} (or pass --force to keep these)"
    )


def _unplaced(
    space: Space,
    rep: Cluster,
    customer: Cluster,
    configured_deg: tuple[float, float],
    total: float,
    quiet_customer: bool,
) -> tuple[str, str]:
    """(note, doubt) when the quieter direction never held the floor: the customer's, or the matched rep's."""
    if quiet_customer:
        return _over_the_rep(space, customer, customer.weight / total)
    return "", _rep_talked_less(space, rep, customer, configured_deg)


def _over_the_rep(space: Space, voice: Cluster, share: float) -> tuple[str, str]:
    """(note, doubt) for a second voice in no turns of its own: always said, in doubt when it is a large share.

    It was heard over the rep, among echoes, or before the rep's first word; which one, the votes do not say.
    """
    where, percent = space.describe(voice.centre_deg), f"{100 * share:.0f} %"
    heard = f"a second voice {where} ({percent} of the speech) never held the floor on its own"
    note = f"not placed: {heard} (heard only over the rep, among echoes, or before the rep began)"
    if share <= MAX_UNPLACED_SHARE:
        return note, ""
    return note, (
        f"{heard}; if the customer stands there, repeat with them answering the rep in turns (or pass --force to "
        "keep these)"
    )


def _too_near(
    space: Space, votes_deg: Float, weight: Float, time_s: Float, rep: Cluster, total: float, second_said: bool
) -> str:
    """Doubt when a voice beside the rep's own votes talked in turns of its own, too near the rep to be stored as
    the customer ('' when there is none): placed alone, the customer would go across the counter and every word
    of theirs would count as the rep's. Only votes outside the rep's cluster are the voice's: the rep's own,
    smeared by the room, would make a turn of its own of every sentence. ``second_said``: find_clusters kept a
    second cluster, which was judged (and said) already."""
    beside = space.apart(votes_deg, rep.centre_deg) > CLUSTER_HALF_DEG
    if not beside.any():
        return ""
    peak_deg = float(space.grid[np.argmax(space.histogram(votes_deg[beside], weight[beside]))])
    mine = beside & (space.apart(votes_deg, peak_deg) <= CLUSTER_HALF_DEG)
    voice = of_votes(space, votes_deg, weight, mine, peak_deg)
    apart_enough = space.separable(rep.centre_deg, voice.centre_deg) and azimuths(
        space, rep.centre_deg, voice.centre_deg
    )
    # Far enough apart without the rep's votes is not enough: find_clusters measures its second cluster with the
    # rep's smear in it, which can pull a voice just over the limit under it, and then drops it. Such a voice,
    # not placed, is too near as well: stored, it would go opposite the rep without a word.
    if apart_enough and second_said:
        return ""  # find_clusters' second talker, placed or said already
    if voice.weight < SECOND_TALKER_SHARE * rep.weight:
        return ""
    w, alone = turn_votes(mine, weight, time_s, first_vote_s(space, votes_deg, time_s, rep))
    if w[alone].sum() < MIN_OWN_TURNS * w.sum():
        return ""  # an echo of the rep, or a noise among their words
    apart = float(space.apart(voice.centre_deg, rep.centre_deg))
    # just over the limit without the rep's echoes, under it with them: a bare "only 62 deg" would contradict the rule
    edge = " (under the limit once the rep's echoes are counted)" if apart_enough else ""
    return (
        f"a second voice {space.describe(voice.centre_deg)} ({100 * voice.weight / total:.0f} % of the speech) "
        f"talked in turns of its own only {apart:.0f} deg from the rep {space.describe(rep.centre_deg)}{edge}, too "
        f"near for the listener to tell them apart ({_apart_rule(space)}); if that was the customer, move the array or "
        "where the customer stands, so that the rep and the customer face each other across it, and repeat; if the "
        "rep moved while talking, repeat with the rep standing still (or pass --force to store the customer across "
        "from the rep)"
    )


def _apart_rule(space: Space) -> str:
    if space.axis_deg is None:
        return f"they must stand at least {MIN_PARTIES_APART_DEG:g} deg apart around the array"
    return "they must stand towards the two ends of the mic line"


def too_little_speech(votes: Votes, speech_s: float) -> str:
    """Why calibration cannot place anyone: silence (or a steady noise) against sound that is not a voice."""
    heard_s = math.floor(speech_s * 10.0) / 10.0  # never "1.0 s heard, 1.0 s needed"
    start = f"only {heard_s:.1f} s of speech heard (at least {MIN_SPEECH_S:.1f} s needed)"
    if speech_s <= votes.heard_s < MIN_LISTEN_S:  # (votes made by hand may leave heard_s at 0: unknown)
        # nothing in the room is to blame: the recording cannot hold enough speech however well the rep talks
        settling = (
            f", and its first {SETTLE_S:.1f} s never counts (the listener learns the room's noise then)"
            if votes.heard_s >= SETTLE_S
            else ""
        )
        return (
            f"{start}: the recording itself is only {votes.heard_s:.1f} s long{settling}; record about 10 s of the "
            "rep talking close to the counter"
        )
    # loud_s leaves out the first SETTLE_S, which never votes: so does the time it is a share of
    counted = f"of {max(0.0, votes.heard_s - SETTLE_S):.1f} s after the first {SETTLE_S:g} s"
    if votes.loud_s - speech_s >= MIN_SPEECH_S:
        # loud but not voiced: a hiss, a rumble, clatter; a voice has a pitch
        return (
            f"{start}: {counted}, {votes.loud_s:.1f} s rose above the room's noise but did not "
            "sound like a voice (a fan, a till, music?); the rep should talk for about 10 s close to the "
            "counter, in a quieter moment"
        )
    return (
        f"{start}: {counted}, only {votes.loud_s:.1f} s rose above the room's steady noise; the "
        "rep should talk for about 10 s close to the counter (live: check the mic levels with `listener doctor`)"
    )


def match(space: Space, clusters: list[Cluster], configured_deg: tuple[float, float]) -> tuple[Cluster, Cluster, float]:
    """(rep, customer, margin): the matching nearer the configured directions, by how much (deg) it is nearer."""
    want_deg = space.coordinate(np.array(configured_deg, dtype=np.float64))
    a, b = clusters
    if b.answered:  # far quieter, kept only as a customer who answered the rep (held_the_floor)
        return a, b, CLEAR_MARGIN_DEG

    def cost(rep: Cluster, customer: Cluster) -> float:
        return float(space.apart(rep.centre_deg, want_deg[0]) + space.apart(customer.centre_deg, want_deg[1]))

    ab, ba = cost(a, b), cost(b, a)
    return (a, b, abs(ab - ba)) if ab <= ba else (b, a, abs(ab - ba))


def _place_one(space: Space, rep_deg: float) -> tuple[float, float, CustomerFrom]:
    if space.axis_deg is None:
        rep_placed_deg = normal(rep_deg)
        return rep_placed_deg, normal(rep_placed_deg + 180.0), "opposite the rep"
    rep_end_deg, customer_end_deg = line_ends(space.axis_deg, math.cos(math.radians(rep_deg)))
    return rep_end_deg, customer_end_deg, "far end of the mic line"
