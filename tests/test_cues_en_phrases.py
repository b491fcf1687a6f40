"""English content cues, continued: acknowledgement and empathy, and action plans (fillers and robustness:
test_cues_en_robustness.py).

The same realistic recogniser output as test_cues_en.py (tests/cues_talk.py feeds it).
"""

from __future__ import annotations

import pytest

from listener.events import (
    Acknowledgement,
    ActionPlan,
    Echo,
    Filler,
    Question,
    WordsRecognized,
)
from tests.cues_talk import Talk, of, question, rep

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
    "i can totally understand that",
    "must be frustrating",
    "that must be a bit frustrating",
    "that must be a hassle",
    "that's frustrating",
    "that's so frustrating",
    "that sounds like a nightmare",
    "that must be a real pain",
    "i'm sorry you've been waiting",
    "i'm really sorry about the wait",
    "i get that",
    "i get that you're busy",
    "you're right",
    "you're right about the cable",
    "i can see that",
    "i can see that's frustrating",
    "i hear what you're saying",
    "that's frustrating for you",
    "that's so frustrating i'm sorry",
    "you're right it's the charger",  # the fact that follows is no question ("is the charger"): see below
    "that must have been a pain",
    "i totally get that",
    # the definition's "that must be" with any trouble, and the everyday forms of it
    "that must be a worry",
    "that must be a real nuisance",
    "that must be a bit of a nightmare",
    "that must have been a bit of a shock",
    "you must be frustrated",
    "you must be so fed up",
    "i know how you feel",
    "that's understandable",
    "i apologise for the inconvenience",
    "sorry for the inconvenience",
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
    "i'm not sure i understand",  # confusion, not empathy
    "i don't think i understand what you mean",
    "can i get that email address",  # a request; "i get that" is inside it
    "how hard did you press it",  # a question about force, not "how hard" for the customer
    "how difficult was it to set up",
    "that's hard to say",  # a feeling word about a task, not the customer
    "that's difficult to fix",
    "i hear you bought it online",  # what the rep was told, not empathy
    "i get that a lot",
    "you're right next to it",
    "i can see that the screen is cracked",
    "that's hard on the battery",  # a feeling word said of a thing, not of the customer's plight
    "that's difficult because the part is discontinued",
    "that's terrible reception in here",
    "that's hard plastic",
    "that's tough on the screen",
    # the rep checking its own explanation, not understanding the customer
    "so the warranty covers the screen but not the battery if that makes sense",
    "hopefully that makes sense",
    "i'm not sure that makes sense",
    "i don't know if that makes sense",
    "no i don't think that makes sense",
    "i hope that makes sense",
    "i can see how to fix it",  # knowing the fix, not the customer's feeling
    "i understand nothing about phones",  # not understanding at all
    "that must be a mistake",  # said of a thing
    "i know how you set it up",
    "you must be the account holder",
]


@pytest.mark.parametrize("text", ACKS)
def test_acknowledgements(text: str) -> None:
    assert len(of(rep(text), Acknowledgement)) == 1, text


@pytest.mark.parametrize("text", NOT_ACKS)
def test_acknowledgement_near_misses(text: str) -> None:
    assert not of(rep(text), Acknowledgement), text


@pytest.mark.parametrize(
    "text", ["you're right it's the charger", "i get that it's a pain", "i hear you it's the battery"]
)
def test_the_clause_after_an_acknowledgement_is_no_question(text: str) -> None:
    # the continuation took the clause's subject, and what was left ("is the charger") read as a closed question
    events = rep(text)
    assert of(events, Acknowledgement) and not of(events, Question), events


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
    "let me have a look",
    "let me take a look at it",
    "let me just check",
    "next step is to send it off",
    "what we can do is send it off",
    "i'll be in touch",
    "i'll be calling you back this afternoon",
    "i will be ordering the part today",
    "i'm going to be calling you back",
    "let me just have a look",
    "let me go and check the back",
    "let me go and have a look for you",
    "i can order that in for you",
    "i can book you in for tomorrow",
    "i'll just check",  # "just" opens no request here
    "i'll need to order the part",
    "it'll be ready by tomorrow",  # a time after a subject and "will"
    "we can have it done by the end of the day",
    "it'll be ready by friday",  # a day is a time too
    "we can have it done by next monday",
    "i will probably call you tomorrow",  # a hedge takes nothing back without its "not"
    "i'll order a new one shall i",  # a statement closed by a tag: the tag asks, the statement commits
]
NOT_PLANS = [
    "will i need the receipt",  # a question
    "you don't think i'll call them do you",  # a tag asks its statement: "think" holds the plan, as without it
    "you know that i'll order it in don't you",
    "it's fine if i'll call you later isn't it",
    "can we have it by friday can we",  # asked, before and after: no subject stands before its first "can"
    "what's the next step",  # asking, not planning
    "i won't be able to fix it today",
    "do you think i will need it",
    "she will call",
    "i wouldn't do that",
    "i will never buy this brand again",
    "we'll see",
    "i'll be honest with you",
    "i'll be right with you",
    "i'll be happy to look",
    "i'm going to be honest",  # as "i'll be honest"
    "i'm going to be straight with you",
    "we're going to be honest with you",
    # requests, not plans
    "i'll just need your postcode",
    "we'll need the passcode",
    "i'm going to need the receipt",
    "i'll just need to see some id",
    # a time without a commitment
    "it won't be ready by tomorrow unfortunately",
    "will it be ready by tomorrow",
    "so will it be ready by tomorrow",  # "will" after no subject: still the question's
    "it should be here by the end of the day",
    # a hedge between "will" and its "not" takes the commitment back all the same
    "i'll probably not have it till monday",
    "i will definitely not be able to fix that",
    "we'll just not bother with that",
    "it will probably not be ready by tomorrow",
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


@pytest.mark.parametrize(
    "text",
    [
        "is it under warranty let me check",
        "do you have the receipt i'll process the refund",
        "is that okay i'll order it in for you",
        "can i take your number and i'll call you when it comes in",
        "does that sound okay i'll ring you tomorrow",
        "what's your number i'll text you when it's ready",
    ],
)
def test_a_plan_may_follow_a_question(text: str) -> None:
    events = rep(text)
    assert question(events) is not None and len(of(events, ActionPlan)) == 1, text


@pytest.mark.parametrize(
    "text",
    [
        "will i need the receipt",
        "what will i need to bring",
        "do you think i'll need the receipt",
        "do you know if we'll need the box",
        "are you sure i'll need it",
        "what would the next step be",
        "what are the next steps",
    ],
)
def test_a_plan_inside_a_question_plans_nothing(text: str) -> None:
    events = rep(text)
    assert question(events) is not None and not of(events, ActionPlan), text


@pytest.mark.parametrize("text", ["uh huh", "mm hmm", "mm hmm right", "uh huh okay"])
def test_a_backchannel_printed_as_two_words_is_one_word_and_no_filler(text: str) -> None:
    events = rep(text)
    assert not of(events, Filler), text
    (count,) = of(events, WordsRecognized)
    assert count.n_words == len(text.split()) - 1  # type: ignore[attr-defined]


def test_one_action_plan_per_utterance() -> None:
    assert len(of(rep("here's what i'll do i'll call them and i'll email you"), ActionPlan)) == 1
