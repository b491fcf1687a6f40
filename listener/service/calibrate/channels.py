"""``listener calibrate`` in channel-map mode: are the two lapel mics the right way round?

There is no direction to learn, but swapped mics (the rep's clipped on the channel configured as the
customer's) went unseen: analyze credited the rep's talk to the customer (share 39 %, truth 60 %), and
doctor and check-config said ok. While the rep talks alone their own mic leads the other by LEAD_DB on
most speech frames (listener.audio.leads: 69 % with the voice leaking 6 dB down to the other mic, 100 %
at 20 dB), and the customer's mic on few (room noise: 6-7 %). Whichever channel leads is the rep's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from listener.audio.channel_watch import ChannelWatch
from listener.audio.leads import OFTEN_SHARE, LeadMeter
from listener.config import PROCESSING_RATE_HZ, Config, geometry
from listener.console import output_may_fail
from listener.errors import CalibrationError, shown_path
from listener.events import AudioBlock, Event
from listener.service.calibrate.estimation import FULL_CONFIDENCE_S
from listener.service.calibrate.write import write_channels

# The leading channel leads at least this many times as often as the other: a customer answering now and
# then leads on their own words, which must not make the rep's mic look like theirs.
CLEAR_RATIO = 3.0
# Each mic must itself rise with the rep's voice (theirs, or it leaking in) in this share of the speech frames: an
# unplugged mic's hiss and hum (-70 dBFS, above the dead-channel rule) led nowhere, so the other mic "led" and an
# unplugged rep's mic read as swapped mics, which --write then swapped. The other mic hearing the rep's voice
# leak in 6, 12, 20 or 26 dB down (over -65 dBFS hiss) rose in 93, 87, 71 and 38 %.
HEARS_SHARE = 0.1
ALONE_ADVICE = "the rep should talk alone, each party's mic clipped near their mouth, then calibrate again"


@dataclass(frozen=True, slots=True)
class ChannelCheck:
    """Seconds of speech and the share of it each party's configured channel leads."""

    rep_channel: int
    customer_channel: int
    speech_s: float
    rep_lead_share: float
    customer_lead_share: float
    rep_hears_share: float  # share of the speech frames in which each mic itself rises with a voice
    customer_hears_share: float
    both_share: float = 0.0  # share led by one mic above its own noise and by the other in level (LeadShares)
    floors_apart_db: float = 0.0  # the customer's channel's noise floor less the rep's

    def silent_channel(self) -> str:
        """What to say of a mic that never rose with the rep's voice (unplugged, muted, its receiver off); ''."""
        for name, channel, hears_share in (
            ("rep_channel", self.rep_channel, self.rep_hears_share),
            ("customer_channel", self.customer_channel, self.customer_hears_share),
        ):
            if self.speech_s >= FULL_CONFIDENCE_S and hears_share < HEARS_SHARE:
                return (
                    f"{name} {channel} hears no voice while the rep talks (it rises above its own noise in "
                    f"{100 * hears_share:.0f} % of {self.speech_s:.1f} s of speech): unplugged, muted or its receiver "
                    "off, so which mic is whose is not measured; plug it in, then calibrate again"
                )
        return ""

    @property
    def verdict(self) -> str:
        """'right' (the rep's channel leads), 'swapped' (the customer's does), or 'unclear'."""
        if self.speech_s < FULL_CONFIDENCE_S:
            return "unclear"
        if self.rep_lead_share >= OFTEN_SHARE and self.rep_lead_share >= CLEAR_RATIO * self.customer_lead_share:
            return "right"
        if self.customer_lead_share >= OFTEN_SHARE and self.customer_lead_share >= CLEAR_RATIO * self.rep_lead_share:
            return "swapped"
        return "unclear"

    def message(self) -> str:
        verdict = self.verdict
        if verdict == "right":
            return (
                f"rep_channel {self.rep_channel} hears the rep loudest (leads in {100 * self.rep_lead_share:.0f} % of "
                f"the rep's {self.speech_s:.1f} s of speech): the mics are the right way round"
            )
        if verdict == "swapped":
            return (
                f"the rep's voice is louder on channel {self.customer_channel}, the customer's channel (it leads in "
                f"{100 * self.customer_lead_share:.0f} % of the rep's {self.speech_s:.1f} s of speech, rep_channel "
                f"{self.rep_channel} in {100 * self.rep_lead_share:.0f} %): the lapel mics are swapped: swap "
                "rep_channel and customer_channel in [parties] (or the mics)"
            )
        if self.speech_s < FULL_CONFIDENCE_S:
            return (
                f"only {self.speech_s:.1f} s of speech heard (calibrate needs {FULL_CONFIDENCE_S:g} s), so which mic "
                f"is the rep's is not known; {ALONE_ADVICE}"
            )
        if self.both_share >= OFTEN_SHARE:
            return self._gains_apart()
        return (
            f"neither mic clearly hears the rep loudest (rep_channel {self.rep_channel} leads in "
            f"{100 * self.rep_lead_share:.0f} % of {self.speech_s:.1f} s of speech, customer_channel "
            f"{self.customer_channel} in {100 * self.customer_lead_share:.0f} %): the customer talked as much, or the "
            f"mics are not one at each party's mouth; {ALONE_ADVICE}"
        )

    def _gains_apart(self) -> str:
        """Each mic leads by one measure: the channel with the higher floor is the louder (LeadShares)."""
        channels = (self.rep_channel, self.customer_channel)
        louder, quieter = channels if self.floors_apart_db < 0 else channels[::-1]
        return (
            f"the two mics disagree on which hears the rep: channel {louder} is the louder, channel {quieter} stands "
            f"further above its own noise (in {100 * self.both_share:.0f} % of {self.speech_s:.1f} s of speech; their "
            f"noise floors lie {abs(self.floors_apart_db):.0f} dB apart): one records with far more gain, or sits by a "
            "noise source; set both channels' capture gain alike (`alsamixer -c <card>`), then calibrate again"
        )


def check_channels(config: Config, events: Iterable[Event]) -> ChannelCheck:
    """Which of the two parties' channels leads while the rep talks (blocks hold rep, then customer)."""
    geo = geometry(config)
    meter = LeadMeter(PROCESSING_RATE_HZ)
    for event in events:
        if isinstance(event, AudioBlock):
            meter.add(event.samples)
    leads = meter.shares()
    rep_hears_share, customer_hears_share = meter.hears_speech()
    return ChannelCheck(
        geo.rep_channel,
        geo.customer_channel,
        leads.speech_s,
        leads.first_share,
        leads.second_share,
        rep_hears_share,
        customer_hears_share,
        leads.both_share,
        leads.floors_apart_db,
    )


def calibrate_channels(
    config: Config, config_path: Path | None, events: Iterable[Event], watch: ChannelWatch, write: bool, after: str
) -> int:
    """Measure and print; with ``write`` swap the two keys when the mics are swapped. ``after``: what follows a
    write (restarting the service that reads the file)."""
    check = check_channels(config, events)  # the watch has judged the recording by now: the events are spent
    # a dead or copied channel leads nobody: the measure says nothing of which mic is whose, so it is not shown
    refusal = _channels_refusal(watch) or check.silent_channel()
    if refusal:
        if write:
            raise CalibrationError(f"not written: {refusal}")
        print(refusal)
        return 0
    message, verdict = check.message(), check.verdict
    with output_may_fail():
        print(message, flush=True)
    if verdict == "unclear" and write:
        raise CalibrationError(f"not written: {message}")
    if verdict != "swapped":
        return 0
    if not write or config_path is None:
        where = f"in {shown_path(config_path)}" if config_path is not None else "and --config FILE"
        print(f"not written: run again with --write to swap them {where}")
        return 0
    write_channels(config_path, check.customer_channel, check.rep_channel)
    print(f"swapped rep_channel and customer_channel in [parties] in {shown_path(config_path)}{after}")
    return 0


def _channels_refusal(watch: ChannelWatch) -> str:
    if not watch.said:
        return ""
    return (
        "the two channels are not each a party's own mic (warned above), so which one hears the rep is not "
        "measured; fix the mics or the wiring, then calibrate again"
    )
