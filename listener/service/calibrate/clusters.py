"""The talkers among calibrate's votes: the strongest direction and, when it may be a talker apart, a second.

A direction is a cluster of votes within CLUSTER_HALF_DEG of a peak. A second cluster is a talker when it holds
SECOND_TALKER_SHARE of the first's weight, or, quieter, when it held the floor: it answered the rep in turns of its
own (OWN_TURN_S). An echo or a clatter casts its votes among the rep's words and holds no turn of its own.
``calibrate.estimation`` matches the talkers found here to the configured directions.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import numpy.typing as npt

from listener.service.calibrate.space import BIN_DEG, Cluster, Float, Space

CLUSTER_HALF_DEG = 30.0  # votes this close to a peak belong to its talker
SECOND_TALKER_SHARE = 0.15  # a second cluster holding this share of the first one's votes is a talker
# A second cluster's vote is in a turn of its own when, within OWN_TURN_S of it, that cluster has at least
# OWN_VOTES votes (speech going on, not a clink or a stray frame) and every other vote there together at most
# OWN_SHARE of its weight; the second is a talker only when at least MIN_OWN_TURNS of its weight is. In the
# first layout of bench.calibrate (4-mic on two seeds, 6-mic, USB; 189 customers answering once), 5 customers stay
# under 0.1 and the reflections' and side noises' second clusters at 0, but for sink clatter between the
# rep's sentences, which 15 votes let through (0.31 of it; 0.04 at 25). The rule before, "no vote of the
# first cluster within OWN_TURN_S", left 19 customers under 0.1 (reverberant rooms hear a few of their frames
# from the rep's side), and counting only the first cluster's votes against them took a rep's voice smeared
# over 90 deg by a reflection for a customer.
OWN_TURN_S = 0.3
OWN_VOTES = 25  # of the 61 frames within OWN_TURN_S
OWN_SHARE = 0.5
MIN_OWN_TURNS = 0.1
# A second cluster under SECOND_TALKER_SHARE is still the customer when it held the floor: QUIET_OWN_TURNS of its
# weight in turns of its own after the rep's first word, those votes QUIET_FLOOR_S long in all. bench.calibrate (five
# boards) put 69 of 300 answering customers opposite the rep for that share; 0.6 s places 18 of them (0.5 s 22,
# 0.8 s 9, 1.2 s 7; a 0.4 s shout holds 0.42 s), and no reflection's or side noise's quiet cluster held over 0.32.
QUIET_OWN_TURNS = 0.5
QUIET_FLOOR_S = 0.6


def find_clusters(space: Space, votes_deg: Float, weight: Float, time_s: Float, hop_s: float) -> list[Cluster]:
    """The strongest direction, and a second one if it may be a talker apart from the first: with
    SECOND_TALKER_SHARE of its weight, or less when it held the floor (then marked ``answered``)."""
    smoothed = space.histogram(votes_deg, weight)
    first = _cluster(space, votes_deg, weight, float(space.grid[np.argmax(smoothed)]))
    # another talker's peak is at least a cluster's width away, whatever the array can separate
    far = space.apart(space.grid, first.centre_deg) > 2 * CLUSTER_HALF_DEG - BIN_DEG / 2
    rest = np.where(far, smoothed, 0.0)
    if rest.max() <= 0:
        return [first]
    second = _cluster(space, votes_deg, weight, float(space.grid[np.argmax(rest)]))
    if not space.separable(first.centre_deg, second.centre_deg):
        return [first]
    if second.weight >= SECOND_TALKER_SHARE * first.weight:
        return [first, second]
    if held_the_floor(space, votes_deg, weight, time_s, hop_s, first, second):
        return [first, dataclasses.replace(second, answered=True)]
    return [first]


def held_the_floor(
    space: Space, votes_deg: Float, weight: Float, time_s: Float, hop_s: float, rep: Cluster, quiet: Cluster
) -> bool:
    """Whether ``quiet``, under SECOND_TALKER_SHARE of ``rep``'s weight, answered the rep in turns of its own
    (QUIET_OWN_TURNS, QUIET_FLOOR_S): an echo or a clatter holds few, a shout too little time."""
    w, alone = _own_turn_votes(space, votes_deg, weight, time_s, quiet, first_vote_s(space, votes_deg, time_s, rep))
    long_enough = int(alone.sum()) * hop_s >= QUIET_FLOOR_S - 1e-9  # 60 frames of 0.01 s are 0.6 s
    return long_enough and bool(w[alone].sum() >= QUIET_OWN_TURNS * w.sum())


def own_turns(
    space: Space, votes_deg: Float, weight: Float, time_s: Float, voice: Cluster, after_s: float = -math.inf
) -> float:
    """The share of ``voice``'s weight in votes in a turn of its own (OWN_TURN_S, OWN_VOTES, OWN_SHARE),
    counting only votes after ``after_s``.

    A talker apart speaks in turns of its own. An echo of the first talker, or a clatter while they talk,
    casts its votes among the first talker's: taken for a talker, it would raise the confidence (more of
    the votes "explained") for what is one talker and a noise. A turn is judged by what dominates around
    each vote, not by the first talker's absence: in a reverberant room a few of a customer's frames are
    heard from the rep's side, and "no rep vote near" would call their whole answer an echo. Everything
    else heard counts against it, not only the first cluster: a rep's voice smeared by a reflection votes
    between the two clusters as well.
    """
    w, alone = _own_turn_votes(space, votes_deg, weight, time_s, voice, after_s)
    return float(w[alone].sum() / w.sum()) if w.sum() > 0 else 0.0


def _own_turn_votes(
    space: Space, votes_deg: Float, weight: Float, time_s: Float, voice: Cluster, after_s: float
) -> tuple[Float, npt.NDArray[np.bool_]]:
    """The weights of ``voice``'s votes, and which of them are in a turn of its own after ``after_s``."""
    return turn_votes(space.apart(votes_deg, voice.centre_deg) <= CLUSTER_HALF_DEG, weight, time_s, after_s)


def turn_votes(
    mine: npt.NDArray[np.bool_], weight: Float, time_s: Float, after_s: float
) -> tuple[Float, npt.NDArray[np.bool_]]:
    """The weights of a voice's votes (``mine``), and which of them are in a turn of its own after ``after_s``."""
    t, w = time_s[mine], weight[mine]
    others = _around(time_s[~mine], weight[~mine], t)
    ours = _around(t, w, t)
    count = _around(t, np.ones_like(w), t)
    return w, (count >= OWN_VOTES) & (others <= OWN_SHARE * ours) & (t > after_s)


def _around(time_s: Float, weight: Float, at_s: Float) -> Float:
    """Per time in ``at_s``: the weight of the votes at ``time_s`` (sorted) within OWN_TURN_S of it."""
    total = np.concatenate(([0.0], np.cumsum(weight)))
    lo = np.searchsorted(time_s, at_s - OWN_TURN_S - 1e-9, "left")
    hi = np.searchsorted(time_s, at_s + OWN_TURN_S + 1e-9, "right")
    return np.asarray(total[hi] - total[lo], dtype=np.float64)


def _cluster(space: Space, votes_deg: Float, weight: Float, peak_deg: float) -> Cluster:
    return of_votes(space, votes_deg, weight, space.apart(votes_deg, peak_deg) <= CLUSTER_HALF_DEG, peak_deg)


def of_votes(space: Space, votes_deg: Float, weight: Float, mine: npt.NDArray[np.bool_], peak_deg: float) -> Cluster:
    """The votes ``mine`` (around ``peak_deg``) as one talker: their mean direction and their weight."""
    return Cluster(space.mean(votes_deg[mine], weight[mine]), float(weight[mine].sum()), peak_deg)


def first_vote_s(space: Space, votes_deg: Float, time_s: Float, talker: Cluster) -> float:
    """When ``talker`` first spoke. A noise switching on before the rep's first word stands above the noise
    floor, as loud as speech, until the floor has learnt it (half a second or so while it starts up), and has
    the room to itself: no turn of a customer's, who answers the rep."""
    return float(time_s[space.apart(votes_deg, talker.centre_deg) <= CLUSTER_HALF_DEG].min())
