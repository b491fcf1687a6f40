"""A conversation fed to the English cue detector the way the transcription stage feeds it.

Shared by test_cues_en.py, test_cues_en_echoes.py and test_cues_en_phrases.py: timed words, lower case, no punctuation,
as vosk's English models print them.
"""

from __future__ import annotations

from listener.config import Config
from listener.events import Event, Party, Question
from listener.transcription.cues import CueDetector
from listener.transcription.lexicon import load_lexicon
from listener.transcription.words import Word

LEX = load_lexicon("en")
BRIDGE_S = Config().activity.bridge_gap_s  # words further apart than this are two sounds (0.2 s)
STORY = "my phone stopped charging after the update last night and the charger is brand new"
WORD_S = 0.32  # ~3 words a second, like conversational speech


class Talk:
    """A conversation fed utterance by utterance, the way the stage feeds the detector."""

    def __init__(self, echo_min_words: int = 2) -> None:
        self.detector = CueDetector(LEX, floor_take_s=1.0, echo_min_words=echo_min_words, bridge_gap_s=BRIDGE_S)
        self.t_s = 0.0

    def say(self, party: str, text: str) -> list[Event]:
        words = []
        for token in text.split():
            words.append(Word(token, self.t_s, self.t_s + WORD_S - 0.04, 0.9))
            self.t_s += WORD_S
        self.t_s += 0.7  # the recogniser's endpoint
        return self.detector.utterance(Party(party), words, decided_s=self.t_s)


def rep(text: str, customer_before: str | None = None) -> list[Event]:
    talk = Talk()
    if customer_before is not None:
        talk.say("customer", customer_before)
    return talk.say("rep", text)


def of(events: list[Event], kind: type) -> list[Event]:
    return [e for e in events if isinstance(e, kind)]


def question(events: list[Event]) -> Question | None:
    found = of(events, Question)
    assert len(found) <= 1
    return found[0] if found else None  # type: ignore[return-value]
