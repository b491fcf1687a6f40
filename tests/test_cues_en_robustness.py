"""English content cues, continued: fillers, word counts, and robustness (unknown words, spelling variants,
the customer's words, a lexicon written wrong, what is forgotten).

The same realistic recogniser output as test_cues_en.py (tests/cues_talk.py feeds it).
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from listener.errors import ConfigError, ModelError
from listener.events import (
    Acknowledgement,
    ActionPlan,
    Echo,
    Filler,
    Party,
    WordsRecognized,
)
from listener.transcription import lexicon
from listener.transcription.lexicon import Lexicon, load_lexicon
from tests.cues_talk import LEX, STORY, WORD_S, Talk, of, question, rep


def test_fillers_are_counted_and_not_words() -> None:
    events = rep("um so uh what model is it er")
    fillers = of(events, Filler)
    assert len(fillers) == 3
    assert [f.onset_s for f in fillers] == pytest.approx([0.0, 2 * WORD_S, 7 * WORD_S])  # type: ignore[attr-defined]
    (count,) = of(events, WordsRecognized)
    assert count.n_words == 5  # type: ignore[attr-defined]


@pytest.mark.parametrize("text", ["umbrella", "under the counter", "error code", "erm"])
def test_filler_near_misses(text: str) -> None:
    assert len(of(rep(text), Filler)) == (1 if text == "erm" else 0)


def test_unknown_words_are_no_words_and_never_match() -> None:
    # "[unk]" marks what the recogniser could not place, a noise as often as a word: no speaking rate from it
    talk = Talk()
    talk.say("customer", "[unk] [unk] stopped working")
    events = talk.say("rep", "[unk] [unk] is it still [unk]")
    (count,) = of(events, WordsRecognized)
    assert count.n_words == 3  # type: ignore[attr-defined]
    assert of(talk.say("rep", "[unk] <unk>"), WordsRecognized)[0].n_words == 0  # type: ignore[attr-defined]
    q = question(events)
    assert q is None  # "[unk] [unk] is it" does not start like a question
    assert not of(events, Echo)


def test_recogniser_spelling_variants_match_alike() -> None:
    for text in ["I'm sorry to hear that.", "I am sorry to hear that", "i’m SORRY to hear that"]:
        assert of(rep(text), Acknowledgement), text
    for text in ["I'll follow-up tomorrow", "i will follow up tomorrow"]:
        assert of(rep(text), ActionPlan), text


def test_customer_words_are_counted_but_give_no_rep_cues() -> None:
    talk = Talk()
    events = talk.say("customer", "um what do you think i'll follow up i understand")
    assert [type(e) for e in events] == [WordsRecognized]
    assert events[0].party is Party.CUSTOMER and events[0].n_words == 9  # type: ignore[attr-defined]


def test_forget_drops_the_words_held_between_utterances() -> None:
    talk = Talk()
    talk.say("customer", STORY)
    talk.say("rep", "the charger")
    assert talk.detector.holding
    talk.detector.forget()
    assert not talk.detector.holding
    q = question(talk.say("rep", "is the charger new"))
    assert q is not None and not q.followup


def test_unknown_language_names_the_available_ones() -> None:
    with pytest.raises(ConfigError, match=r"asr\.language.*available: en"):
        load_lexicon("xx")


def _english() -> dict[str, Any]:
    """The shipped English lexicon's tables, for a test to change."""
    return tomllib.loads(resources.files("listener").joinpath("data/lexicons/en.toml").read_text(encoding="utf-8"))


def test_a_pattern_of_look_aheads_only_is_matched_where_its_word_is() -> None:
    """A closed-question pattern that takes no word ("^ &reckon": the utterance begins with "reckon") makes
    "reckon it is broken" a closed question; it was not dropped for having no word to be looked up by."""
    assert question(rep("reckon it is broken")) is None  # the shipped lexicon: a statement
    data = _english()
    data["questions"]["closed"] = [*data["questions"]["closed"], "^ &reckon"]
    talk = Talk(lexicon=Lexicon(data, "test.toml"))
    asked = question(talk.say("rep", "reckon it is broken"))
    assert asked is not None and (asked.onset_s, asked.open_ended) == (0.0, False)
    assert question(talk.say("rep", "i reckon it is broken")) is None  # "^": only at the start


def test_a_pattern_naming_a_class_the_lexicon_lacks_is_refused() -> None:
    """ "{pronouns}" for "{pronoun}": the lexicon is refused, naming the pattern and the class to add."""
    data = _english()
    data["phrases"]["action"] = [*data["phrases"]["action"], "let me check {pronouns}"]
    with pytest.raises(ModelError) as err:
        Lexicon(data, "test.toml")
    assert str(err.value) == (
        "lexicon test.toml: pattern 'let me check {pronouns}' names unknown class {pronouns}: add it to [classes]"
    )


def test_a_lexicon_without_a_list_it_needs_is_refused_naming_the_key() -> None:
    data = _english()
    del data["questions"]["tag_objects"]
    with pytest.raises(ModelError) as err:
        Lexicon(data, "test.toml")
    assert str(err.value) == "lexicon test.toml: 'tag_objects' is missing or not a list: add it (see en.toml)"


def test_a_lexicon_that_is_not_toml_is_one_error_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A translator's xx.toml with a table header left open: a ModelError naming the file, line and column (the
    CLI's one line), not tomllib's TOMLDecodeError."""
    (tmp_path / "xx.toml").write_text('language = "xx"\n[normalise\n', encoding="utf-8")
    monkeypatch.setattr(lexicon, "_lexicons", lambda: tmp_path)  # where the package's lexicons would be
    with pytest.raises(ModelError) as err:
        load_lexicon("xx")
    assert str(err.value) == (
        "lexicon xx.toml is not valid TOML (Expected ']' at the end of a table declaration (at line 2, column 11)):"
        " fix the file"
    )


def test_a_contraction_inside_a_hyphenated_word_is_expanded() -> None:
    """A stutter printed "I-I'll" is "i i will": "I-I'll follow up tomorrow" is an action plan as
    "I'll follow up tomorrow" is."""
    assert LEX.normalise("I-I'll") == ["i", "i", "will"]
    assert [p.onset_s for p in of(rep("I-I'll follow up tomorrow"), ActionPlan)] == [0.0]  # type: ignore[attr-defined]


def test_a_possessive_is_the_word_it_belongs_to() -> None:
    """ "phone's" is "phone": "so your phone's charger" repeats two of the customer's content words (phone,
    charger), an echo; "so your phone's" repeats one, none."""
    assert LEX.normalise("phone's") == ["phone"]
    for text, echoes in (("so your phone's charger", 1), ("so your phone's", 0)):
        talk = Talk()
        talk.say("customer", STORY)
        assert len(of(talk.say("rep", text), Echo)) == echoes, text


@pytest.mark.parametrize("part", ["&!it", "!&it", "&", "!"])
def test_a_look_ahead_written_wrong_is_refused_not_read_otherwise(part: str) -> None:
    # "&!it" was read as "&it", the opposite; a bare "&" made its pattern dead in silence
    data = _english()
    data["phrases"]["action"] = [*data["phrases"]["action"], f"let me {part}"]
    with pytest.raises(ModelError, match=r"one mark before words"):
        Lexicon(data, "test.toml")


def test_the_echo_threshold_is_the_configs() -> None:
    """metrics.md names "≥ 2 content words" among the thresholds that are configuration defaults: it was a
    constant. Two words of the story repeated make an echo by default and none at [analytics] echo_min_words 3."""
    from listener.config import geometry, parse_config
    from listener.transcription.stage import TranscriptionStage

    config = parse_config({"analytics": {"echo_min_words": 3}})
    stage = TranscriptionStage(config, geometry(config))
    assert stage.detector.echo_min_words == stage.late_detector.echo_min_words == 3
    for words, echoes in ((2, True), (3, False)):
        talk = Talk(echo_min_words=words)
        talk.say("customer", STORY)
        assert bool(of(talk.say("rep", "so the charger and the update"), Echo)) is echoes, words
    three = Talk(echo_min_words=3)
    three.say("customer", STORY)
    assert of(three.say("rep", "so the charger stopped after the update"), Echo)


def test_what_takes_a_commitment_back_is_the_lexicons() -> None:
    """The words "not" and "never" after "will" were written in the detector's code, so a lexicon for another language
    could not name its own; they are [questions] deadline_negators now."""
    text = "it will never be ready by tomorrow"
    assert not of(rep(text), ActionPlan)
    data = _english()
    assert set(data["questions"]["deadline_negators"]) == {"not", "never"}
    data["questions"]["deadline_negators"] = ["not"]
    talk = Talk(lexicon=Lexicon(data, "test.toml"))
    assert len(of(talk.say("rep", text), ActionPlan)) == 1


def test_what_was_judged_from_the_words_goes_with_them() -> None:
    """A visit whose customer said no content word ("okay thank you very much"), and whose rep summed up, left
    the detector holding no words but the customer's floor and the echo already counted: the stage, which
    forgets only a detector that is ``holding``, carried both into the next visit, whose echo went uncounted."""
    talk = Talk()
    talk.say("customer", "okay thank you very much")
    assert of(talk.say("rep", "to sum up"), Echo)
    talk.say("customer", "bye")
    assert talk.detector.holding
    talk.detector.forget()
    assert not talk.detector.holding
    talk.say("customer", "my phone screen cracked yesterday after i dropped it")
    assert of(talk.say("rep", "so your phone screen cracked yesterday"), Echo)
