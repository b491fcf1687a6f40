"""A conversation fed to the English cue detector the way the transcription stage feeds it.

Shared by the test_cues_en*.py files: timed words, lower case, no punctuation, as vosk's English models print
them; and the speech activity the words were heard in, stepped through the analytics' session and floor rules
(:class:`SessionBounds`, as in the stage) up to where each utterance comes back, for the floors the detector reads.
"""

from __future__ import annotations

import sys

from listener.analytics.replay import HOP_S, Segment, activity, frame_blocks
from listener.analytics.sessions import SessionBounds
from listener.config import Config
from listener.events import Event, Party, Question
from listener.frames import span_frames
from listener.transcription.cues import CueDetector
from listener.transcription.lexicon import Lexicon, load_lexicon
from listener.transcription.words import Word

LEX = load_lexicon("en")
BRIDGE_S = Config().activity.bridge_gap_s  # words further apart than this are two sounds (0.2 s)
STORY = "my phone stopped charging after the update last night and the charger is brand new"
WORD_S = 0.32  # ~3 words a second, like conversational speech
ENDPOINT_S = 0.7  # the recogniser returns an utterance this long after its last word


class Floors:
    """Speech activity of both parties, stepped through the analytics' rules as far as the words have come."""

    def __init__(self) -> None:
        self.segments: list[Segment] = []
        self.bounds: SessionBounds | None = None
        self.stepped = 0  # frames stepped

    def speak(self, party: Party | str, start_s: float, end_s: float) -> None:
        """Activity of ``party``, which must lie after the frames already stepped."""
        first, _ = span_frames(start_s, end_s, HOP_S, sys.maxsize)
        assert first >= self.stepped, "activity written after the frames that would hold it were stepped"
        self.segments.append((party, start_s, end_s))

    def until(self, t_s: float) -> None:
        """Step the frames up to ``t_s``, as the stage has them when a recogniser result comes back then."""
        if round(t_s / HOP_S) <= self.stepped:
            return
        *_, block = frame_blocks(activity(self.segments, t_s), bounds=[self.stepped])
        self.bounds = self.bounds or SessionBounds(Config(), block)
        self.bounds.frames(block)
        self.stepped += block.n_frames

    def customer_floor(self, t_s: float) -> float | None:
        return None if self.bounds is None else self.bounds.floor_onset_s(Party.CUSTOMER, t_s)


class Talk:
    """A conversation fed utterance by utterance, the way the stage feeds the detector."""

    def __init__(self, echo_min_words: int = 2, lexicon: Lexicon = LEX) -> None:
        self.floors = Floors()
        self.detector = CueDetector(lexicon, echo_min_words, self.floors.customer_floor)
        self.t_s = 0.0

    def say(self, party: str, text: str) -> list[Event]:
        """``text`` said from where the last utterance's endpoint left off, ~3 words a second."""
        words = []
        for token in text.split():
            words.append(Word(token, self.t_s, self.t_s + WORD_S - 0.04, 0.9))
            self.t_s += WORD_S
        self.t_s += ENDPOINT_S
        return self.heard(party, words, self.t_s)

    def say_at(self, party: str, *pieces: tuple[str, float, float], active: bool = True) -> list[Event]:
        """One utterance of ``pieces`` (words, start, end), each spread evenly over its own time, come back 0.5 s
        after its end; the activity is that of its words, unless written by hand (``active`` False)."""
        words = []
        for text, start_s, end_s in pieces:
            tokens = text.split()
            step_s = (end_s - start_s) / len(tokens)
            words += [Word(w, start_s + k * step_s, start_s + (k + 1) * step_s, 0.9) for k, w in enumerate(tokens)]
        return self.heard(party, words, words[-1].end_s + 0.5, active)

    def heard(self, party: str, words: list[Word], decided_s: float, active: bool = True) -> list[Event]:
        if active:
            for w in words:
                self.floors.speak(party, w.start_s, w.end_s)
        self.floors.until(decided_s)
        return self.detector.utterance(Party(party), words, decided_s=decided_s)


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
