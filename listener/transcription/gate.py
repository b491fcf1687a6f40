"""Only the audio around speech goes to the recogniser.

A counter is quiet most of the day; decoding silence costs the Pi most of a
core for nothing. The gate holds each audio block until the activity
decision has caught up with it plus ``pad_s``, then passes on only the part
of it within ``pad_s`` of someone's speech: the pad keeps word onsets that the
activity decision confirms late and the trailing silence the recogniser
needs to close a word. Cut to the sample there, not passed whole, so the
recogniser hears the same stretches whatever the blocks (the service's 50 ms,
analyze's 1 s): a 1 s block near speech passed up to 0.95 s more of silence,
and vosk found other words in it. Audio the gate drops is silence, not skipped speech:
no cue is marked partial for it. Each stretch of speech reaches the
recogniser as its own piece, so vosk finishes and resets its decoder at
every gap instead of growing one endless utterance.

If no activity arrives at all (a pipeline without a decider), blocks pass
after ``max_hold_s``: the gate fails open, never losing speech.
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace

from listener.events import ActivityFrames, AudioBlock
from listener.frames import runs

MAX_HOLD_S = 5.0  # fail-open bound: far past any decider's lag (under a second), and little audio held
EPS_S = 1e-6  # block edges are sums of floats: touching is not overlapping


class SpeechGate:
    """AudioBlocks in, the ones near speech out, in order, once the activity covers them."""

    def __init__(self, pad_s: float, max_hold_s: float = MAX_HOLD_S) -> None:
        self.pad_s = pad_s
        self.max_hold_s = max_hold_s
        self._held: deque[AudioBlock] = deque()
        self._speech: deque[tuple[float, float]] = deque()  # merged (start_s, end_s) of recent speech
        self._known_s = 0.0  # audio time up to which activity has been decided
        self.passed_s = 0.0
        self.dropped_s = 0.0

    def audio(self, block: AudioBlock) -> list[AudioBlock]:
        self._held.append(block)
        return self._release(final=False)

    def activity(self, frames: ActivityFrames) -> list[AudioBlock]:
        self._known_s = max(self._known_s, frames.end_s)
        active = frames.rep_active | frames.customer_active
        if active.any():
            for start, end in runs(active):
                self._add(frames.start_s + start * frames.hop_s, frames.start_s + end * frames.hop_s)
        return self._release(final=False)

    def flush(self) -> list[AudioBlock]:
        """Everything still held, judged on the activity known so far (end of stream)."""
        return self._release(final=True)

    def _add(self, start_s: float, end_s: float) -> None:
        if self._speech and start_s <= self._speech[-1][1] + EPS_S:
            last_start, last_end = self._speech[-1]
            self._speech[-1] = (last_start, max(last_end, end_s))
        else:
            self._speech.append((start_s, end_s))

    def _release(self, *, final: bool) -> list[AudioBlock]:
        out = []
        while self._held:
            block = self._held[0]
            newest = self._held[-1].end_s
            decided = self._known_s >= block.end_s + self.pad_s
            if not (final or decided or newest - block.start_s > self.max_hold_s):
                break
            self._held.popleft()
            # undecided (no activity came): the whole block, failing open
            kept = self._near_speech(block) if decided or final else [block]
            out += kept
            passed_s = sum(b.duration_s for b in kept)
            self.passed_s += passed_s
            self.dropped_s += block.duration_s - passed_s
        return out

    def _near_speech(self, block: AudioBlock) -> list[AudioBlock]:
        """The parts of ``block`` within ``pad_s`` of speech, cut on the sample grid of the stream."""
        lo, hi = block.start_s - self.pad_s, block.end_s + self.pad_s
        while self._speech and self._speech[0][1] < lo - self.pad_s:
            self._speech.popleft()  # blocks come in order: nothing later can be this far back
        rate = block.sample_rate_hz
        first = round(block.start_s * rate)  # samples from the stream's start: the same cut whatever the block
        n = block.samples.shape[0]
        cuts: list[tuple[int, int]] = []  # sample ranges of the block, in order, apart
        for start, end in self._speech:
            if not (start < hi - EPS_S and end > lo + EPS_S):
                continue
            a = min(max(round((start - self.pad_s) * rate) - first, 0), n)
            b = min(max(round((end + self.pad_s) * rate) - first, 0), n)
            if cuts and a <= cuts[-1][1]:  # padded spans that meet: one part
                a = cuts.pop()[0]
            if b > a:
                cuts.append((a, b))
        return [replace(block, start_s=(first + a) / rate, samples=block.samples[a:b]) for a, b in cuts]
