"""The lexicon's ``^`` and ``$`` marks: a phrase that must start, or end, the utterance (en.toml's header).

No English phrase starts with ``^`` yet (a lexicon for another language may), so both are pinned on a copy of
en.toml with a phrase of each added.
"""

from __future__ import annotations

import tomllib
from importlib import resources

import pytest

from listener.events import ActionPlan
from listener.transcription.lexicon import Lexicon
from tests.cues_talk import Talk, of


def _talk(*actions: str) -> Talk:
    data = tomllib.loads(resources.files("listener").joinpath("data/lexicons/en.toml").read_text(encoding="utf-8"))
    data["phrases"]["action"] = [*data["phrases"]["action"], *actions]
    talk = Talk(lexicon=Lexicon(data, "test.toml"))
    return talk


@pytest.mark.parametrize(("text", "plans"), [("consider it done", True), ("i would not consider it done", False)])
def test_a_phrase_marked_to_start_the_utterance_counts_only_there(text: str, plans: bool) -> None:
    assert bool(of(_talk("^ consider it done").say("rep", text), ActionPlan)) is plans, text


@pytest.mark.parametrize(("text", "plans"), [("all sorted", True), ("all sorted or not", False)])
def test_a_phrase_marked_to_end_the_utterance_counts_only_there(text: str, plans: bool) -> None:
    assert bool(of(_talk("all sorted $").say("rep", text), ActionPlan)) is plans, text
