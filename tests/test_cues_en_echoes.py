"""English cues that repeat the customer, on realistic recogniser output: follow-up questions, echoes, summaries."""

from __future__ import annotations

import pytest

from listener.events import Echo, Event
from tests.cues_talk import LEX, STORY, Talk, of, question, rep

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
    _asks_without_repeating(customer, text)


def _asks_without_repeating(customer: str, text: str) -> None:
    """The rep's ``text`` after the customer's is a question that neither follows up nor echoes."""
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
        "i'm not sure if i understand",  # confusion, not a summary: "if i understand" is inside it
        "i don't know if i understand",
        "i'm not sure whether i understood that",
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


def test_an_echo_begins_with_the_utterance_that_makes_it() -> None:
    talk = Talk()
    talk.say("customer", STORY)
    start_s = talk.t_s
    (echo,) = of(talk.say("rep", "so the charger stopped after the update"), Echo)
    assert echo.onset_s == start_s  # type: ignore[attr-defined]


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


# --- edges a mutation run found unpinned ---------------------------------------------------------


def _said(talk: Talk, party: str, text: str, start_s: float, duration_s: float) -> list[Event]:
    """``text`` spread evenly over exactly ``duration_s``."""
    return talk.say_at(party, (text, start_s, start_s + duration_s))


@pytest.mark.parametrize("start_s", [9.0, 15.15])  # 16.15 - 15.15 is 0.9999999999999982 in floats
def test_a_customer_utterance_of_exactly_the_floor_time_takes_the_floor(start_s: float) -> None:
    talk = Talk()
    _said(talk, "customer", STORY, start_s - 9.0, 5.0)
    _said(talk, "rep", "let me have a look at that for you", start_s - 3.0, 2.0)  # the rep's floor
    _said(talk, "customer", "and the screen flickers", start_s, 1.0)  # a new floor, a new topic
    q = question(_said(talk, "rep", "is the charger the original one", start_s + 2.0, 1.5))
    assert q is not None and not q.followup  # the charger was the floor before


@pytest.mark.parametrize("start_s", [3.0, 15.15])
def test_a_rep_utterance_of_exactly_the_floor_time_takes_the_floor(start_s: float) -> None:
    # the customer's next words then open a new floor, which the follow-up compares with
    talk = Talk()
    _said(talk, "customer", STORY, start_s - 3.0, 2.0)
    _said(talk, "rep", "okay let me check", start_s, 1.0)
    _said(talk, "customer", "the screen flickers too", start_s + 1.5, 1.5)
    q = question(_said(talk, "rep", "is the charger the original one", start_s + 3.5, 1.5))
    assert q is not None and not q.followup


def _after_a_backchannel(text: str) -> list[Event]:
    """The rep's ``text`` after the story, the rep's "okay" (0.28 s) and the customer going on about the screen."""
    talk = Talk()
    talk.say("customer", STORY)
    talk.say("rep", "okay")  # shorter than the floor time: a backchannel, the customer keeps the floor
    talk.say("customer", "and the screen flickers too")  # long enough to take a floor, were it the rep's
    return talk.say("rep", text)


def test_a_rep_utterance_shorter_than_the_floor_time_takes_no_floor() -> None:
    # the customer's words after it add to their floor, the story included: follow-ups and echoes compare with both
    q = question(_after_a_backchannel("is the charger the original one"))
    assert q is not None and q.followup  # the charger: in the story, not in the screen
    assert of(_after_a_backchannel("so the charger stopped after the update"), Echo)


def test_a_customer_word_between_breaks_a_summarising_phrase() -> None:
    # "so if i" ... customer "mm" ... "understand correctly": not one phrase across the customer's word
    talk = Talk()
    talk.say("customer", STORY)
    talk.say("rep", "so if i")
    talk.say("customer", "mm")
    assert not [e for e in of(talk.say("rep", "understand correctly you want a refund"), Echo) if e.summary]  # type: ignore[attr-defined]


# --- what an audit found ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "turns",
    [
        # two questions with the customer's short answer between: each repeats one word, no echo
        [
            "my phone stopped charging after the update",
            "okay what phone is it",
            "a samsung",
            "right and is it the original charger",
        ],
        [
            "the screen on my laptop keeps flickering",
            "right which laptop is it",
            "dell",
            "and when does the screen do that",
        ],
    ],
)
def test_a_customer_answer_ends_the_rep_turn_its_words_add_up_in(turns: list[str]) -> None:
    talk = Talk()
    for k, text in enumerate(turns):
        events = talk.say("customer" if k % 2 == 0 else "rep", text)
    q = question(events)
    assert q is not None and q.followup  # the short answer still belongs to the customer's floor
    assert not of(events, Echo), turns


def test_a_short_answer_still_allows_an_echo_of_the_floor() -> None:
    talk = Talk()
    talk.say("customer", "my phone stopped charging after the update")
    talk.say("rep", "okay what phone is it")
    talk.say("customer", "a samsung")
    assert of(talk.say("rep", "so the samsung stopped charging"), Echo)  # the answer's word and the floor's


@pytest.mark.parametrize(
    ("customer", "text"),
    [
        ("alright mate cheers", "cheers mate"),
        ("alright cheers mate thanks a lot", "cheers mate no worries"),
        ("brilliant cheers bye", "cheers bye now"),
        ("thanks have a nice day", "you too have a nice day"),
        ("morning hiya", "morning hiya you alright"),
        ("yep cheers", "yep cheers"),
        ("thanks bye take care", "take care bye"),
        ("good evening nice to see you", "good evening nice to see you too"),
        ("hey good afternoon", "hey afternoon"),
        ("yup you're welcome", "yup you're welcome"),
        ("nope no worries", "nope no worries"),
    ],
)
def test_greetings_goodbyes_and_chat_are_no_content(customer: str, text: str) -> None:
    assert not of(rep(text, customer_before=customer), Echo), text


@pytest.mark.parametrize(
    ("customer", "text"),
    [
        ("no i'm just looking thanks", "are you looking for anything in particular"),
        (
            "i was told i needed the receipt but i was wondering if there's another way",
            "who told you that you needed it",
        ),
        ("i was thinking maybe i'd get it fixed or maybe just buy a new one", "what were you thinking"),
        ("i wanted one for my son", "which one was wanted"),
        ("it just keeps saying the same thing", "what's it saying"),
        ("i've been trying to sort it out", "what have you been trying"),
        ("they're not letting me return it", "why aren't they letting you"),  # "let", its consonant doubled
    ],
)
def test_forms_of_stop_words_are_no_content(customer: str, text: str) -> None:
    _asks_without_repeating(customer, text)


@pytest.mark.parametrize(
    ("customer", "text"),
    [
        ("yeah it's still not working though", "okay though it was working when you left"),
        ("i was wondering whether you'd have this one in stock", "let me check whether we have it in stock"),
        ("there's nothing on the screen it's always black", "nothing at all it's always like that"),
    ],
)
def test_function_words_are_no_content(customer: str, text: str) -> None:
    assert not of(rep(text, customer_before=customer), Echo), text


def test_stop_word_forms_leave_words_that_only_look_alike() -> None:
    for word in ["looking", "thinking", "needed", "wanted", "told", "saying", "trying", "tried", "making", "getting"]:
        assert not LEX.content(word), word
    # "offer" ends like "off" + "er", "quitting" like "quite", "loved" like "lovely": all stay content words
    for word in ["charging", "stopped", "working", "offer", "offered", "quitting", "loved", "owner", "letter"]:
        assert LEX.content(word), word


def test_two_words_of_one_stem_repeated_are_two_words() -> None:
    """The customer's "charger" and "charging" share a stem; said back word for word they are two content words
    repeated, an echo. The rep's "charged" and "charging" for the customer's one "charge" are one word."""
    assert of(rep("so the charger isn't charging", customer_before="the charger isn't charging"), Echo)
    assert of(rep("so the printer won't print", customer_before="the printer won't print"), Echo)
    assert not of(rep("so it charged and then charging just ended", customer_before="it won't charge anymore"), Echo)


@pytest.mark.parametrize(
    ("customer", "asked"), [("i've used it every day", "how do you use it"), ("it died on me", "when did it die")]
)
def test_a_short_words_forms_follow_it_up(customer: str, asked: str) -> None:
    """A suffix that leaves two letters took the word's final "e" with it: "used" and "use", "died" and "die" were
    three letters apart in stems ("us" never being stripped to), so the question followed nothing up."""
    q = question(rep(asked, customer_before=customer))
    assert q is not None and q.followup


@pytest.mark.parametrize(
    ("customer", "asked"),
    [
        ("none of my apps will open", "which app is it"),  # a stem of three letters, min_stem: "apps" is "app"
        ("i unplugged it last night", "why did you unplug it"),  # a doubled letter goes, in a word begun by a vowel
        ("i dropped it yesterday", "how far did it drop"),  # ... only one of the two
        ("i tried both my email addresses", "which address did you try"),  # "-ss" is kept, and "addresses" has it
    ],
)
def test_the_forms_of_a_word_follow_it_up(customer: str, asked: str) -> None:
    """metrics.md: a follow-up reuses a content word of the customer's, stemmed; only the one word links these."""
    q = question(rep(asked, customer_before=customer))
    assert q is not None and q.followup, asked
