"""Who holds the floor, as the cue detector reads it, here on the activity of the words said (shared/metrics.md,
"Floor"; tests/test_cues_en_floor_timeline.py for activity and words that differ).

A party takes the floor when it speaks for 1.0 s, and speech is activity with its gaps shorter than 0.2 s
(``activity.bridge_gap_s``) bridged. A recogniser utterance holds pauses of up to 0.8 s, so an utterance
that spans 1.0 s may be two short sounds with a pause between: no floor. Follow-ups and echoes compare the
rep's words with the customer's last floor, so such a "no ... not really" must neither open a new customer
floor nor, said by the rep, end the customer's.
"""

from __future__ import annotations

import pytest

from tests.cues_talk import BRIDGE_S, STORY, Talk, question


def _talk() -> Talk:
    talk = Talk()
    talk.say_at("customer", (STORY, 0.0, 5.0))  # the customer's floor: the charger
    return talk


@pytest.mark.parametrize(
    ("gap_s", "new_floor"),
    [(0.5, False), (BRIDGE_S, False), (0.19, True), (0.0, True)],  # 1.0 s of speech only with the gap bridged
)
def test_a_customer_reply_of_two_sounds_with_a_pause_takes_no_floor(gap_s: float, new_floor: bool) -> None:
    """The rep takes the floor, the customer answers "no ... not really": 0.4 s and 0.6 s of speech. With a
    pause of 0.2 s or more between them that is two short sounds, no floor, so the customer's last floor is
    still the story and the rep's question about the charger follows it up; with the pause bridged it is one
    1.0 s stretch, a new floor without the charger in it."""
    talk = _talk()
    talk.say_at("rep", ("let me have a look at that for you", 6.0, 8.0))
    talk.say_at("customer", ("no", 9.0, 9.4), ("not really", 9.4 + gap_s, 10.0 + gap_s))
    q = question(talk.say_at("rep", ("is the charger the original one", 11.5, 13.0)))
    assert q is not None and q.followup is not new_floor


@pytest.mark.parametrize(("gap_s", "rep_floor"), [(0.5, False), (0.1, True)])
def test_a_rep_utterance_of_two_sounds_with_a_pause_takes_no_floor(gap_s: float, rep_floor: bool) -> None:
    """The rep says "okay ... right" (0.5 s each) into the customer's story: with a 0.5 s pause between, two
    backchannels, and the customer's words after them go on with the same floor (the charger is in it); with the
    sounds one 1.0 s stretch the rep took the floor, and the customer's next words open a new one."""
    talk = _talk()
    talk.say_at("rep", ("okay", 6.0, 6.5), ("right", 6.5 + gap_s, 7.0 + gap_s))
    talk.say_at("customer", ("and the screen flickers too", 8.0, 9.5))
    q = question(talk.say_at("rep", ("is the charger the original one", 10.5, 12.0)))
    assert q is not None and q.followup is not rep_floor
