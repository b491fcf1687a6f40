"""Generated event streams for the LED stage (hypothesis), for tests/test_leds_properties.py (tests/led_model.py
drives the stage through them).

A stream is well formed as the pipeline delivers it: each party's speech started, then closed 0.2 s after
it ends, never while the device hears nothing (paused, the array lost, the microphones dead); dominance
decided on while the rep talks, off for any of its reasons, on and off in turn; rep interruptions decided on
a rep start over the customer within interruption_min_s, and announced again with their outcome; each part
of the device (button, broker, recogniser, microphones, array) failing or pausing and coming back on its
own; audio as the clock, 0.1 s blocks, dropped while paused or while the array is lost. Times are audio
seconds, drawn in hundredths.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hypothesis import strategies as st

from listener.events import (
    AudioBlock,
    AudioDropped,
    DeviceMode,
    DeviceState,
    DominanceChanged,
    DominanceReason,
    Event,
    Interruption,
    Party,
    SourceState,
    SpeechSegment,
    SpeechStarted,
    TalkTotals,
)

SECONDS = 40.0  # the generated part; then TAIL_S with nothing new, for the lights to settle
TAIL_S = 16.0  # past the README's 10 s of quiet, 4 s interruption display and its 1.1 s hold, with a fade to spare
CLOSE_S = 0.2  # a stretch is closed this long after its end (led_script.speech)
SAME_PARTY_GAP_S = 0.3  # over bridge_gap_s (0.2 s): one stretch is closed before the same party's next begins

Speech = tuple[Party, float, float]
DEAF = ("button", "microphones", "array")  # while these hold, nothing is heard


@dataclass(frozen=True)
class Stream:
    events: tuple[Event, ...]  # in the order they are delivered
    speech: tuple[Speech, ...]

    def rep_talk_s(self, from_s: float, to_s: float) -> float:
        """At most the rep's talk in [from_s, to_s] the stage can count: an open stretch counts as it goes,
        until it is closed CLOSE_S after its end."""
        return sum(
            max(0.0, min(to_s, end_s + CLOSE_S) - max(from_s, start_s))
            for party, start_s, end_s in self.speech
            if party is Party.REP
        )

    def rep_end_before_s(self, t_s: float) -> float:
        return max((e for p, s, e in self.speech if p is Party.REP and e <= t_s), default=-math.inf)


def _cs(draw: st.DrawFn, low: int, high: int) -> float:
    return draw(st.integers(low, high)) / 100


def _holds(draw: st.DrawFn) -> list[tuple[str, float, bool]]:
    """(cause, time, held): each part's spells of pause or fault, the last one sometimes still held at the end,
    and sometimes a "listening" report with nothing held (a broker reachable at start)."""
    out: list[tuple[str, float, bool]] = []
    for cause in ("button", "broker", "transcription", "microphones", "array"):
        if draw(st.sampled_from([False, False, False, True])):
            out.append((cause, 0.0, False))
        t_s = -math.inf
        count = draw(st.sampled_from([0, 0, 0, 1, 2]))  # most parts never fail
        spells = st.lists(st.tuples(st.integers(0, 2500), st.integers(50, 1000)), min_size=count, max_size=count)
        to_the_end = draw(st.sampled_from([0, 0, 0, 1]))
        for k, (start, length) in enumerate(draw(spells)):
            t_s = max(t_s + 0.01, start / 100)
            out.append((cause, t_s, True))
            t_s += length / 100
            if t_s >= SECONDS or (to_the_end and k == count - 1):
                break
            out.append((cause, t_s, False))
    return out


def _report(cause: str, t_s: float, held: bool) -> Event:
    if cause == "array":
        return SourceState(t_s=t_s, available=not held, detail="array lost" if held else "array back")
    if cause == "button":
        mode = DeviceMode.PAUSED if held else DeviceMode.LISTENING
        return DeviceState(t_s=t_s, mode=mode, detail="privacy button", cause="button")
    mode = DeviceMode.FAULT if held else DeviceMode.LISTENING
    return DeviceState(t_s=t_s, mode=mode, detail=f"{cause} {mode.value}", cause=cause)  # type: ignore[arg-type]


def _deaf_spells(holds: list[tuple[str, float, bool]]) -> list[tuple[float, float]]:
    spells: list[tuple[float, float]] = []
    for cause in DEAF:
        since: float | None = None
        for c, t_s, held in holds:
            if c == cause and held and since is None:
                since = t_s
            elif c == cause and not held and since is not None:
                spells.append((since, t_s))
                since = None
        if since is not None:
            spells.append((since, math.inf))
    return spells


def _speech(draw: st.DrawFn) -> list[Speech]:
    """A conversation: each stretch begins inside the last one (the other party starting over it: an
    interruption, a backchannel), after it, or after a long quiet; mostly short turns, some long ones."""
    out: list[Speech] = []
    last_end_s = dict.fromkeys(Party, -math.inf)
    t_s, party = _cs(draw, 0, 300), draw(st.sampled_from(Party))
    lengths = st.one_of(st.integers(10, 150), st.integers(100, 1500))
    over = st.tuples(st.just("over"), st.floats(0.2, 0.95))  # where in the last stretch the other party starts
    after = st.tuples(st.sampled_from(["turn", "turn", "again"]), st.integers(-10, 400))
    quiet = st.tuples(st.just("turn"), st.integers(800, 1500))
    for length, (move, value) in draw(st.lists(st.tuples(lengths, st.one_of(over, over, after, quiet)), min_size=6)):
        start_s = max(t_s, last_end_s[party] + SAME_PARTY_GAP_S)
        if start_s >= SECONDS:
            break
        end_s = min(SECONDS, start_s + length / 100)
        out.append((party, start_s, end_s))
        last_end_s[party] = end_s
        t_s = start_s + (end_s - start_s) * value if move == "over" else end_s + value / 100
        party = party if move == "again" else Party.CUSTOMER if party is Party.REP else Party.REP
    return out


def _heard(speech: list[Speech], deaf: list[tuple[float, float]]) -> list[Speech]:
    """What the device reports of ``speech``: nothing while it hears nothing, so a stretch is cut there."""
    out: list[Speech] = []
    for party, start_s, end_s in speech:
        pieces = [(start_s, end_s)]
        for a_s, b_s in deaf:
            pieces = [p for s, e in pieces for p in ((s, min(e, a_s - 0.3)), (max(s, b_s + 0.3), e))]
        out += [(party, s, e) for s, e in pieces if e - s >= 0.1]
    return out


def _cut_ins(draw: st.DrawFn) -> tuple[list[Speech], list[tuple[str, float, bool]]]:
    """A customer talking on while the rep cuts in, up to four times, and one part pausing or failing and
    coming back around the first cut-in: where the interruption pulse meets a pause or a fault."""
    start_s = _cs(draw, 50, 300)
    speech: list[Speech] = [(Party.CUSTOMER, start_s, _cs(draw, 1500, 3000))]
    t_s = start_s + _cs(draw, 50, 300)
    for length in draw(st.lists(st.integers(20, 300), min_size=1, max_size=4)):
        speech.append((Party.REP, t_s, t_s + length / 100))
        t_s += length / 100 + _cs(draw, 30, 400)
    cause = draw(st.sampled_from(["button", "broker", "transcription", "microphones", "array"]))
    holds: list[tuple[str, float, bool]] = []
    t_s = speech[1][1]
    spells = st.lists(st.tuples(st.integers(-100, 800), st.integers(20, 600)), min_size=1, max_size=2)
    for offset, length in draw(spells):
        t_s += max(0.01, offset / 100)
        holds += [(cause, t_s, True), (cause, t_s + length / 100, False)]
        t_s += length / 100
    return speech, holds


def _speaking(speech: list[Speech], party: Party, t_s: float) -> bool:
    return any(p is party and s < t_s < e for p, s, e in speech)


def _interruptions(draw: st.DrawFn, speech: list[Speech]) -> list[Event]:
    out: list[Event] = []
    for party, start_s, end_s in speech:
        other = Party.CUSTOMER if party is Party.REP else Party.REP
        # a start over the other party, kept up for the decision (the turn model may decide it earlier)
        if end_s - start_s < 1.0 or not _speaking(speech, other, start_s) or not draw(st.sampled_from([1, 1, 0])):
            continue
        decided_s = start_s + _cs(draw, 30, 100)
        out.append(Interruption(by=party, onset_s=start_s, decided_s=decided_s, successful=None))
        if draw(st.booleans()):  # announced again with its outcome: the same interruption
            outcome_s = decided_s + _cs(draw, 10, 300)
            out.append(Interruption(by=party, onset_s=start_s, decided_s=outcome_s, successful=draw(st.booleans())))
    return out


def _dominance(draw: st.DrawFn, speech: list[Speech]) -> list[Event]:
    """On while the rep talks (README: "reached while the rep talks"), then off for one of its reasons."""
    out: list[Event] = []
    free_s = 0.0  # dominance is off from here
    for party, start_s, end_s in speech:
        if party is not Party.REP or not draw(st.booleans()):
            continue
        on_s = start_s + (end_s - start_s) * draw(st.floats(0.05, 0.95))
        if on_s <= free_s:
            continue
        out.append(DominanceChanged(True, max(0.0, on_s - 0.5), on_s, draw(st.floats(0.65, 1.0)), "share"))
        reason: DominanceReason = draw(st.sampled_from(["share", "monologue", "session_end"]))
        turns = [s for p, s, e in speech if p is Party.CUSTOMER and s > on_s and e - s > 1.0]
        if reason == "monologue" and turns:  # README: off "once the customer takes a turn"
            off_s = turns[0] + _cs(draw, 50, 200)
        else:  # often soon: a visit's end moments after amber lit is kept 4 s (README)
            off_s = on_s + draw(st.one_of(st.integers(10, 500), st.integers(10, 2500))) / 100
        if off_s >= SECONDS or not draw(st.sampled_from([1, 1, 1, 0])):
            break  # on to the end
        out.append(DominanceChanged(False, max(0.0, off_s - 0.5), off_s, draw(st.floats(0.0, 0.6)), reason))
        free_s = off_s
    return out


def delivered_at(event: Event) -> float:
    """When the pipeline hands ``event`` on: a start as its first frame is seen, the rest at their stamp."""
    if isinstance(event, SpeechStarted):
        return event.onset_s
    return stamp(event) or 0.0


def stamp(event: Event) -> float | None:
    """The audio time an event carries (None for a start, which carries only its onset)."""
    if isinstance(event, AudioBlock | AudioDropped):
        return event.end_s
    if isinstance(event, DeviceState | SourceState | TalkTotals):
        return event.t_s
    if isinstance(event, DominanceChanged | Interruption | SpeechSegment):
        return event.decided_s
    return None


@st.composite
def streams(draw: st.DrawFn, around_a_pulse: bool = False) -> Stream:
    speech, holds = _cut_ins(draw) if around_a_pulse else (_speech(draw), _holds(draw))
    speech = _heard(speech, _deaf_spells(holds))
    events: list[Event] = [_report(*h) for h in holds]
    for party, start_s, end_s in speech:
        events += [SpeechStarted(party, start_s), SpeechSegment(party, start_s, end_s, end_s + CLOSE_S)]
    events += _interruptions(draw, speech) + _dominance(draw, speech)
    # the share the lights must not follow (README: "the lights follow DominanceChanged, not the share")
    events += [TalkTotals(t_s=k * 5.0, rep_talk_s=draw(st.floats(0, 30)), customer_talk_s=10.0) for k in range(8)]
    return Stream(tuple(sorted(events, key=delivered_at)), tuple(speech))
