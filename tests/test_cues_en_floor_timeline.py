"""The customer's last floor, for follow-ups and echoes, is the analytics' floor, found on the activity timeline.

shared/metrics.md, "Floor": a party takes it speaking 1.0 s (a backchannel does not), and keeps it through its
own pauses until the other takes it; the analytics take it only while the holder is not speaking. The cue
detector used to read floors from the recognised words alone, and so disagreed with the analytics wherever the
words and the activity tell different stories: talk over a party that keeps the floor, a backchannel whose words
the recogniser stretched past 1.0 s, a pause inside one floor that the other party spoke into. Each case here is
one where the words alone decided otherwise; the analytics, on the same activity, count the floors said.
"""

from __future__ import annotations

import pytest

from listener.analytics.replay import HOP_S, Segment, activity, frame_blocks, replay
from listener.analytics.stage import ConversationAnalytics
from listener.config import geometry, parse_config
from listener.events import Echo, FloorChange, Party, Question
from listener.transcription.stage import TranscriptionStage
from listener.transcription.words import Word
from tests.cues_talk import STORY, Talk, of, question

CHARGER_QUESTION = "is the charger the original one"  # follows up the story, if it is still the last floor


def customer_floors(segments: list[Segment], duration_s: float) -> list[float]:
    """The onsets of the customer's floors, as the analytics find them on ``segments``."""
    events = replay(segments, duration_s, parse_config({})).events
    return [e.onset_s for e in events if isinstance(e, FloorChange) and e.by is Party.CUSTOMER]


def story_told() -> Talk:
    talk = Talk()
    talk.say_at("customer", (STORY, 0.0, 5.0))  # the customer's floor: the charger
    return talk


def test_customer_talk_over_a_rep_who_keeps_the_floor_opens_no_customer_floor() -> None:
    """The rep talks 6-12 s; the customer's 1.5 s over it ends before the rep stops: the rep keeps the floor, and
    the story is still the customer's last floor. By its words alone the customer took a floor of its own."""
    talk = story_told()
    talk.floors.speak("rep", 6.0, 12.0)
    talk.floors.speak("customer", 8.0, 9.5)
    talk.say_at("rep", ("let me have a look at that for you", 6.0, 8.0), active=False)
    talk.say_at("customer", ("and the screen flickers too", 8.0, 9.5), active=False)
    talk.say_at("rep", ("while i check the system here", 9.5, 12.0), active=False)
    q = question(talk.say_at("rep", (CHARGER_QUESTION, 12.5, 14.0)))
    assert q is not None and q.followup
    assert customer_floors(talk.floors.segments, 15.0) == [0.0]


@pytest.mark.parametrize("sounds", [[(8.6, 9.5)], [(8.6, 9.0), (9.3, 9.8)]])
def test_a_customer_backchannel_whose_words_last_a_second_takes_no_floor(sounds: list[tuple[float, float]]) -> None:
    """ "yeah okay right" after the rep took the floor: 1.2 s of words that abut, as the recogniser printed
    them, heard as 0.9 s of speech, or as two short sounds: a backchannel. The words alone took a floor with no
    content word in it, and the rep's question about the charger followed up nothing."""
    talk = story_told()
    talk.say_at("rep", ("let me have a look at that for you", 6.0, 8.0))
    for start_s, end_s in sounds:
        talk.floors.speak("customer", start_s, end_s)
    talk.say_at("customer", ("yeah okay right", 8.6, 9.8), active=False)
    q = question(talk.say_at("rep", (CHARGER_QUESTION, 10.5, 12.0)))
    assert q is not None and q.followup
    assert customer_floors(talk.floors.segments, 13.0) == [0.0]


def test_a_long_customer_pause_the_rep_speaks_into_stays_one_floor() -> None:
    """The customer pauses 2 s; the rep speaks into the pause for 1.5 s, but the customer goes on 0.5 s into it:
    the rep never had the floor to itself, so the customer's floor goes on, story and all. By the words, the rep
    took the floor and the customer's next words began a new one without the charger."""
    talk = story_told()
    talk.floors.speak("customer", 7.5, 10.0)
    talk.say_at("rep", ("okay let me see", 7.0, 8.5))
    talk.say_at("customer", ("and now it will not even turn on", 8.5, 10.0), active=False)
    q = question(talk.say_at("rep", (CHARGER_QUESTION, 11.0, 12.5)))
    assert q is not None and q.followup
    assert customer_floors(talk.floors.segments, 13.5) == [0.0]


def test_customer_talk_over_the_rep_ends_no_rep_turn() -> None:
    """At most one echo per rep turn, and only the customer taking the floor ends it: the customer's 1.5 s over
    the rep's summary does not, so the rep repeating the customer's words again is no second echo. By the words
    alone the customer took the floor and the rep echoed twice in one turn."""
    talk = story_told()
    talk.floors.speak("rep", 6.0, 13.0)
    talk.floors.speak("customer", 8.5, 10.0)
    first = talk.say_at("rep", ("so your phone stopped charging", 6.0, 8.0), active=False)
    talk.say_at("customer", ("yes the charger is brand new", 8.5, 10.0), active=False)
    again = talk.say_at("rep", ("and the charger is brand new you said", 10.5, 13.0), active=False)
    assert len(of(first, Echo)) == 1 and not of(again, Echo)
    assert customer_floors(talk.floors.segments, 14.0) == [0.0]


def test_words_back_before_their_floor_is_decided_stay_in_it() -> None:
    """The customer talks over the rep from 10 s; the floor is theirs, from 10 s, once the rep stops at 12 s. The
    recogniser returned their first words before that: those stay in the new floor (the battery), the story
    before it goes (the charger)."""
    talk = story_told()
    talk.floors.speak("rep", 6.0, 12.0)
    talk.floors.speak("customer", 10.0, 13.0)
    talk.say_at("rep", ("let me have a look at that for you", 6.0, 10.0), active=False)
    talk.say_at("customer", ("the battery gets hot", 10.0, 11.4), active=False)  # back at 11.9 s
    talk.say_at("customer", ("when it is plugged in", 11.6, 13.0), active=False)
    q = question(talk.say_at("rep", ("how hot does the battery get", 14.0, 15.5)))
    assert q is not None and q.followup
    q = question(talk.say_at("rep", (CHARGER_QUESTION, 16.0, 17.5)))
    assert q is not None and not q.followup
    assert customer_floors(talk.floors.segments, 18.0) == [0.0, 10.0]


# --- in the stage: the frames it is given, the words attributed from them ------------------------------


def test_the_stage_reads_the_floors_the_analytics_find_on_the_same_frames() -> None:
    """The long pause above, through the transcription stage: 0.1 s blocks of activity, each recogniser result
    handed over once the frames up to 0.5 s past its last word are in, its words attributed from them. The
    analytics, given the same blocks, take one customer floor; the stage's question follows it up."""
    segments: list[Segment] = [("customer", 0.0, 5.0), ("rep", 7.0, 8.5), ("customer", 7.5, 10.0), ("rep", 11.0, 12.5)]
    active = activity(segments, 14.0)
    blocks = list(frame_blocks(active, bounds=range(0, len(active[Party.REP]), round(0.1 / HOP_S))))
    results = [  # what the recogniser returns, in time order: the customer's words in the overlap lost
        _words(STORY, 0.0, 5.0),
        _words("okay let me see", 7.0, 8.5) + _words("and now it will not even turn on", 8.5, 10.0),
        _words(CHARGER_QUESTION, 11.0, 12.5),
    ]
    config = parse_config({"asr": {"enabled": True}})
    stage, analytics = TranscriptionStage(config, geometry(config)), ConversationAnalytics(config)
    cues, floors = [], []
    for block in blocks:
        list(stage.process(block))  # no recogniser opened: the frames only step its activity and floors
        floors += [e for e in analytics.process(block) if isinstance(e, FloorChange) and e.by is Party.CUSTOMER]
        while results and results[0][-1].end_s + 0.5 <= block.end_s:
            cues += stage._result_cues(results.pop(0))
    assert not results
    assert [f.onset_s for f in floors] == [0.0]
    # the stage's own floor is the analytics' (a stage that read none kept the story's words just the same)
    assert [stage._customer_floor(t_s) for t_s in (4.0, 9.5, 12.5)] == [0.0, 0.0, 0.0]
    (q,) = of(cues, Question)
    assert q.followup  # type: ignore[attr-defined]


def _words(text: str, start_s: float, end_s: float) -> list[Word]:
    tokens = text.split()
    step_s = (end_s - start_s) / len(tokens)
    return [Word(w, start_s + k * step_s, start_s + (k + 1) * step_s, 0.9) for k, w in enumerate(tokens)]
