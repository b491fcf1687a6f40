"""``listener calibrate`` in direction mode on a mic at each party (lapel mics recorded as the array): said in one
line, with channel-map mode as the fix, and nothing written.

Two lapel mics with no ``rep_channel``/``customer_channel`` were read as an array: the rep talking alone came out
as a confidence of 0.29-0.33 and "the one at 180 deg talked most" (the rep's voice leaking 6, 12 or 20 dB down to
the other mic), which sent the installer to move the rep. The running service says such mics only after 30 s of
both parties speaking (``listener.audio.channel_watch``); here only the rep talks, and their own mic leads the
other by both of ``listener.audio.leads``' measures at once, as one array's mics never do (``CLEAR_SHARE``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from listener.audio.base import selected_channels
from listener.audio.channel_watch import ChannelWatch
from listener.audio.leads import LEAD_DB, LeadMeter, talkers_own_mic
from listener.config import PROCESSING_RATE_HZ, ArrayGeometry
from listener.events import AudioBlock, Event

# Speech looked at before two mics are said to be a mic at each party: a knock on one mic of an array is no talker.
# The rep's first 1.5 s on lapel mics (0.9 s of speech, too little for calibrate to place anyone) led by 100 %.
MIN_SPEECH_S = 0.5


class MicEachLook:
    """The levels of the array's first two mics while the rep talks: a mic at each party, or one array's."""

    def __init__(self, geometry: ArrayGeometry) -> None:
        self._meter = LeadMeter(PROCESSING_RATE_HZ)
        self._channels = selected_channels(geometry)[:2]

    def watched(self, events: Iterable[Event]) -> Iterator[Event]:
        """The events, each block's first two mics measured on the way."""
        for event in events:
            if isinstance(event, AudioBlock):
                self._meter.add(event.samples[:, :2])
            yield event

    def message(self, watch: ChannelWatch) -> str:
        """The line to say ('' for an array's mics). Not after the watch's warning: a dead channel leads nobody,
        and the other then leads it by both measures."""
        shares = self._meter.shares()
        own = talkers_own_mic(shares)
        if own is None or shares.speech_s < MIN_SPEECH_S or watch.said:
            return ""
        first, second = self._channels
        rep, customer = self._channels[own], self._channels[1 - own]
        return (
            f"channels {first} and {second} differ like a mic at each party, not one array's mics: while the rep "
            f"talked, channel {rep} was at least {LEAD_DB:g} dB louder than channel {customer}, above its own noise "
            f"too, in {100 * shares.clear_shares[own]:.0f} % of {shares.speech_s:.1f} s of speech (an array's mics "
            "differ by 1-2 dB), so no direction can be measured from them; fix: channel-map mode: [array] preset = "
            f'"generic", [parties] rep_channel = {rep} and customer_channel = {customer} in place of the azimuths, '
            "then calibrate again to check them"
        )
