"""``listener doctor``'s levels line: a second of the array's audio, each mic channel's level judged.

A dead channel, two channels carrying one signal (a plug over a card with
fewer channels), a mic far below the others, or an array that stops
delivering during the read: each is a line with its fix. The running
service watches for the same conditions (``listener.audio.channel_watch``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from listener.audio.levels import (
    DEAD_DBFS,
    dead_channels,
    dead_party,
    dead_party_fix,
    describe_twins,
    parties_of,
    party_key,
    rms_dbfs,
    twin_channels,
)
from listener.config import PROCESSING_RATE_HZ, ArrayGeometry, Config, geometry
from listener.errors import DeviceLostError, ListenerError
from listener.service.doctor import Check, fail, warn

LEVEL_READ_S = 1.0  # audio read from the array to measure its levels
LEVEL_TIMEOUT_S = 5.0  # wall time allowed for that read
QUIET_DBFS = -75.0  # even a quiet room lifts a working MEMS mic above this
ODD_CHANNEL_DB = 20.0  # a mic this far below the loudest one is blocked or broken


def check_levels(config: Config) -> Check:
    """Read about a second through LiveSource and report each mic channel's level."""
    from listener.audio.base import selected_channels

    try:
        samples = read_live(config, LEVEL_READ_S, LEVEL_TIMEOUT_S)
    except DeviceLostError as exc:
        fix = "check the array's connection (its USB cable, or the HAT seated on the Pi's pins), then run doctor again"
        return fail("levels", str(exc), fix)
    except ListenerError as exc:
        # the open's own advice (a busy card, a rate it lacks) is the fix: the audio line above listed it as ok
        what, said, fix = str(exc).partition(". Fix: ")
        return fail("levels", f"the device cannot be read: {what}", fix if said else "see the audio line above")
    if samples.shape[0] == 0:
        no_audio = f"no audio arrived within {LEVEL_TIMEOUT_S:.0f} s"
        return fail("levels", no_audio, "check the array's driver: `arecord -l`")
    geo = geometry(config)
    channels = selected_channels(geo)
    return level_check(rms_dbfs(samples), channels, twin_channels(samples, channels), geo)


def read_live(config: Config, duration_s: float, timeout_s: float) -> np.ndarray:
    """``duration_s`` of audio (processing rate, mic channels) from the live array, or less at ``timeout_s``."""
    from listener.audio.base import events_until, lost_detail
    from listener.audio.live import LiveSource
    from listener.events import AudioBlock

    blocks: list[np.ndarray] = []
    with LiveSource(config) as source:
        for event in events_until(source, duration_s, timeout_s):
            lost = lost_detail(event)
            if lost is not None:
                # levels of the part heard would pass a flaky array: its loss is the finding
                heard_s = sum(b.shape[0] for b in blocks) / PROCESSING_RATE_HZ
                raise DeviceLostError(f"the array stopped delivering audio {heard_s:.1f} s into the read ({lost})")
            if isinstance(event, AudioBlock):
                blocks.append(event.samples)
    wanted = round(duration_s * PROCESSING_RATE_HZ)
    return np.concatenate(blocks)[:wanted] if blocks else np.zeros((0, 1), dtype=np.float32)


def level_check(
    levels_dbfs: list[float],
    channels: list[int],
    twins: Sequence[tuple[int, int]] = (),
    geo: ArrayGeometry | None = None,
) -> Check:
    """``geo`` in channel-map mode: a dead channel is said as the party's mic, as the running service says it."""
    shown = ", ".join(f"ch{c} {level:.0f}" for c, level in zip(channels, levels_dbfs, strict=True))
    detail = f"RMS dBFS {shown}"
    dead = dead_channels(levels_dbfs, channels)
    if dead:
        return _dead_check(detail, dead, len(channels), geo)
    if twins:
        return fail(
            "levels",
            f"{detail}: {describe_twins(list(twins))} carry the same signal (copies, not separate mics)",
            "a mono input, or a plug over a card with fewer channels: check `arecord -l` against [array] preset "
            "and mic_channels (one mic per party: [parties] rep_channel and customer_channel on two mics)",
        )
    # The loudest mic, not the median: with two mics, or half of them weak, the median is a weak one.
    loudest_dbfs = max(levels_dbfs)
    odd = [c for c, level in zip(channels, levels_dbfs, strict=True) if level < loudest_dbfs - ODD_CHANNEL_DB]
    if odd and geo is not None and geo.mode == "channels":
        return _quiet_party(detail, odd[0], geo)
    if odd:
        return warn(
            "levels",
            f"{detail}: channel(s) {odd} are more than {ODD_CHANNEL_DB:.0f} dB below the loudest",
            "a mic port may be covered or broken; check nothing rests on the array",
        )
    if max(levels_dbfs) < QUIET_DBFS:
        return warn("levels", f"{detail}: very quiet", "raise the capture gain (`alsamixer -c <card>`)")
    return Check("levels", "ok", detail)


def _quiet_party(detail: str, channel: int, geo: ArrayGeometry) -> Check:
    """Channel-map mode: each mic hears its own party loudest, so one far below is a party who did not speak
    while doctor listened, or a mic turned down, unplugged into an unused input, or named by the wrong key."""
    party, other = parties_of(geo, channel)
    return warn(
        "levels",
        f"{detail}: the {party}'s mic (channel {channel}) is more than {ODD_CHANNEL_DB:.0f} dB below the {other}'s",
        f"expected if only the {other} spoke while doctor listened; otherwise check that mic's gain and cable, and"
        f" [parties] {party_key(geo, channel)} against `arecord -l`",
    )


def _dead_check(detail: str, dead: list[int], n_channels: int, geo: ArrayGeometry | None) -> Check:
    """The level check's FAIL for channels under DEAD_DBFS: in channel-map mode said as the parties' mics."""
    if geo is None or geo.mode != "channels":
        return fail(
            "levels",
            f"{detail}: channel(s) {dead} carry no sound (under {DEAD_DBFS:.0f} dBFS)",
            "check the array is seated and its mixer capture is on (`alsamixer -c <card>`), and that "
            "[array] mic_channels names channels that carry mics",
        )
    if len(dead) < n_channels:
        other = parties_of(geo, dead[0])[1]
        return fail(
            "levels",
            f"{detail}: {dead_party(geo, dead[0])}: all speech will be credited to the {other}",
            dead_party_fix(geo, dead[0]),
        )
    return fail(
        "levels",
        f"{detail}: neither party's mic carries any sound (under {DEAD_DBFS:.0f} dBFS)",
        "check the mics' cables and the mixer's capture (`alsamixer -c <card>`), and that [parties] "
        "rep_channel and customer_channel name channels that carry mics",
    )
