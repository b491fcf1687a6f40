"""The journal's word on a recogniser that cannot keep up with live audio.

Behind by ``[asr] queue_s`` with ``overflow`` "skip" (the array, a paced ``run --input``), the recogniser
gives up its oldest audio: the cues of the sessions then read ``asr_partial``, and nothing else shows it
(the lights and the state stay at listening). The pipeline's own overflows are logged; so is this, thinned.
"""

from __future__ import annotations

import logging
import math

log = logging.getLogger(__name__)

SAY_AGAIN_S = 600.0  # while skipping goes on, its running total is said at most this often (audio time)
CAUGHT_UP_S = 60.0  # this long without a skip (audio time): the recogniser keeps up again


class LagNotice:
    """Says when the recogniser starts skipping audio, then at most every SAY_AGAIN_S while it goes on, and
    once when it keeps up again. Seconds of audio only: what was skipped was never recognised."""

    def __init__(self, queue_s: float, speech_only: bool) -> None:
        self.queue_s = queue_s
        self.speech_only = speech_only
        self.skipped_s = 0.0  # in the whole run
        self._said_s = -math.inf  # audio time of the last warning
        self._last_skip_s: float | None = None  # while behind: audio time of the latest skip
        self._said_this_time = False  # whether this spell of skipping was said (its end is said only then)

    def skipped(self, duration_s: float, now_s: float) -> None:
        self.skipped_s += duration_s
        if self._last_skip_s is None:
            self._said_this_time = False
        self._last_skip_s = now_s
        if now_s - self._said_s < SAY_AGAIN_S:
            return
        self._said_s, self._said_this_time = now_s, True
        speech_only = (
            "[asr] speech_only is on" if self.speech_only else "set [asr] speech_only = true to decode only speech"
        )
        log.warning(
            "the speech recogniser cannot keep up with the audio: %.1f s of it skipped in the %.0f s since the start,"
            " so the sessions' cues are partial (asr_partial); free the CPU (other programs, a hot or throttled"
            " Pi: see top and vcgencmd get_throttled), %s, and for bursts raise [asr] queue_s (now %.0f s, at most"
            " 120)",
            self.skipped_s,
            now_s,
            speech_only,
            self.queue_s,
        )

    def tick(self, now_s: float) -> None:
        """Audio has reached ``now_s``: a recogniser that skipped nothing for CAUGHT_UP_S keeps up again."""
        if self._last_skip_s is None or now_s - self._last_skip_s < CAUGHT_UP_S:
            return
        self._last_skip_s = None
        if self._said_this_time:
            log.info(
                "the speech recogniser keeps up again: nothing skipped for %.0f s (%.1f s skipped in all so far)",
                CAUGHT_UP_S,
                self.skipped_s,
            )
