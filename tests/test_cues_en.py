"""English content cues on realistic recogniser output: timed words, lower case, no punctuation.

vosk's English models print contractions as single words ("i'm", "don't"), fillers as
"uh" / "um", and "[unk]" for what they cannot place; that is what these utterances look like.
Questions, follow-ups, echoes and summaries here; acknowledgements, action plans, fillers and
robustness in test_cues_en_phrases.py. Every phrase family of ../shared/metrics.md "Content cues"
is covered, each with near misses that must not count.
"""

from __future__ import annotations

import pytest

from listener.events import (
    Echo,
    Event,
    Party,
)
from listener.transcription.cues import CueDetector
from listener.transcription.words import Word
from tests.cues_talk import LEX, STORY, WORD_S, Talk, of, question, rep

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
    "would you mind telling me what happened",
    "do you mind explaining the error",
    # an interjection before it (these once hid the question, or made "what model is it" closed)
    "mm-hmm and how long has it been doing that",
    "uh-huh when did you buy it",
    "i'm sorry what was your name",
    "excuse me what was the name",
    "ah what model is it",
    "let me see what model is it",
    "just to check what's your postcode",
    "of course what's your postcode",
    "how hard did you press it",  # a question, not "how hard" the acknowledgement
    "i understand what model is it",  # an acknowledgement, then a question: its auxiliary says so
    # a common interjection before it; a question word before "is it" asks, it is no tag
    "no worries how long have you had it",
    "thanks so much what happened",
    "that's fine how long have you had it",
    "awesome what model is it",
    "no worries what model is it",
    "i can help with that what model is it",  # after a sentence: the question word still opens it
    "how are you finding the new phone",  # no greeting: it goes on
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
    "oh dear is it cracked",
    "the update broke it didn't it",  # a tag after an object "it" ("that is it" is a statement)
    "that fixed it didn't it",
    "restarting fixes it doesn't it",
    "that did it didn't it",
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
    "let me check what happened",  # a check announced, then what is checked: no auxiliary behind "what"
    "let me check how long the repair takes",
    "let me see which one fits",
    "just to check what you paid",
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
    "this was it",
    "i guess that's it",
    "no it's not it",
    "i would recommend it if i were you",  # "were you" ends a condition, not a tag
    "good to have you",
    "how are you",  # greetings
    "hello how are you doing today",
    "how are you today",
    "good morning how are you",
    "hi there how are you",
    # an acknowledgement, then a clause: the question word opens no question
    "i'm sorry to hear what happened to your phone",
    "i understand what happened",
    "i understand why",
    "i understand how much you need it",
    "i can imagine how much you rely on it",
    "i appreciate how long you've waited",
    # instructions
    "do it now",
    "do it like this",
    "have it ready for friday",
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


def test_two_letter_names_of_things_are_content_words() -> None:
    # "tv", "pc", "id": what a counter talks about; "is", "to", "it" stay function words
    q = question(rep("is the tv plugged in", customer_before="my tv won't turn on since the update"))
    assert q is not None and q.followup
    echoes = of(rep("your tv is broken okay", customer_before="my tv is broken"), Echo)
    assert len(echoes) == 1
    assert not of(rep("it is to be done", customer_before="it is to be done"), Echo)


def test_no_followup_before_the_customer_said_anything() -> None:
    q = question(rep("how can i help you today"))
    assert q is not None and not q.followup


@pytest.mark.parametrize(
    ("customer", "text"),
    [
        ("hi i need some help with my phone today", "sure how can i help you today"),
        ("there's an issue with my phone it's a problem", "what's the issue with the problem"),
    ],
)
def test_words_of_every_visit_are_no_content(customer: str, text: str) -> None:
    # "help", "today", "problem", "issue": every customer says them, so repeating them follows up nothing
    events = rep(text, customer_before=customer)
    q = question(events)
    assert q is not None and not q.followup, text
    assert not of(events, Echo), text


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
        ("if i've understood correctly you'd like a new one", True),
        ("so what you're telling me is it never worked", True),
        ("if i'm hearing you right you want a refund", True),
        ("let me just make sure i've got this right", True),
        ("so what i hear is it stopped after the update", True),
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


def test_words_the_rep_said_before_the_customer_are_no_echo() -> None:
    talk = Talk()
    talk.say("customer", "hi i have a problem with my phone")
    talk.say("rep", "let me check the warranty status for you")
    talk.say("customer", "warranty status")  # the customer repeats the rep, not the other way round
    assert not of(talk.say("rep", "okay"), Echo)
    assert of(talk.say("rep", "the warranty status is fine"), Echo)  # now the rep repeats the customer


def test_discourse_words_are_no_content() -> None:
    assert not of(rep("alright fine", customer_before="alright that sounds fine actually"), Echo)


def test_a_summarising_phrase_may_straddle_a_recogniser_endpoint() -> None:
    talk = Talk()
    talk.say("customer", STORY)
    assert not of(talk.say("rep", "so if i"), Echo)
    echoes = of(talk.say("rep", "understand correctly you want a refund"), Echo)
    assert [e.summary for e in echoes] == [True]  # type: ignore[attr-defined]
    talk.detector.forget()  # the words it keeps for that go at the session's end
    assert not talk.detector.holding


@pytest.mark.parametrize(
    "text",
    [
        "i understand okay what happened",  # a lead-in after the acknowledgement: the question stands again
        "i understand anyway who installed it",
    ],
)
def test_a_lead_in_after_an_acknowledgement_opens_the_question_again(text: str) -> None:
    q = question(rep(text))
    assert q is not None and q.open_ended, text


@pytest.mark.parametrize("text", ["how hard has it been", "how frustrating must that be"])
def test_a_feeling_asked_about_is_an_open_question(text: str) -> None:
    # "how {feeling}" is an acknowledgement only when no auxiliary follows ({aux}: the lexicon's own list)
    q = question(rep(text))
    assert q is not None and q.open_ended, text


# --- edges a mutation run found unpinned ---------------------------------------------------------


def _said(detector: CueDetector, party: str, text: str, start_s: float, duration_s: float) -> list[Event]:
    """``text`` spread evenly over exactly ``duration_s``."""
    tokens = text.split()
    step_s = duration_s / len(tokens)
    words = [Word(w, start_s + k * step_s, start_s + (k + 1) * step_s, 0.9) for k, w in enumerate(tokens)]
    return detector.utterance(Party(party), words, decided_s=start_s + duration_s + 0.5)


@pytest.mark.parametrize("start_s", [9.0, 15.15])  # 16.15 - 15.15 is 0.9999999999999982 in floats
def test_a_customer_utterance_of_exactly_the_floor_time_takes_the_floor(start_s: float) -> None:
    detector = CueDetector(LEX, floor_take_s=1.0, echo_min_words=2)
    _said(detector, "customer", STORY, start_s - 9.0, 5.0)
    _said(detector, "rep", "let me have a look at that for you", start_s - 3.0, 2.0)  # the rep's floor
    _said(detector, "customer", "and the screen flickers", start_s, 1.0)  # a new floor, a new topic
    q = question(_said(detector, "rep", "is the charger the original one", start_s + 2.0, 1.5))
    assert q is not None and not q.followup  # the charger was the floor before


@pytest.mark.parametrize("start_s", [3.0, 15.15])
def test_a_rep_utterance_of_exactly_the_floor_time_takes_the_floor(start_s: float) -> None:
    # the customer's next words then open a new floor, which the follow-up compares with
    detector = CueDetector(LEX, floor_take_s=1.0, echo_min_words=2)
    _said(detector, "customer", STORY, start_s - 3.0, 2.0)
    _said(detector, "rep", "okay let me check", start_s, 1.0)
    _said(detector, "customer", "the screen flickers too", start_s + 1.5, 1.5)
    q = question(_said(detector, "rep", "is the charger the original one", start_s + 3.5, 1.5))
    assert q is not None and not q.followup


def test_a_customer_word_between_breaks_a_summarising_phrase() -> None:
    # "so if i" ... customer "mm" ... "understand correctly": not one phrase across the customer's word
    talk = Talk()
    talk.say("customer", STORY)
    talk.say("rep", "so if i")
    talk.say("customer", "mm")
    assert not [e for e in of(talk.say("rep", "understand correctly you want a refund"), Echo) if e.summary]  # type: ignore[attr-defined]


def test_an_auxiliary_three_words_after_the_question_word_still_makes_it_a_question() -> None:
    q = question(rep("i understand what exact model is it"))
    assert q is not None and q.open_ended
