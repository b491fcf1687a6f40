"""A channel that carries no sound while the others hear it, or no sound on any channel (a muted capture): said
when it starts and when it ends, and live shown as a fault; two channels that carry one signal: said once a look.

The installed ``listener_array`` is an ALSA ``plug``: over a card with fewer channels than the
configured array it fills the missing ones with zeros (or copies them), and a dead mic or a wrong
channel map reads the same, or sticks at a constant level. A mono mic on a stereo input hands the
same signal to both channels. Directions, or in channel-map mode the parties, are then wrong without
any error. ``listener doctor`` measures the levels at install time; this says it on a running device,
by doctor's own rules (``listener.audio.levels``). The live array's levels are judged on every WATCH_S
of audio in turn, for a mic can die, or a capture be muted, weeks into a run: a change is said once (the
channels gone dead, or hearing again), the same finding again is not. After each outage the first WATCH_S
is said afresh, whatever was said before (the array that comes back may be another one). Live, dead channels
and a muted capture are also a ``DeviceState(FAULT, cause="microphones")`` for the LEDs (the slow amber blink)
and the MQTT ``state``, until a WATCH_S hears on every channel (``DeviceState(LISTENING)``): in the journal
alone, a device that hears nothing looked well to everyone at the counter. Copied channels
and a party's mic hearing only leakage are judged once a look (after the start, and after each outage):
neither comes about while a card stays plugged in, and the leakage look needs minutes of speech. A
recording made wrong (arecord with too few channels, a mono file copied to several) is judged once, on
its first WATCH_S (or its whole length, if shorter), for ``analyze`` and ``run --input``: a file is said
once, not at every stretch, and never as the device's fault (its channels are not the device's).

In channel-map mode a dead channel is said as the party's mic, and a longer look (LEAK_LOOK_S of speech,
``listener.audio.leads``) says a party's mic that hears speech only as leakage from the other's: one
unplugged (its hiss and hum lie above DEAD_DBFS), muted at the mic, or facing away. Its party is never
heard, and everything it says is credited to the other.

In direction mode the same look compares the array's first two mics: a mic at each party (lapel or desk mics
recorded as the array) leads the other on its own party's speech, as one array's mics never do, and every
direction heard from it is noise (a lapel dialogue: 38 s of overlap, unsaid). Said once a look, with channel-map
mode as the fix.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from listener.audio.base import selected_channels
from listener.audio.leads import LEAD_DB, SEPARATE_SHARE, LeadMeter, LeadShares, not_one_per_party, one_per_party
from listener.audio.levels import (
    DEAD_DBFS,
    FLOOR_DBFS,
    LevelMeter,
    dead_channels,
    dead_party,
    dead_party_fix,
    describe_twins,
    parties_of,
    party_key,
    rms_dbfs,
)
from listener.config import PROCESSING_RATE_HZ, ArrayGeometry
from listener.errors import shown_path
from listener.events import AudioBlock, DeviceMode, DeviceState, EndOfStream, Event, SourceState
from listener.pipeline import Stage

log = logging.getLogger(__name__)

WATCH_S = 10.0  # audio judged at a time (live: every such stretch in turn): long enough for anyone to have spoken
# channel-map mode: speech (20 ms frames, listener.audio.leads) looked at before a party's mic that only hears
# the other is said: a minute or two of a conversation, enough for both parties to have spoken more than once
LEAK_LOOK_S = 30.0
LEAK_MIN_S = 5.0  # a recording (or a listen) that ends with less speech than this is not judged for it
LEAK_CHECK_S = 5.0  # how often (seconds of audio) the live look counts its speech
# the latest warnings kept in ``said``: a live watch runs for weeks, and a mic whose lead comes and goes is
# said dead every other WATCH_S, 4320 lines a day that a list of them all kept
SAID_KEPT = 16
MUTED_MIN_S = 1.0  # silence on every channel for less than this (a test blip, a cut) is not called a muted capture


class ChannelWatch(Stage):
    """AudioBlock in: a warning when some channels (or all) go under DEAD_DBFS, a line when they hear again
    (live, each also a DeviceState out), one warning a look when channels carry one signal. ``recording``: the
    file the audio comes from (judged once; a shorter one at its end), else the live array. ``leads`` False:
    the two mics are not compared, for leakage or for a mic at each party (calibrate, where the rep talks alone
    and the customer's mic leads in none of it). ``hold``: the lines are kept for the caller to say
    (:meth:`say_held`)."""

    name = "channel-watch"

    def __init__(
        self, geometry: ArrayGeometry, recording: Path | None = None, leads: bool = True, hold: bool = False
    ) -> None:
        self.geometry = geometry
        # hold: each line waits in ``held`` until the caller says them (say_held): calibrate, whose refusal may
        # be what a warning says, which is then not said twice
        self._hold = hold
        self.held: list[str] = []
        # the parties' two mics, or in direction mode the array's first two: a mic at each party read as an array
        # (a checked config has two at least: direction mode refuses fewer mics)
        self._compare_leads = leads
        self.recording = recording
        self.channels = selected_channels(geometry)
        self.said: list[str] = []  # the latest SAID_KEPT warnings, for a caller that must act on them (calibrate)
        self._warned = 0  # warnings given in all
        self._dead: tuple[int, ...] = ()  # the channels last said dead (all of them: muted); () while all hear
        self._heard_s = 0.0  # audio time at the end of the latest block
        self._restart()

    def _restart(self) -> None:
        self._meter = LevelMeter(len(self.channels))
        self._loudest_dbfs = FLOOR_DBFS  # of any block on any channel: a quiet recording's speech, not a mute
        self._judged = False  # a WATCH_S of this look judged: the twins are (a recording's levels too)
        self._leads = LeadMeter(PROCESSING_RATE_HZ)
        self._leads_judged = not self._compare_leads
        self._leads_checked_s = 0.0
        self._said_before = self._warned  # warnings of this look (since the start, or the outage)

    def process(self, event: Event) -> Iterable[Event]:
        shown: list[DeviceState] = []
        if isinstance(event, SourceState) and event.available:
            self._restart()  # back after an outage: perhaps another device, looked at afresh
        elif isinstance(event, AudioBlock):
            # a float WAV's NaN, played as silence, is no sound the recording lacks: its warning says it, once
            mended = event.not_numbers_s > event.duration_s / 2
            if (not self._judged or self.recording is None) and not mended:
                shown = self._listen(event)
            if not self._leads_judged:
                self._look_for_leakage(event)
        elif isinstance(event, EndOfStream) and self.recording is not None:
            self.finish()
        return shown

    def _listen(self, block: AudioBlock) -> list[DeviceState]:
        self._meter.add(block.samples)
        self._heard_s = block.end_s
        if self.recording is not None:  # only a recording is judged by it (_quiet_recording)
            self._loudest_dbfs = max(self._loudest_dbfs, *rms_dbfs(block.samples))
        if self._meter.n_samples < WATCH_S * block.sample_rate_hz:
            return []
        shown = self._judge()
        # the next WATCH_S is judged on its own: a mic that dies later is not averaged away by the past; its
        # twins were judged in this look's first, so the later windows, every block for weeks, skip their sums
        self._meter = LevelMeter(len(self.channels), pairs=False)
        return shown

    def finish(self) -> None:
        """Judge the audio heard so far, unless a WATCH_S of it was: a recording, or a listen shorter than WATCH_S."""
        if self._meter.n_samples and not self._judged:
            self._judge()
        if not self._leads_judged and (shares := self._leads.shares()).speech_s >= LEAK_MIN_S:
            self._judge_leads(shares)

    def _look_for_leakage(self, block: AudioBlock) -> None:
        self._leads.add(block.samples[:, :2])
        if self._leads.heard_s - self._leads_checked_s < LEAK_CHECK_S:
            return
        self._leads_checked_s = self._leads.heard_s
        if (shares := self._leads.shares()).speech_s >= LEAK_LOOK_S:
            self._judge_leads(shares)

    def _judge_leads(self, shares: LeadShares) -> None:
        """Said once a look: a party's mic that never leads the other's while someone speaks. Not after a
        warning of this look (a dead or copied channel, said already, leads nobody either)."""
        self._leads_judged = True
        if self._warned > self._said_before:
            return
        if self.geometry.mode != "channels":
            if one_per_party(shares):
                self._warn(self._one_per_party_message(shares))
            return
        for k in self._leads.leakage_only(shares):
            self._warn(self._leakage_message(self.channels[k], shares.speech_s, shares.by_channel[1 - k]))
        if not_one_per_party(shares):
            self._warn(self._not_separated_message(shares.speech_s))

    def _judge(self) -> list[DeviceState]:
        first, self._judged = not self._judged, True
        dead = self._dead_now()
        # a change is news; after an outage the same finding too (the array that came back may be another)
        shown = self._say(dead) if dead != self._dead or (first and dead) else []
        self._dead = dead
        twins = self._meter.twins(self.channels) if first else []
        if twins:
            self._warn(self._twins_message(twins))
        return shown

    def _say(self, dead: tuple[int, ...]) -> list[DeviceState]:
        """The change in the journal and, live, on the lights and the MQTT state: one that hears nothing, or
        hears directions wrong, needs looking after, and nobody reads the journal at the counter."""
        if dead:
            message = self._dead_message(list(dead)) if len(dead) < len(self.channels) else self._muted_message()
            self._warn(message)
        else:
            message = self._hearing_again_message(self._dead)
            self._log(message)
        if self.recording is not None:  # a file's channels are not the device's
            return []
        mode = DeviceMode.FAULT if dead else DeviceMode.LISTENING
        return [DeviceState(t_s=self._heard_s, mode=mode, detail=message, cause="microphones")]

    def _dead_now(self) -> tuple[int, ...]:
        """The channels the meter's audio says dead (all of them: a muted capture), () when all hear."""
        dead = dead_channels(self._meter.dbfs(), self.channels)
        if len(dead) == len(self.channels) and (
            self._meter.n_samples < MUTED_MIN_S * PROCESSING_RATE_HZ or self._quiet_recording()
        ):
            # a real mic's own noise lies far above DEAD_DBFS: every channel under it for a while is a muted capture
            return ()
        return tuple(dead)

    def _quiet_recording(self) -> bool:
        """A very quiet recording, not a muted one: speech peaking at -70 dBFS averages under DEAD_DBFS, its
        loudest blocks do not. Not for the live array, whose one pop (a re-plug) must not hide a mute after it."""
        return self.recording is not None and self._loudest_dbfs >= DEAD_DBFS

    def _warn(self, message: str) -> None:
        self._warned += 1
        self.said.append(message)
        del self.said[:-SAID_KEPT]
        self._log(message)

    def _log(self, message: str) -> None:
        if self._hold:
            self.held.append(message)
        else:
            log.warning("%s", message)

    def say_held(self) -> None:
        """Say the lines held back (``hold``), in their order."""
        for message in self.held:
            log.warning("%s", message)
        self.held.clear()

    def muted(self) -> str:
        """The warning of no sound on any channel when the audio last judged had none (a muted capture, a
        silent recording), else ''."""
        return self._muted_message() if len(self._dead) == len(self.channels) > 0 else ""

    def _hearing_again_message(self, dead: tuple[int, ...]) -> str:
        """The live array's channels said dead, or muted, now hear sound: what was wrong is over."""
        if len(dead) == len(self.channels):
            return "the array hears sound again: its capture is no longer muted"
        if self.geometry.mode == "channels":
            return f"the {parties_of(self.geometry, dead[0])[0]}'s mic (channel {dead[0]}) hears sound again"
        return f"captured channel(s) {list(dead)} hear sound again"

    def _dead_message(self, dead: list[int]) -> str:
        if self.geometry.mode == "channels":
            return self._dead_party_message(dead[0])
        said = f"carry no sound (under {DEAD_DBFS:.0f} dBFS) while the others hear it"
        if self.recording is not None:
            return (
                f"channel(s) {dead} of {shown_path(self.recording)} {said}: it was recorded from a device with fewer "
                f"channels than the '{self.geometry.preset}' geometry, or a mic was dead; {self._file_fix()}"
            )
        return (
            f"captured channel(s) {dead} {said}: the device behind [array] device has fewer channels than the "
            f"'{self.geometry.preset}' geometry, or a mic is dead; directions are wrong until it is fixed: check "
            "`arecord -l` against [array] preset and mic_channels (`listener doctor` measures each channel's level)"
        )

    def _dead_party_message(self, channel: int) -> str:
        """Channel-map mode: the party whose mic is dead, and what follows (no directions, no mic_channels)."""
        geo, other = self.geometry, parties_of(self.geometry, channel)[1]
        said = dead_party(geo, channel, self._of())
        if self.recording is not None:
            return (
                f"{said}: all speech in this analysis is credited to the {other}; record it again with that mic's "
                f"cable, plug and mute checked, or set [parties] {party_key(geo, channel)} to the channel it was "
                "recorded on"
            )
        return (
            f"{said}: all speech will be credited to the {other} until it is fixed; {dead_party_fix(geo, channel)} "
            "(`listener doctor` measures each channel's level)"
        )

    def _leakage_message(self, channel: int, speech_s: float, other_lead_share: float) -> str:
        party, other = parties_of(self.geometry, channel)
        said = (
            f"the {party}'s mic (channel {channel}){self._of()} hears only the {other}: unplugged, muted, or facing "
            f"away (in {speech_s:.0f} s of speech it never led the {other}'s mic, which led in "
            f"{100 * other_lead_share:.0f} %)"
        )
        if self.recording is not None:
            return f"{said}: the {party} is not heard, and their speech in this analysis is credited to the {other}"
        return (
            f"{said}: the {party} is not heard, and their speech is credited to the {other} until it is fixed; "
            f"check its cable, plug and mute and that it faces the {party} (or the {party} has not spoken yet)"
        )

    def _not_separated_message(self, speech_s: float) -> str:
        said = (
            f"the two mics{self._of()} are not one per party (too close together, or the array's own mics): in "
            f"{speech_s:.0f} s of speech neither led the other by {LEAD_DB:g} dB in {100 * SEPARATE_SHARE:.0f} % of "
            "it, and channel-map mode needs one mic at each party's mouth"
        )
        where = " in this analysis" if self.recording is not None else ""
        return (
            f"{said}: speech, overlaps and backchannels{where} are credited to the parties at random; fix: clip "
            'a mic on each party (lapel mics on a USB interface: [array] preset = "generic", device = its name), '
            "or for an array's own mics drop [parties] rep_channel and customer_channel and set the parties' "
            "directions (`listener calibrate`)"
        )

    def _one_per_party_message(self, shares: LeadShares) -> str:
        """Direction mode on a mic at each party (lapel or desk mics): not one array's mics, so no directions."""
        first, second = self.channels[:2]
        said = (
            f"channels {first} and {second}{self._of()} are a mic at each party, not one array's mics: in "
            f"{shares.speech_s:.0f} s of speech each led the other by {LEAD_DB:g} dB in {100 * shares.sides_share:.0f} "
            "% of it or more (an array's mics differ by 1-2 dB), and direction mode needs the array's mics"
        )
        where = " in this analysis" if self.recording is not None else ""
        return (
            f"{said}: speech, overlaps and backchannels{where} are credited to the parties at random; fix: "
            f'channel-map mode: [array] preset = "generic", [parties] rep_channel = {first} and customer_channel = '
            f"{second} (the other way round if channel {second} is the rep's: `listener calibrate` tells) in place "
            "of the azimuths"
        )

    def _of(self) -> str:
        return "" if self.recording is None else f" of {shown_path(self.recording)}"

    def _muted_message(self) -> str:
        said = f"carries no sound on any channel (under {DEAD_DBFS:.0f} dBFS: digital silence)"
        if self.recording is not None:
            return (
                f"{shown_path(self.recording)} {said}: it was recorded from a muted input or with the capture gain at "
                "0; record it again with the mixer's capture on (`alsamixer -c <card>`)"
            )
        return (
            f"the array {said}: its capture is muted or its gain at 0, so nobody can be heard: switch the capture "
            "on in `alsamixer -c <card>` (`listener doctor` measures each channel's level)"
        )

    def _twins_message(self, twins: list[tuple[int, int]]) -> str:
        """What channels carrying one signal mean, and what to check: the parties' two mics, or the array's."""
        geo, where = self.geometry, self._of()
        if geo.mode == "channels":
            what = (
                f"the rep's channel {geo.rep_channel} and the customer's channel {geo.customer_channel}{where} carry "
                "the same signal (a mono mic on a stereo input, or a plug copying one channel): the parties cannot be "
                "told apart"
            )
            if self.recording is not None:
                return f"{what} in this analysis: record each party's mic on its own channel"
            return (
                f"{what} until each has its own mic: check `arecord -l` and the wiring against [parties] rep_channel "
                "and customer_channel"
            )
        what = f"{describe_twins(twins)}{where} carry the same signal (copies"
        if self.recording is not None:
            return f"{what}: a recording with fewer channels than the '{geo.preset}' geometry); {self._file_fix()}"
        return (
            f"captured {what}: the device behind [array] device has fewer channels than the '{geo.preset}' geometry, "
            "or a mono input feeds several): directions are wrong until it is fixed: check `arecord -l` against "
            "[array] preset and mic_channels"
        )

    def _file_fix(self) -> str:
        return (
            "directions in this analysis are wrong: record it again from the array with all its channels "
            f"(`arecord -D listener_array -c {self.geometry.capture_channels} ...`), or set [array] preset and "
            "mic_channels to what the file holds"
        )
