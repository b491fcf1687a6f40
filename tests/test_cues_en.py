"""English content cues on realistic recogniser output: timed words, lower case, no punctuation.

vosk's English models print contractions as single words ("i'm", "don't"), fillers as
"uh" / "um", and "[unk]" for what they cannot place; that is what these utterances look like.
Every phrase family of ../shared/metrics.md "Content cues" is covered, each with near misses
that must not count.
"""

from __future__ import annotations

import pytest

from listener.errors import ConfigError
from listener.events import (
    Acknowledgement,
    ActionPlan,
    Echo,
    Event,
    Filler,
    Party,
    Question,
    WordsRecognized,
)
from listener.transcription.cues import CueDetector
from listener.transcription.lexicon import load_lexicon
from listener.transcription.words import Word

LEX = load_lexicon("en")
WORD_S = 0.32  # ~3 words a second, like conversational speech


class Talk:
    """A conversation fed utterance by utterance, the way the stage feeds the detector."""

    def __init__(self) -> None:
        self.detector = CueDetector(LEX, floor_take_s=1.0)
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


# --- questions ---------------------------------------------------------------

OPEN = [
    "what seems to be the problem",
    "what's going on with it",
    "how long have you had it",
    "why do you think it stopped",
    "where did you buy it",
    "which one did you get",
    "tell me what happened",
    "describe the noise it makes",
    "walk me through what you did",
    "can you tell me more about that",
    "could you describe the error message",
    "would you walk me through the steps",
    "okay so what happened next",
    "um so uh what model is it",
    "i understand how long has it been like this",
    "i'm sorry to hear that what did the screen show",
    "thank you what is your order number",  # after thanks
    "perfect what model is it",
    "how'd it break",  # contractions vosk may print
    "where'd you buy it",
    "what're you looking for",
    "how come it stopped",
]
CLOSED = [
    "do you have the receipt",
    "is it still under warranty",
    "are you the account holder",
    "can i see the phone",
    "did it get wet",
    "will you be home tomorrow",
    "have you tried restarting it",
    "does it charge at all",
    "don't you have a backup",
    "isn't that the old model",
    "is there anything else",
    "was the box sealed",
    "it stopped charging didn't it",
    "you've had it two weeks haven't you",
    "how about a replacement",
    "anything else i can help with",
    "right and do you still have the box",
    "just to make sure is it still under warranty",  # after a check phrase
    "you don't have one do you",  # positive tags
    "you're not the owner are you",
    "you haven't tried that have you",
    "do your lights flash",
    "do any of the lights flash",
]
NOT_QUESTIONS = [
    "what a day",
    "how nice of you",
    "what i'll do is call the store",
    "what you need is a new cable",
    "how we do it is simple",
    "i know what you mean",
    "i wonder why",
    "why not",
    "do the update first",
    "have a seat",
    "will do",
    "that isn't it",
    "the phone is new",
    "let me check how it works",
    "so what i'm hearing is it won't charge",
    "you can do it online",
    "somewhat",
    "whatever works for you",
    "when it arrives i'll call you",  # a question word opening a clause, not a question
    "when the part comes in we'll ring you",
    "which is why we need the receipt",
    "what the technician will do is run a test",
    "how it works is you pay monthly",
    "that'll do it",  # "do it" ends a statement, it is no tag
    "we finally did it",
    "that is it",
    "so do i",
    "neither can we",
]


@pytest.mark.parametrize("text", OPEN)
def test_open_questions(text: str) -> None:
    q = question(rep(text))
    assert q is not None and q.open_ended, text


@pytest.mark.parametrize("text", CLOSED)
def test_closed_questions(text: str) -> None:
    q = question(rep(text))
    assert q is not None and not q.open_ended, text


@pytest.mark.parametrize("text", NOT_QUESTIONS)
def test_near_misses_are_not_questions(text: str) -> None:
    assert question(rep(text)) is None, text


def test_question_times_span_the_utterance() -> None:
    talk = Talk()
    talk.say("customer", "hello there")
    events = talk.say("rep", "how can i help")
    q = question(events)
    assert q is not None
    assert q.onset_s == pytest.approx(2 * WORD_S + 0.7)
    assert q.end_s == pytest.approx(q.onset_s + 4 * WORD_S - 0.04)
    assert q.decided_s >= q.end_s and q.by is Party.REP


# --- follow-ups ----------------------------------------------------------------

STORY = "my phone stopped charging after the update last night and the charger is brand new"


@pytest.mark.parametrize(
    ("text", "followup"),
    [
        ("which charger are you using", True),  # charger
        ("did the update finish", True),  # update
        ("was it charging before the updates", True),  # charging / updates: other forms of the same words
        ("is the phone in a case", True),
        ("do you have the receipt", False),  # nothing of the story
        ("what can i do for you", False),  # only stop words in common ("my", "the")
        ("is it new", True),  # "new" is in the story
        ("is it old", False),
    ],
)
def test_followup_reuses_a_content_word_of_the_customers_floor(text: str, followup: bool) -> None:
    q = question(rep(text, customer_before=STORY))
    assert q is not None
    assert q.followup is followup, text


def test_followup_compares_with_the_customers_last_floor_only() -> None:
    talk = Talk()
    talk.say("customer", "the screen cracked when i dropped it on the stairs")
    talk.say("rep", "i'm sorry to hear that let's have a look")
    talk.say("customer", "also my bill was higher than usual this month")
    q = question(talk.say("rep", "did the screen crack right away"))
    assert q is not None and not q.followup  # the screen was the previous floor
    q = question(talk.say("rep", "how much higher was the bill"))
    assert q is not None and q.followup


def test_short_answer_counts_as_the_customers_words() -> None:
    talk = Talk()
    talk.say("customer", "it keeps turning off")
    talk.say("rep", "what's not working exactly")
    talk.say("customer", "battery")  # a one-word answer takes no floor but is what the customer said
    q = question(talk.say("rep", "how old is the battery"))
    assert q is not None and q.followup


def test_no_followup_before_the_customer_said_anything() -> None:
    q = question(rep("how can i help you today"))
    assert q is not None and not q.followup


# --- echoes and summaries ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "summary"),
    [
        ("so the charger stopped working after the update", False),
        ("the update broke charging then", False),
        ("so what i'm hearing is you want it fixed today", True),
        ("just to make sure you want a refund", True),
        ("if i understand correctly you'd like a new one", True),
        ("so you're saying it never worked", True),
        ("let me recap", True),
        ("if i'm understanding correctly you'd like a new one", True),
        ("just so i understand you want a refund", True),
    ],
)
def test_echo_or_summary(text: str, summary: bool) -> None:
    echoes = of(rep(text, customer_before=STORY), Echo)
    assert len(echoes) == 1, text
    assert echoes[0].summary is summary  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "text",
    [
        "let me check the charger",  # one content word of the story, no summarising phrase
        "make sure you bring the receipt",  # "make sure" without "just to"
        "i don't understand",
        "what do you mean",
        "okay",
    ],
)
def test_echo_near_misses(text: str) -> None:
    assert not of(rep(text, customer_before=STORY), Echo), text


def test_one_echo_per_rep_turn_and_a_new_turn_after_the_customer_takes_the_floor() -> None:
    talk = Talk()
    talk.say("customer", STORY)
    assert of(talk.say("rep", "so the charger stopped after the update"), Echo)
    assert not of(talk.say("rep", "and the charger is new you said"), Echo)
    talk.say("customer", "yes")  # a backchannel: no new floor
    assert not of(talk.say("rep", "just to make sure"), Echo)
    talk.say("customer", "the store said the cable might be faulty")
    assert of(talk.say("rep", "so the store thinks it's the cable"), Echo)


def test_echo_builds_over_the_rep_turn() -> None:
    talk = Talk()
    talk.say("customer", STORY)
    assert not of(talk.say("rep", "the charger"), Echo)
    assert of(talk.say("rep", "and the update"), Echo)


# --- acknowledgement and empathy ------------------------------------------------

ACKS = [
    "i understand",
    "i completely understand that",
    "i can see why that's annoying",
    "that must be frustrating",
    "that must have been stressful",
    "i appreciate your patience",
    "thank you for your patience",
    "i'm sorry to hear that",
    "sorry to hear about the delay",
    "okay i see",
    "that makes sense",
    "i hear you",
    "how frustrating",
    "oh no that sounds awful",
    "that must be really frustrating",
    "that must be a pain",
    "i really appreciate your patience",
    "thanks for bearing with me",
    "i totally get it",
    "i do understand",
]
NOT_ACKS = [
    "do you understand",
    "i don't understand",
    "that must be the cable",
    "i see you have the pro model",
    "sorry i didn't hear you",
    "i can't see why it would do that",
    "it makes no sense",
    "i appreciated",  # a different word
]


@pytest.mark.parametrize("text", ACKS)
def test_acknowledgements(text: str) -> None:
    assert len(of(rep(text), Acknowledgement)) == 1, text


@pytest.mark.parametrize("text", NOT_ACKS)
def test_acknowledgement_near_misses(text: str) -> None:
    assert not of(rep(text), Acknowledgement), text


def test_summary_phrase_is_not_also_an_acknowledgement() -> None:
    events = rep("if i understand you correctly it broke twice")
    assert of(events, Echo) and not of(events, Acknowledgement)


# --- action plans ---------------------------------------------------------------

PLANS = [
    "here's what i'll do",
    "here's what we can do for you",
    "the next step is a factory reset",
    "i'll send you the form tonight",
    "i will call the warehouse",
    "i'll follow up tomorrow",
    "we'll replace it",
    "let me check the stock",
    "i'm going to order a new one",
    "leave it with me",
    "when it arrives i'll call you",
    "let me follow up on that",
    "our next step is a reset",
]
NOT_PLANS = [
    "will i need the receipt",  # a question
    "what's the next step",  # asking, not planning
    "i won't be able to fix it today",
    "do you think i will need it",
    "she will call",
    "i wouldn't do that",
]


@pytest.mark.parametrize("text", PLANS)
def test_action_plans(text: str) -> None:
    assert len(of(rep(text), ActionPlan)) == 1, text


@pytest.mark.parametrize("text", NOT_PLANS)
def test_action_plan_near_misses(text: str) -> None:
    assert not of(rep(text), ActionPlan), text


def test_a_plan_may_announce_a_question() -> None:
    events = rep("let me check is it under warranty")
    q = question(events)
    assert q is not None and not q.open_ended
    assert len(of(events, ActionPlan)) == 1


@pytest.mark.parametrize("text", ["uh-huh", "mm-hmm", "uh-huh okay"])
def test_backchannel_words_are_no_fillers_and_no_content(text: str) -> None:
    talk = Talk()
    talk.say("customer", "uh-huh mm-hmm")
    events = talk.say("rep", text)
    assert not of(events, Filler) and not of(events, Echo)
    (count,) = of(events, WordsRecognized)
    assert count.n_words == len(text.split())  # type: ignore[attr-defined]


def test_one_action_plan_per_utterance() -> None:
    assert len(of(rep("here's what i'll do i'll call them and i'll email you"), ActionPlan)) == 1


# --- fillers, word counts, robustness ------------------------------------------


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


def test_unknown_words_count_as_words_but_never_match() -> None:
    talk = Talk()
    talk.say("customer", "[unk] [unk] stopped working")
    events = talk.say("rep", "[unk] [unk] is it still [unk]")
    (count,) = of(events, WordsRecognized)
    assert count.n_words == 6  # type: ignore[attr-defined]
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
