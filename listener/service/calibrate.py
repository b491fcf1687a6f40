"""``listener calibrate``: learn the rep's direction (and the customer's) from a short recording.

The rep speaks for about ten seconds. The spatial front end gives every
10 ms frame a direction (SRP-PHAT over a 10-degree grid, NaN when silent)
and its speech evidence above the noise floor. Frames with speech vote for
their direction, weighted by how far they rise above the floor; the
histogram's peak, refined by a circular mean of the votes within
CLUSTER_HALF_DEG of it, is the rep. Reflections and a passer-by land
elsewhere on the circle and are outvoted. A second clear cluster at least
MIN_APART_DEG away is the customer; without one the customer is placed
opposite the rep, across the counter.

``--write`` edits only the two keys in the config file's ``[parties]``
table, keeping comments and every other line; the result is checked with
the project's own loader before it atomically replaces the file.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from listener.audio.base import AudioSource
from listener.audio.wav import WavSource
from listener.config import Config, geometry, parse_config
from listener.config.loader import read_toml
from listener.errors import ConfigFileError, ListenerError
from listener.events import AudioBlock, Event, SpatialFrames
from listener.spatial.frontend import DOA_GRID_DEG, SpatialFrontEnd

BIN_DEG = 10.0  # the front end's direction grid
CLUSTER_HALF_DEG = 30.0  # votes this close to a peak belong to its talker
MIN_APART_DEG = 60.0  # the config loader's minimum separation of the parties
MIN_SPEECH_S = 1.0  # less speech than this cannot place anyone
SECOND_TALKER_SHARE = 0.15  # a second cluster holding this share of the rep's votes is a talker
SNR_MARGIN_DB = 3.0  # frames must rise this far above activity.speech_snr_db to vote
MAX_WEIGHT_DB = 30.0  # one very loud frame counts no more than a few ordinary ones
LOW_CONFIDENCE = 0.5
MAX_LIVE_S = 600.0
LIVE_SLACK_S = 5.0  # wall time beyond --seconds before a stalled live read gives up
FULL_CONFIDENCE_S = 5.0  # this much speech gives full confidence in the amount of evidence

Float = npt.NDArray[np.float64]


class CalibrationError(ListenerError, ValueError):
    """The recording does not show where the rep stands."""


@dataclass(frozen=True, slots=True)
class Calibration:
    rep_azimuth_deg: float
    customer_azimuth_deg: float
    customer_from: Literal["second talker", "opposite the rep"]
    confidence: float  # 0..1: share of speech votes near the rep, scaled down when there was little speech
    speech_s: float
    rep_share: float  # of the speech votes within CLUSTER_HALF_DEG of the rep


@dataclass(frozen=True, slots=True)
class Votes:
    """Per-frame directions of the frames with speech, and their weights."""

    doa_deg: Float
    weight: Float
    hop_s: float


def collect_votes(config: Config, events: Iterable[Event]) -> Votes:
    """Run the spatial front end over ``events`` and keep the frames that carry speech."""
    geo = geometry(config)
    if geo.mode != "doa":
        raise CalibrationError(
            "calibration learns directions, but the configuration is in channel-map mode (one mic per party): "
            "nothing to calibrate; set [parties] mode = 'doa' and remove rep_channel to use directions"
        )
    threshold = config.activity.speech_snr_db + SNR_MARGIN_DB
    # The front end discounts sound from outside the configured sectors ("elsewhere"); before calibration
    # those sectors may be wrong, so widen them to cover the whole circle and let every talker count.
    whole_circle = replace(config.parties, sector_half_width_deg=90.0)
    front = SpatialFrontEnd(replace(config, parties=whole_circle), geo)
    doas: list[Float] = []
    weights: list[Float] = []
    hop_s = front.hop_s
    for event in events:
        if not isinstance(event, AudioBlock):
            continue
        for frames in front.process(event):
            if isinstance(frames, SpatialFrames):
                doa, weight = _frame_votes(frames, threshold)
                doas.append(doa)
                weights.append(weight)
    if not doas:
        return Votes(np.zeros(0), np.zeros(0), hop_s)
    return Votes(np.concatenate(doas), np.concatenate(weights), hop_s)


def _frame_votes(frames: SpatialFrames, threshold_db: float) -> tuple[Float, Float]:
    # The two parties' evidence together is the frame's speech above the floor, whoever it came from.
    total_db = 10.0 * np.log10(10.0 ** (frames.rep_snr_db / 10.0) + 10.0 ** (frames.customer_snr_db / 10.0))
    doa = frames.doa_deg.astype(np.float64)
    keep = np.isfinite(doa) & (total_db > threshold_db)
    weight = np.clip(total_db[keep] - threshold_db, 0.0, MAX_WEIGHT_DB)
    return doa[keep], weight.astype(np.float64)


def estimate(votes: Votes) -> Calibration:
    """The rep's azimuth (the strongest direction), the customer's, and how sure we are."""
    speech_s = votes.doa_deg.size * votes.hop_s
    if speech_s < MIN_SPEECH_S or votes.weight.sum() <= 0:
        raise CalibrationError(
            f"only {speech_s:.1f} s of speech heard (at least {MIN_SPEECH_S:.0f} s needed): the rep should talk "
            "for about 10 s close to the counter; check the mic levels with `listener doctor`"
        )
    hist = _histogram(votes)
    rep_peak = float(DOA_GRID_DEG[np.argmax(_smooth(hist))])
    rep = _cluster_mean(votes, rep_peak)
    near_rep = _within(votes.doa_deg, rep_peak, CLUSTER_HALF_DEG)
    rep_weight = float(votes.weight[near_rep].sum())
    rep_share = rep_weight / float(votes.weight.sum())
    customer, source = _customer(votes, hist, rep_peak, rep_weight)
    confidence = rep_share * min(1.0, speech_s / FULL_CONFIDENCE_S)
    return Calibration(
        rep_azimuth_deg=rep,
        customer_azimuth_deg=customer,
        customer_from=source,
        confidence=round(confidence, 2),
        speech_s=speech_s,
        rep_share=rep_share,
    )


def _customer(
    votes: Votes, hist: Float, rep_peak: float, rep_weight: float
) -> tuple[float, Literal["second talker", "opposite the rep"]]:
    far = ~_within(DOA_GRID_DEG, rep_peak, MIN_APART_DEG - BIN_DEG / 2)
    smoothed = np.where(far, _smooth(hist), 0.0)
    if smoothed.max() > 0:
        peak = float(DOA_GRID_DEG[np.argmax(smoothed)])
        cluster = _within(votes.doa_deg, peak, CLUSTER_HALF_DEG)
        if votes.weight[cluster].sum() >= SECOND_TALKER_SHARE * rep_weight:
            customer = _cluster_mean(votes, peak)
            if _apart(customer, _cluster_mean(votes, rep_peak)) >= MIN_APART_DEG:
                return customer, "second talker"
    return (_cluster_mean(votes, rep_peak) + 180.0) % 360.0, "opposite the rep"


def _histogram(votes: Votes) -> Float:
    index = np.round(votes.doa_deg / BIN_DEG).astype(int) % DOA_GRID_DEG.size
    return np.bincount(index, weights=votes.weight, minlength=DOA_GRID_DEG.size).astype(np.float64)


def _smooth(hist: Float) -> Float:
    # A talker between two grid directions splits its votes; pooling neighbours finds it.
    return 0.25 * np.roll(hist, 1) + 0.5 * hist + 0.25 * np.roll(hist, -1)


def _within(doa_deg: Float, centre_deg: float, half_deg: float) -> npt.NDArray[np.bool_]:
    return np.abs((doa_deg - centre_deg + 180.0) % 360.0 - 180.0) <= half_deg


def _cluster_mean(votes: Votes, peak_deg: float) -> float:
    near = _within(votes.doa_deg, peak_deg, CLUSTER_HALF_DEG)
    rad = np.radians(votes.doa_deg[near])
    w = votes.weight[near]
    mean = np.degrees(np.arctan2((w * np.sin(rad)).sum(), (w * np.cos(rad)).sum()))
    return round(float(mean) % 360.0, 1)


def _apart(a_deg: float, b_deg: float) -> float:
    return abs((a_deg - b_deg + 180.0) % 360.0 - 180.0)


def calibrate(config: Config, config_path: Path | None, wav: Path | None, seconds: float, write: bool) -> int:
    """``listener calibrate``: measure, print, and with ``write`` store the azimuths."""
    if write and config_path is None:
        raise CalibrationError("--write needs --config FILE: the file to store the azimuths in")
    if wav is None and not MIN_SPEECH_S <= seconds <= MAX_LIVE_S:
        raise CalibrationError(f"--seconds {seconds:g}: listen between {MIN_SPEECH_S:g} and {MAX_LIVE_S:g} s")
    result = estimate(collect_votes(config, _events(config, wav, seconds)))
    print(f"rep        {result.rep_azimuth_deg:5.1f} deg")
    print(f"customer   {result.customer_azimuth_deg:5.1f} deg ({result.customer_from})")
    print(
        f"confidence {result.confidence:.2f} ({result.speech_s:.1f} s of speech, "
        f"{100 * result.rep_share:.0f} % of it from the rep's direction)"
    )
    if result.confidence < LOW_CONFIDENCE:
        print("low confidence: repeat with the rep alone, talking for about 10 s, nobody else near the counter")
    if config_path is not None and write:
        write_parties(config_path, result.rep_azimuth_deg, result.customer_azimuth_deg)
        print(f"written to [parties] in {config_path}; restart the service: sudo systemctl restart listener")
    else:
        print("not written: run again with --write (and --config FILE) to store these")
    return 0


def _events(config: Config, wav: Path | None, seconds: float) -> Iterator[Event]:
    geo = geometry(config)
    if wav is not None:
        with WavSource(wav, geo, block_ms=1000) as source:
            yield from source.events()
        return
    from listener.audio.live import LiveSource

    print(f"listening for {seconds:.0f} s: the rep talks now, as in a conversation", flush=True)
    with LiveSource(config) as live:
        yield from live_events(live, seconds, seconds + LIVE_SLACK_S)


# --- sources -------------------------------------------------------------------


def live_events(source: AudioSource, seconds: float, timeout_s: float) -> Iterable[Event]:
    """Events of ``source`` until ``seconds`` of audio arrived (or ``timeout_s`` of wall time passed)."""
    have_s = 0.0
    deadline = time.monotonic() + timeout_s
    for event in source.events():
        yield event
        if isinstance(event, AudioBlock):
            have_s += event.duration_s
        if have_s >= seconds or time.monotonic() > deadline:
            source.stop()


# --- writing the config ------------------------------------------------------------

_HEADER = re.compile(r"^\s*\[\s*parties\s*\]\s*(#.*)?$")
_ANY_HEADER = re.compile(r"^\s*\[")


def write_parties(path: Path, rep_deg: float, customer_deg: float) -> None:
    """Set the two azimuths in ``path``'s [parties] table, keep everything else, replace the file atomically."""
    rep_deg, customer_deg = float(f"{rep_deg:.1f}"), float(f"{customer_deg:.1f}")  # as the file will hold them
    original = read_toml(path)
    text = path.read_text(encoding="utf-8")
    new_text = edit_parties(text, {"rep_azimuth_deg": rep_deg, "customer_azimuth_deg": customer_deg})
    _validate(path, original, new_text, rep_deg, customer_deg)
    _replace_atomically(path, new_text)


def edit_parties(text: str, values: dict[str, float]) -> str:
    """``text`` with each key of ``values`` set in [parties]: edited in place, added, or in a new table."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if _HEADER.match(line)), None)
    if start is None:
        tail = "" if not text or text.endswith("\n") else "\n"
        added = "".join(f"{key} = {value:.1f}\n" for key, value in values.items())
        return f"{text}{tail}\n[parties]\n{added}"
    end = next((i for i in range(start + 1, len(lines)) if _ANY_HEADER.match(lines[i])), len(lines))
    last_key = start
    for key, value in values.items():
        pattern = re.compile(rf"^(\s*{key}\s*=\s*)([^#\r\n]*?)(\s*(?:#.*)?)(\r?\n?)$")
        for i in range(start + 1, end):
            match = pattern.match(lines[i])
            if match:
                lines[i] = f"{match.group(1)}{value:.1f}{match.group(3)}{match.group(4)}"
                last_key = max(last_key, i)
                break
        else:
            last_key = max(last_key, _last_assignment(lines, start, end))
            lines.insert(last_key + 1, f"{key} = {value:.1f}\n")
            end += 1
            last_key += 1
    return "".join(lines)


def _last_assignment(lines: list[str], start: int, end: int) -> int:
    keys = [i for i in range(start + 1, end) if re.match(r"^\s*[A-Za-z0-9_\"'.-]+\s*=", lines[i])]
    return keys[-1] if keys else start


def _validate(path: Path, original: dict[str, object], new_text: str, rep_deg: float, customer_deg: float) -> None:
    import tomllib

    try:
        data = tomllib.loads(new_text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigFileError(f"{path}: the edited file would not be valid TOML ({exc}); {_BY_HAND}") from None
    before = parse_config(original)
    after = parse_config(data)
    parties = replace(before.parties, rep_azimuth_deg=rep_deg, customer_azimuth_deg=customer_deg)
    wanted = replace(before, parties=parties)
    if after != wanted:
        raise ConfigFileError(f"{path}: editing [parties] would change more than the two azimuths; {_BY_HAND}")


_BY_HAND = "set [parties] rep_azimuth_deg and customer_azimuth_deg in it by hand"


def _replace_atomically(path: Path, text: str) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        tmp.chmod(mode)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
