"""English content cues on realistic recogniser output: timed words, lower case, no punctuation.

vosk's English models print contractions as single words ("i'm", "don't"), fillers as
"uh" / "um", and "[unk]" for what they cannot place; that is what these utterances look like.
Questions here; follow-ups, echoes and summaries in test_cues_en_echoes.py; acknowledgements, action
plans, fillers and robustness in test_cues_en_phrases.py. Every phrase family of ../shared/metrics.md
"Content cues" is covered, each with near misses that must not count.
"""

from __future__ import annotations

import pytest

from listener.events import Acknowledgement, ActionPlan, Party
from tests.cues_talk import WORD_S, Talk, of, question, rep

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
    "i understand can you tell me more",  # ... or an invitation to tell, however many words it takes
    # a common interjection before it; a question word before "is it" asks, it is no tag
    "no worries how long have you had it",
    "thanks so much what happened",
    "that's fine how long have you had it",
    "awesome what model is it",
    "no worries what model is it",
    "i can help with that what model is it",  # after a sentence: the question word still opens it
    "how are you finding the new phone",  # no greeting: it goes on
    # casual lead-ins and greetings as a recogniser prints them
    "yep and when did you buy it",
    "afternoon how can i help",
    "morning what can i do for you",
    "hiya what can i get you",
    "gotcha and how long have you had it",
    "nice one what's your postcode",
    # a stutter, as a recogniser prints it
    "can you can you tell me what happened",
    "what what model is it",
    "so so what happened",
    "and and when did you buy it",
    "okay can you can you tell me what happened",  # a stutter after a lead-in counts once too
    # a softener between the auxiliary and the invitation still invites the customer to tell
    "can you please tell me what happened",
    "can you just walk me through it",
    "could you quickly describe the noise",
    "would you mind just telling me what happened",
    "can i ask what happened",
    "may i ask how long you've had it",
    # openings a question word follows
    "so basically what happened",
    "okay so just quickly what happened",
    "so first of all what happened",
    "out of interest how long have you had it",
    "just quickly how long have you had it",
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
    "broke it didn't it",  # the same with its subject left out: the verb "broke" still makes "it" its object
    "that fixed it didn't it",
    "restarting fixes it doesn't it",
    "that did it didn't it",
    "morning is it still under warranty",
    "hiya do you have the receipt",
    "wonderful is there anything else",
    "nope is it the charger",
    "evening do you have an appointment",
    "is is it still under warranty",
    "do do you have the receipt",
    "did did you back it up",
    "is it is it still under warranty",
    "so is is it under warranty",  # ... after a lead-in too
    "broken is it",  # one word, then a tag
    "you know what model the old one was do you",  # a question word more than three words before the tag
    "have you have you tried restarting it",
    "how about that one",  # a suggestion: only "how about that" alone exclaims
    # "may i ask" asks openly only before a question word
    "can i ask if it's under warranty",
    "basically is it still under warranty",
    "was the battery replaced",
    "had the screen been cracked before",
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
    "let me check how long the repair will take",  # "will" four words behind "how": past the reach of three
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
    "morning how are you",
    "my name is sam how are you",  # a greeting after an introduction
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
    "how about that",  # an exclamation
    # openings before a statement or an instruction
    "basically it stopped working",
    "first of all it isn't charging",
    "just do the update",
    # a statement with its subject left out ("(it) was a pleasure")
    "was a pleasure to help",
    "had a look already",
    "does the trick",
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


def test_an_auxiliary_three_words_after_the_question_word_still_makes_it_a_question() -> None:
    q = question(rep("i understand what exact model is it"))
    assert q is not None and q.open_ended


@pytest.mark.parametrize("text", ["can i get that in writing", "could i get that sorted today"])
def test_a_request_that_holds_i_get_that_is_a_closed_question_and_no_acknowledgement(text: str) -> None:
    # "can i get that" counts as no acknowledgement (metrics.md); it still starts with an auxiliary before its subject
    events = rep(text)
    q = question(events)
    assert q is not None and not q.open_ended, text
    assert not of(events, Acknowledgement), text


@pytest.mark.parametrize("text", ["if i were you", "if we were you"])
def test_a_condition_ending_in_were_you_is_no_tag_on_its_own_either(text: str) -> None:
    # the recogniser may end the utterance before it ("i would wait" ... "if i were you")
    assert question(rep(text)) is None, text


@pytest.mark.parametrize("text", ["let me check how long has it been like that", "let me check what model is that"])
def test_a_plan_before_its_question_counts_however_the_question_ends(text: str) -> None:
    # "let me check: is it ..." plans and asks; a question ending in "that" (a word that holds a plan after it)
    # does not put the plan before it inside the question
    events = rep(text)
    q = question(events)
    assert q is not None and q.open_ended, text
    assert len(of(events, ActionPlan)) == 1, text
