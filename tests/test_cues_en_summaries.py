"""English content cues: a summary's own "i understand" is no acknowledgement.

A summarising lead-in that another summary pattern continues ("just to make sure" + "make sure i
understand") is one summary; the acknowledgement a scan resumed inside it would find is not counted.
"""

from __future__ import annotations

import pytest

from listener.events import Acknowledgement, Echo
from listener.transcription.lexicon import Match, Pattern, PhraseSet, Step
from tests.cues_talk import STORY, of, rep


@pytest.mark.parametrize(
    "text",
    [
        "just to make sure i understand",
        "so just to make sure i understand what happened",
        "just to be sure i understand",
        "just to make sure i understand you correctly",
        # the rep checks that the reason is clear, which is no empathy for the customer's trouble
        "okay just to make sure i can see why",
        "let me make sure i understand",
    ],
)
def test_a_summary_is_not_also_an_acknowledgement(text: str) -> None:
    events = rep(text, customer_before=STORY)
    assert [e.summary for e in of(events, Echo)] == [True], text  # type: ignore[attr-defined]
    assert not of(events, Acknowledgement), text


@pytest.mark.parametrize(
    "text",
    [
        "just to make sure you want a refund i understand",  # a second sentence after the summary
        "i understand just to make sure you want a refund",
        "just to make sure i am sorry to hear that",
    ],
)
def test_an_acknowledgement_apart_from_the_summary_counts(text: str) -> None:
    events = rep(text, customer_before=STORY)
    assert [e.summary for e in of(events, Echo)] == [True], text  # type: ignore[attr-defined]
    assert len(of(events, Acknowledgement)) == 1, text


def _pattern(family: str, text: str) -> Pattern:
    return Pattern(family, tuple(Step(frozenset([w])) for w in text.split()), at_start=False, at_end=False)


def test_a_phrase_runs_on_through_an_overlapping_one_of_its_family() -> None:
    phrases = PhraseSet(
        [_pattern("summary", "a b c"), _pattern("summary", "c d e"), _pattern("ack", "d e f"), _pattern("ack", "x")],
        priority=["summary", "ack"],
    )
    assert phrases.scan(["z", "a", "b", "c", "d", "e", "f"]) == [Match("summary", 1, 6)]
    assert phrases.scan(["a", "b", "c", "d", "e", "x"]) == [Match("summary", 0, 5), Match("ack", 5, 6)]
