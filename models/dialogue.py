"""Two-party dialogues with realistic turn-taking timing, from dry utterances.

The floor holder speaks a turn of one to four utterances separated by
within-turn pauses of 0.2-1.5 s; half of the long utterances are broken
off mid-phrase by such a pause, sometimes after a filler ("um"), and a
question usually ends the turn. These are the turn-holding and
turn-yielding cues a listener (and the model) can hear: a pause after a
complete sentence or a question may be the end of the turn, one after a
broken-off phrase or a filler rarely is. The listener backchannels over the
holder's speech or in its pauses, sometimes starts in a pause while the
holder is only thinking (a premature start: the holder resumes within a
second), and at the end of the turn either takes over after a gap (mode
near 200 ms), overlaps the end of the turn, or interrupts. About 40 % of
the transitions overlap. Now and then the listener talks over the holder
for a few seconds without either giving way (competing talk, common in
meetings and at a busy counter). Companions sometimes speak for the customer.

Timing is planned on the 10 ms frame grid so the truth is exact; the truth
per party is the union of its utterances' own activity, with gaps under
0.2 s bridged (metrics.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import soxr

from models.corpus import BRIDGE_FRAMES, FRAME, RATE_HZ, SHORT_S, Utterance, bridge

P_OVERLAP_TRANSITION = 0.30
P_INTERRUPTION = 0.10
P_LONG_GAP = 0.06
P_BC_OVER_SPEECH = 0.30
P_COMPETING = 0.15  # the listener talks over the holder for 1-4 s and neither yields (meetings, busy counters)
COMPETING_S = (1.0, 4.0)
P_BC_IN_PAUSE = 0.25
P_PREMATURE = 0.15
P_SUCCESSFUL = 0.75
P_COMPANION = 0.15
P_SPLIT = 0.5  # a long utterance is broken off mid-phrase by a hold pause
P_FILLER = 0.35  # ... with a filler ("um") before the pause, where the voice has fillers
P_QUESTION_ENDS_TURN = 0.85
SENTENCE_KINDS = ("speech", "statement", "question")
SHORT_KINDS = ("speech", "backchannel")
MAX_UTTERANCES_PER_TURN = 4
REP, CUSTOMER, COMPANION = 0, 1, 2  # sources; the companion speaks for the customer


@dataclass(frozen=True, slots=True, eq=False)
class Placed:
    source: int
    start: int  # 10 ms frame
    audio: np.ndarray
    active: np.ndarray  # per 10 ms frame, already cut to what is played

    @property
    def party(self) -> int:
        return CUSTOMER if self.source == COMPANION else self.source

    @property
    def end(self) -> int:
        return self.start + len(self.active)


@dataclass(frozen=True, slots=True)
class Dialogue:
    frames: int
    placed: list[Placed]

    def sources(self) -> np.ndarray:
        """Dry signal of each source (3, samples)."""
        out = np.zeros((3, self.frames * FRAME))
        for p in self.placed:
            a = p.start * FRAME
            n = min(len(p.audio), len(out[0]) - a)
            if n > 0:
                out[p.source, a : a + n] += p.audio[:n]
        return out

    def truth(self) -> np.ndarray:
        """Per-party activity (2, frames), gaps under 0.2 s bridged."""
        act = np.zeros((2, self.frames), dtype=bool)
        for p in self.placed:
            n = min(len(p.active), self.frames - p.start)
            if n > 0:
                act[p.party, p.start : p.start + n] |= p.active[:n]
        return np.stack([bridge(a, BRIDGE_FRAMES) for a in act])


# Each voice's level, drawn once per dialogue: AMI's speakers in one excerpt differ by up to 20 dB,
# yet ±9 and ±12 dB did no better than ±6 (models/README.md, "Tried and left out").
VOICE_GAIN_SPREAD_DB = 6.0


class Voices:
    """The utterances each source draws from, with speed and level perturbation."""

    def __init__(self, pools: list[list[Utterance]], backchannels: list[Utterance], rng: np.random.Generator) -> None:
        talk = [[u for u in pool if u.kind in SENTENCE_KINDS] for pool in pools]
        self.long = [[u for u in p if u.seconds > SHORT_S] or p for p in talk]
        self.short = [[u for u in p if u.kind in SHORT_KINDS and u.seconds <= SHORT_S] or backchannels for p in pools]
        self.fillers = [[u for u in pool if u.kind == "filler"] for pool in pools]
        self.rng = rng
        self.speed = [float(rng.uniform(0.9, 1.1)) for _ in pools]
        self.gain_db = [float(rng.uniform(-VOICE_GAIN_SPREAD_DB, VOICE_GAIN_SPREAD_DB)) for _ in pools]

    def say(
        self, source: int, short: bool = False, max_frames: int | None = None, filler: bool = False
    ) -> tuple[np.ndarray, np.ndarray, str]:
        pool = self.fillers[source] if filler else (self.short if short else self.long)[source]
        utt = pool[int(self.rng.integers(len(pool)))]
        speed = self.speed[source] * float(self.rng.uniform(0.95, 1.05))
        audio = soxr.resample(utt.audio, RATE_HZ, RATE_HZ * speed).astype(np.float32)
        n = len(audio) // FRAME
        active = utt.active[np.minimum((np.arange(n) / speed).astype(int), len(utt.active) - 1)]
        softer = float(self.rng.uniform(2, 6)) if short else 0.0
        gain_db = self.gain_db[source] + float(self.rng.uniform(-2, 2)) - softer
        audio = audio[: n * FRAME] * 10 ** (gain_db / 20)
        if max_frames is not None and max_frames < n:
            fade = np.linspace(1.0, 0.0, 3 * FRAME)
            audio, active = audio[: max_frames * FRAME].copy(), active[:max_frames]
            audio[-len(fade) :] *= fade
        return audio, active, utt.kind


def _word_gap(audio: np.ndarray, lo: int, hi: int) -> int:
    """The quietest 10 ms frame between ``lo`` and ``hi``: a word boundary to break off at."""
    power = np.mean(audio[: len(audio) // FRAME * FRAME].reshape(-1, FRAME) ** 2, axis=1)
    smooth = np.convolve(power, np.ones(5) / 5, mode="same")
    return lo + int(np.argmin(smooth[lo:hi]))


def _faded(audio: np.ndarray) -> np.ndarray:
    ramp = np.minimum(1.0, np.arange(len(audio)) / 80.0)
    return (audio * ramp * ramp[::-1]).astype(np.float32)


def frames_of(seconds: float) -> int:
    return round(seconds * 100)


class Planner:
    """Lays out one dialogue, turn by turn."""

    def __init__(self, voices: Voices, frames: int, rng: np.random.Generator, companion: bool) -> None:
        self.voices, self.frames, self.rng, self.companion = voices, frames, rng, companion
        self.placed: list[Placed] = []

    def put(self, source: int, start: int, short: bool = False, max_frames: int | None = None) -> Placed:
        audio, active, _ = self.voices.say(source, short, max_frames)
        return self.place(source, start, audio, active)

    def place(self, source: int, start: int, audio: np.ndarray, active: np.ndarray) -> Placed:
        placed = Placed(source, start, audio, active)
        self.placed.append(placed)
        return placed

    def utterance(self, source: int, t: int, listener: int) -> tuple[Placed, str]:
        """One utterance from ``t``; long ones are sometimes broken off mid-phrase by a hold pause."""
        audio, active, kind = self.voices.say(source)
        if len(active) < 120 or self.rng.random() >= P_SPLIT:
            return self.place(source, t, audio, active), kind
        k = _word_gap(audio, int(0.3 * len(active)), int(0.75 * len(active)))
        head = self.place(source, t, _faded(audio[: k * FRAME]), active[:k])
        end = head.end
        if self.voices.fillers[source] and self.rng.random() < P_FILLER:
            f_audio, f_active, _ = self.voices.say(source, filler=True)
            end = self.place(source, end + frames_of(self.rng.uniform(0.03, 0.15)), f_audio, f_active).end
        resume = self.pause(end, listener)
        return self.place(source, resume, _faded(audio[k * FRAME :]), active[k:]), kind

    def speaker_of(self, party: int) -> int:
        if party == CUSTOMER and self.companion and self.rng.random() < 0.3:
            return COMPANION
        return party

    def plan(self) -> Dialogue:
        t = frames_of(self.rng.uniform(0.2, 1.5))
        holder = int(self.rng.integers(2))
        while t < self.frames:
            last = self.turn(holder, t)
            t, holder = self.transition(holder, last)
        return Dialogue(self.frames, self.placed)

    def turn(self, holder: int, t: int) -> Placed:
        listener = 1 - holder
        n = min(int(self.rng.geometric(0.5)), MAX_UTTERANCES_PER_TURN)
        source = self.speaker_of(holder)
        for j in range(n):
            utt, kind = self.utterance(source, t, listener)
            self.over(utt, listener)
            asked = kind == "question" and self.rng.random() < P_QUESTION_ENDS_TURN
            if j == n - 1 or asked or utt.end >= self.frames:
                return utt
            t = self.pause(utt.end, listener)
        return utt

    def over(self, utt: Placed, listener: int) -> None:
        """Sometimes the listener backchannels over ``utt``, or talks over it at length without taking the floor."""
        if utt.end - utt.start <= 200:
            return
        r = self.rng.random()
        if r < P_BC_OVER_SPEECH:
            self.put(self.speaker_of(listener), int(self.rng.integers(utt.start + 80, utt.end - 40)), short=True)
        elif r < P_BC_OVER_SPEECH + P_COMPETING:
            onset = int(self.rng.integers(utt.start + 30, utt.end - 100))
            self.put(self.speaker_of(listener), onset, max_frames=frames_of(self.rng.uniform(*COMPETING_S)))

    def pause(self, end: int, listener: int) -> int:
        """A within-turn pause after ``end``; returns when the holder resumes."""
        pause = frames_of(0.2 + 1.3 * self.rng.beta(1.3, 2.5))
        r = self.rng.random()
        if pause >= 50 and r < P_BC_IN_PAUSE:
            bc = self.put(self.speaker_of(listener), end + frames_of(self.rng.uniform(0.05, 0.3)), short=True)
            return max(end + pause, bc.end + frames_of(self.rng.uniform(0.1, 0.4)))
        if pause >= 40 and r < P_BC_IN_PAUSE + P_PREMATURE:
            onset = int(self.rng.integers(end + 15, end + pause - 4))
            cut = frames_of(self.rng.uniform(0.3, 0.9))
            self.put(self.speaker_of(listener), onset, max_frames=cut)
            return min(end + pause, onset + 100)  # the holder resumes within a second of the premature start
        return end + pause

    def transition(self, holder: int, last: Placed) -> tuple[int, int]:
        """Who holds the floor next, and from when."""
        r = self.rng.random()
        taker = 1 - holder
        length = last.end - last.start
        if r < P_INTERRUPTION and length > 100:
            onset = int(self.rng.integers(max(last.start + 50, last.end - 200), last.end - 40))
            if self.rng.random() < P_SUCCESSFUL:
                self.cut(last, onset + frames_of(self.rng.uniform(0.2, 1.2)))
                return onset, taker
            bid = self.put(self.speaker_of(taker), onset, max_frames=frames_of(self.rng.uniform(1.0, 1.6)))
            return max(last.end, bid.end) + frames_of(self.rng.uniform(0.1, 0.6)), holder
        if r < P_INTERRUPTION + P_OVERLAP_TRANSITION:
            return last.end - min(frames_of(self.rng.uniform(0.05, 0.7)), length - 30), taker
        if r > 1 - P_LONG_GAP:
            return last.end + frames_of(self.rng.uniform(1.5, 5.0)), taker
        return last.end + frames_of(0.05 + min(self.rng.gamma(2.0, 0.15), 2.5)), taker

    def cut(self, placed: Placed, end: int) -> None:
        """The holder falls silent at ``end`` (a successful interruption)."""
        if end >= placed.end:
            return
        keep = end - placed.start
        audio = placed.audio[: keep * FRAME].copy()
        audio[-3 * FRAME :] *= np.linspace(1.0, 0.0, 3 * FRAME)
        self.placed[self.placed.index(placed)] = Placed(placed.source, placed.start, audio, placed.active[:keep])


def make_dialogue(
    pools: list[list[Utterance]], backchannels: list[Utterance], seconds: float, rng: np.random.Generator
) -> Dialogue:
    """``pools``: utterances of the rep, the customer and a companion."""
    companion = rng.random() < P_COMPANION
    return Planner(Voices(pools, backchannels, rng), frames_of(seconds), rng, companion).plan()
