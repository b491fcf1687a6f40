"""Who said a word the recogniser returns late: the party active over most of it (stage.py's ActivityHistory).

Only the vosk runs reached it before, where either rule for a word's party gave the same answer.
"""

from __future__ import annotations

import numpy as np

from listener.events import ActivityFrames, Party
from listener.transcription.history import ActivityHistory

HOP_S = 0.01
N = 100  # hops a block of frames: a second, as analyze decides them


def frames(start_s: float, rep: range = range(0), customer: range = range(0), rep_prob: float = 0.5) -> ActivityFrames:
    """A second of activity from ``start_s``; ``rep`` and ``customer`` are the hops each party is active in."""
    rep_on, cust_on = np.zeros(N, bool), np.zeros(N, bool)
    rep_on[list(rep)], cust_on[list(customer)] = True, True
    return ActivityFrames(start_s=start_s, hop_s=HOP_S, rep_active=rep_on, customer_active=cust_on,
                          rep_prob=np.full(N, rep_prob, np.float32), customer_prob=np.full(N, 0.5, np.float32),
                          doa_deg=np.full(N, np.nan))  # fmt: skip


def history(*blocks: ActivityFrames) -> ActivityHistory:
    h = ActivityHistory(keep_s=60.0)
    for b in blocks:
        h.add(b)
    return h


def test_a_word_is_the_party_active_over_most_of_it_whatever_the_likelihoods() -> None:
    # 1.1-1.4 s: the rep speaks 0.2 s of it, the customer 0.1 s and then on, with the rep's likelihood the lower
    h = history(frames(0.0), frames(1.0, rep=range(10, 30), customer=range(30, N), rep_prob=0.1))
    assert h.party_of(1.105, 1.395) is Party.REP


def test_a_word_neither_or_both_speak_over_goes_by_likelihood() -> None:
    assert history(frames(0.0, rep_prob=0.9)).party_of(0.105, 0.395) is Party.REP
    assert history(frames(0.0, rep_prob=0.1)).party_of(0.105, 0.395) is Party.CUSTOMER
    both = range(10, 40)
    assert history(frames(0.0, rep=both, customer=both, rep_prob=0.1)).party_of(0.105, 0.395) is Party.CUSTOMER


def test_a_very_short_word_is_judged_on_a_tenth_of_a_second_around_its_middle() -> None:
    # 1.00-1.02 s: the customer over the word itself (1.00-1.03 s), the rep over 0.96-1.00 s of the 0.1 s around it
    h = history(frames(0.0, rep=range(90, 100)), frames(1.0, customer=range(0, 3)))
    assert h.party_of(1.001, 1.019) is Party.REP


def test_a_word_across_two_blocks_of_frames_counts_the_hops_of_both() -> None:
    # 0.955-1.045 s: the rep over 4 hops before 1.0 s, the customer over the 5 after it, the first of the block
    h = history(frames(0.0, rep=range(96, 100), rep_prob=0.9), frames(1.0, customer=range(0, 5)))
    assert h.party_of(0.955, 1.045) is Party.CUSTOMER


def test_no_activity_known_for_a_word_is_no_party() -> None:
    assert history(frames(0.0, rep=range(N))).party_of(1.5, 1.8) is None
    assert ActivityHistory(keep_s=60.0).party_of(0.1, 0.4) is None


def test_activity_is_kept_for_keep_s_and_forgotten_in_the_end() -> None:
    h = ActivityHistory(keep_s=5.0)
    for second in range(200):
        h.add(frames(float(second), customer=range(N)))
    assert h.party_of(195.2, 195.5) is Party.CUSTOMER  # 5 s behind the activity's end
    assert h.party_of(100.2, 100.5) is None
