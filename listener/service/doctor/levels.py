"""``listener doctor``'s levels line: a second of the array's audio, each mic channel's level judged.

A dead channel, two channels carrying one signal (a plug over a card with
fewer channels), a mic far below the others or one far above them, a channel
that clips, or an array that stops delivering during the read: each is a line
with its fix. The running
service watches for the same conditions (``listener.audio.channel_watch``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from listener.audio.base import NO_AUDIO_FIX
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
from listener.errors import DeviceLostError, DeviceSilentError, ListenerError
from listener.service.doctor import Check, fail, warn

LEVEL_READ_S = 1.0  # audio read from the array to measure its levels
LEVEL_TIMEOUT_S = 5.0  # wall time allowed for that read
QUIET_DBFS = -75.0  # even a quiet room lifts a working MEMS mic above this
ODD_CHANNEL_DB = 20.0  # a mic this far below the others is blocked or broken; this far above them, hot
# a sample this near full scale (0.1 dB) is clipped, a resampler's ripple on the plateau included
CLIP_FULL_SCALE_FRACTION = 0.99
CLIPPED_SHARE = 0.01  # a channel with this share of its samples clipped is driven too hard


def check_levels(config: Config) -> Check:
    """Read about a second through LiveSource and report each mic channel's level."""
    from listener.audio.base import selected_channels

    try:
        samples = read_live(config, LEVEL_READ_S, LEVEL_TIMEOUT_S)
    except DeviceSilentError as exc:
        return fail("levels", str(exc), f"{NO_AUDIO_FIX}; then run doctor again")
    except DeviceLostError as exc:
        fix = "check the array's connection (its USB cable, or the HAT seated on the Pi's pins), then run doctor again"
        return fail("levels", str(exc), fix)
    except ListenerError as exc:
        # the open's own advice (a busy card, a rate it lacks) is the fix: the audio line above listed it as ok
        what, said, fix = str(exc).partition(". Fix: ")
        return fail("levels", f"the device cannot be read: {what}", fix if said else "see the audio line above")
    if samples.shape[0] == 0:
        no_audio = f"the array opened but delivered no audio at all within {LEVEL_TIMEOUT_S:.0f} s"
        return fail("levels", no_audio, f"{NO_AUDIO_FIX}; then run doctor again")
    geo = geometry(config)
    channels = selected_channels(geo)
    twins = twin_channels(samples, channels)
    return level_check(rms_dbfs(samples), channels, twins, geo, clipped_shares(samples))


def clipped_shares(samples: np.ndarray) -> list[float]:
    """The share of each channel's samples (frames, channels) at full scale."""
    return [float(share) for share in np.mean(np.abs(samples) >= CLIP_FULL_SCALE_FRACTION, axis=0)]


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
                if not blocks:
                    raise DeviceSilentError(f"the array opened but delivered no audio at all ({lost})")
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
    clipped: Sequence[float] = (),
) -> Check:
    """``geo`` in channel-map mode: a dead channel is said as the party's mic, as the running service says it.
    ``clipped``: the share of each channel's samples at full scale (:func:`clipped_shares`), if measured."""
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
    findings = _odd_levels(levels_dbfs, channels, geo) + _clipping(clipped, channels)
    if findings:
        said = "; ".join(what for what, _ in findings)
        return warn("levels", f"{detail}: {said}", "; ".join(fix for _, fix in findings))
    if max(levels_dbfs) < QUIET_DBFS:
        return warn("levels", f"{detail}: very quiet", "raise the capture gain (`alsamixer -c <card>`)")
    return Check("levels", "ok", detail)


Finding = tuple[str, str]  # what is wrong, and its fix


def _odd_levels(levels_dbfs: list[float], channels: list[int], geo: ArrayGeometry | None) -> list[Finding]:
    """Mics far from the others: a lone one far above the rest is hot; those far below the loudest of the rest
    (the loudest, not the median: with half of the mics covered, the median is a covered one) are weak."""
    if geo is not None and geo.mode == "channels":
        weak = _below(levels_dbfs, channels, max(levels_dbfs))
        return [_quiet_party(weak[0], geo)] if weak else []
    if len(channels) == 2:
        return _odd_pair(levels_dbfs, channels)
    order = sorted(range(len(channels)), key=lambda i: levels_dbfs[i], reverse=True)
    loudest, second = order[0], order[1]
    findings = []
    reference_dbfs = levels_dbfs[loudest]
    if levels_dbfs[loudest] > levels_dbfs[second] + ODD_CHANNEL_DB:
        # one mic in a room cannot be that much louder than all the others: the hot one is odd, not the rest
        rest_dbfs = float(np.median([level for i, level in enumerate(levels_dbfs) if i != loudest]))
        findings.append(_hot(channels[loudest], levels_dbfs[loudest] - rest_dbfs))
        reference_dbfs = levels_dbfs[second]
    weak = _below(levels_dbfs, channels, reference_dbfs)
    if weak:
        findings.append(
            (
                f"channel(s) {weak} are more than {ODD_CHANNEL_DB:.0f} dB below the loudest"
                + (" of the others" if findings else ""),
                "a mic port may be covered or broken; check nothing rests on the array",
            )
        )
    return findings


def _below(levels_dbfs: list[float], channels: list[int], reference_dbfs: float) -> list[int]:
    return [c for c, level in zip(channels, levels_dbfs, strict=True) if level < reference_dbfs - ODD_CHANNEL_DB]


def _hot(channel: int, above_db: float) -> Finding:
    return (
        f"channel {channel} is {above_db:.0f} dB above the other mics (more than {ODD_CHANNEL_DB:.0f} dB): that"
        " channel is the odd one, not the others",
        f"check channel {channel}'s capture gain against the others' (`alsamixer -c <card>`), then the mic itself:"
        " a shorted or oscillating mic reads loud in a quiet room",
    )


def _odd_pair(levels_dbfs: list[float], channels: list[int]) -> list[Finding]:
    """Two mics far apart: either the quieter is covered or broken, or the louder is hot; two cannot say which."""
    (low_dbfs, low), (high_dbfs, high) = sorted(zip(levels_dbfs, channels, strict=True))
    if high_dbfs - low_dbfs <= ODD_CHANNEL_DB:
        return []
    return [
        (
            f"channels {high} and {low} differ by {high_dbfs - low_dbfs:.0f} dB (more than {ODD_CHANNEL_DB:.0f}"
            f" dB): either channel {low}, the quieter, is covered or broken, or channel {high}, the louder, is hot;"
            " with two mics doctor cannot tell which",
            f"check nothing rests on the array over channel {low}'s port, and both channels' capture gain"
            " (`alsamixer -c <card>`); then speak at each mic in turn while doctor listens: a working mic follows"
            " your voice, a broken one stays low, a hot (shorted or oscillating) one stays loud in silence",
        )
    ]


def _clipping(clipped: Sequence[float], channels: list[int]) -> list[Finding]:
    over = [(c, share) for c, share in zip(channels, clipped, strict=False) if share >= CLIPPED_SHARE]
    if not over:
        return []
    shown = ", ".join(f"ch{c} {share:.0%}" for c, share in over)
    return [
        (
            f"clipped (samples at full scale: {shown}; {CLIPPED_SHARE:.0%} or more distorts speech)",
            "lower the capture gain of the clipping channel(s) (`alsamixer -c <card>`, the card's capture"
            " volume), then run doctor again",
        )
    ]


def _quiet_party(channel: int, geo: ArrayGeometry) -> Finding:
    """Channel-map mode: each mic hears its own party loudest, so one far below is a party who did not speak
    while doctor listened, or a mic turned down, unplugged into an unused input, or named by the wrong key."""
    party, other = parties_of(geo, channel)
    return (
        f"the {party}'s mic (channel {channel}) is more than {ODD_CHANNEL_DB:.0f} dB below the {other}'s",
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
