"""``listener calibrate``: learn the rep's direction (and the customer's) from a short recording.

The rep speaks for about ten seconds; a customer may answer. Every 10 ms
frame of speech votes for its direction (``calibrate.votes``); the votes'
one or two clusters (``calibrate.clusters``) are the rep, matched to the
configured directions, and the customer (``calibrate.estimation``). ``--write`` stores the two azimuths
in the config file's ``[parties]`` table (``calibrate.write``), but not a
guess: not when either talker could be the rep, and not below
LOW_CONFIDENCE unless ``--force`` says so. In channel-map mode (one mic per
party) there is no direction to learn: it checks that the rep's channel is
the one that hears the rep loudest, and ``--write`` swaps the two channels
when it is not (``calibrate.channels``). Two mics that are a mic at each party, set up as an array, are said
in place of the directions, with channel-map mode as the fix (``calibrate.lapels``).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from listener.audio.base import NO_AUDIO_FIX, events_until, lost_detail
from listener.audio.channel_watch import ChannelWatch
from listener.audio.wav import WavSource
from listener.config import Config, geometry
from listener.config.array_checks import angle_apart_deg, line_axis_deg
from listener.console import output_may_fail
from listener.errors import CalibrationError, shown_path
from listener.events import AudioBlock, Event
from listener.service.calibrate.channels import calibrate_channels
from listener.service.calibrate.estimation import ALONE, MIN_LISTEN_S, Calibration, estimate
from listener.service.calibrate.lapels import MicEachLook
from listener.service.calibrate.votes import Votes, collect_votes
from listener.service.calibrate.write import edit_parties, write_parties

__all__ = [
    "Calibration",
    "CalibrationError",
    "Votes",
    "calibrate",
    "collect_votes",
    "edit_parties",
    "estimate",
    "write_parties",
]

LOW_CONFIDENCE = 0.5
# A line array's rep heard within this of square to the line may be nearer either end. Nearer the line
# is no warning: height and echoes widened a rep 4 deg off the line's end to 72 deg in a bench room.
BROADSIDE_HALF_DEG = 15.0
MAX_LIVE_S = 600.0
LIVE_SLACK_S = 5.0  # wall time beyond --seconds before a stalled live read gives up


def calibrate(
    config: Config, config_path: Path | None, wav: Path | None, listen_s: float, write: bool, force: bool = False
) -> int:
    """``listener calibrate``: measure, print, and with ``write`` store the azimuths."""
    if write and config_path is None:
        raise CalibrationError(
            f"--write needs --config FILE: the file to store the azimuths in (there is no {_installed()} here)"
        )
    if wav is None and not MIN_LISTEN_S <= listen_s <= MAX_LIVE_S:
        raise CalibrationError(f"--seconds {_as_typed(listen_s)}: listen between {MIN_LISTEN_S:g} and {MAX_LIVE_S:g} s")
    geo = geometry(config)
    if geo.mode == "channels":
        # the rep talks alone: the customer's mic leading in none of it is no fault here
        watch = ChannelWatch(geo, recording=wav, leads=False)
        events = _watched(_events(config, wav, listen_s), watch)
        after = _restart_note(config_path) if config_path is not None else ""
        return calibrate_channels(config, config_path, events, watch, write, after)
    watch = ChannelWatch(geo, recording=wav, leads=False, hold=True)  # said by _measured, or made the refusal
    result = _directions(config, _watched(_events(config, wav, listen_s), watch), watch, MicEachLook(geo))
    if isinstance(result, str):
        return _not_an_array(result, write)
    placed = "\n".join(said for said in (_placement_warning(config, result), _beside_note(config)) if said)
    with output_may_fail():
        _print_result(result, placed, line_axis_deg(geometry(config).mics_m))
    refusal = _channels_refusal(watch) or _refusal(config, result, force, from_file=wav is not None)
    if config_path is None or not write:
        return _not_written(config_path, refusal)
    if refusal:
        raise CalibrationError(f"not written: {refusal}")
    write_parties(config_path, result.rep_azimuth_deg, result.customer_azimuth_deg)
    print(f"written to [parties] in {shown_path(config_path)}{_restart_note(config_path)}")
    return 0


def _not_written(config_path: Path | None, refusal: str) -> int:
    """Without --write: what to do instead of the refusal, or how to store what was measured."""
    if refusal:  # the refusal says what to do instead; "run again with --write" would contradict it
        # its "--force" is for a --write: alone, the command line refuses it
        print(refusal + (" (--force goes with --write)" if "--force" in refusal else ""))
        return 0
    where = (
        f"to store these in {shown_path(config_path)}"
        if config_path is not None
        else "and --config FILE to store these"
    )
    print(f"not written: run again with --write {where}")
    return 0


def _directions(config: Config, events: Iterable[Event], watch: ChannelWatch, look: MicEachLook) -> Calibration | str:
    """The directions the events show, or the line that says the two mics are a mic at each party, which is said
    in their place: from such mics they are noise, however they came out."""
    try:
        result = _measured(config, look.watched(events), watch)
    except CalibrationError:
        if one_each := look.message(watch):  # what failed was reading lapel mics as an array
            return one_each
        raise
    return look.message(watch) or result


def _not_an_array(said: str, write: bool) -> int:
    """A mic at each party: the directions measured are noise, so they are neither shown nor written."""
    if write:
        raise CalibrationError(f"not written: {said}")
    with output_may_fail():
        print(said)
    return 0


def _measured(config: Config, events: Iterable[Event], watch: ChannelWatch) -> Calibration:
    """The directions the events show; the watch's lines said once they are measured, before the result. No
    sound on any channel is the refusal itself: said as a warning first, then refused as too little speech, it
    sent the rep to talk closer to mics that were muted."""
    try:
        votes = collect_votes(config, events)
        try:
            return estimate(votes, config)
        except CalibrationError:
            if muted := watch.muted():
                watch.held[:] = [line for line in watch.held if line != muted]
                raise CalibrationError(muted) from None
            raise
    finally:
        watch.say_held()


def _as_typed(value: float) -> str:
    """``value`` as :g writes it when that is the same number, else with every digit it holds: :g keeps six, and
    "--seconds 600.0001" was refused as "--seconds 600", a length inside the range it named."""
    short = f"{value:g}"
    return short if float(short) == value else repr(value)


def _restart_note(config_path: Path) -> str:
    # only the installed file is the service's: another one is read by whoever runs with its --config
    return "; restart the service: sudo systemctl restart listener" if _is_installed(config_path) else ""


def _print_result(result: Calibration, placed: str, axis_deg: float | None) -> None:
    heard_deg = result.rep_heard_deg  # to the line's axis: from the other end it is 180 deg less that
    if heard_deg is not None and axis_deg is not None and angle_apart_deg(result.rep_azimuth_deg, axis_deg) > 90.0:
        heard_deg = 180.0 - heard_deg
    line = "" if heard_deg is None else f" (the end of the mic line nearer the rep, heard {heard_deg:.0f} deg from it)"
    print(f"rep        {result.rep_azimuth_deg:5.1f} deg{line}")
    print(f"customer   {result.customer_azimuth_deg:5.1f} deg ({result.customer_from})")
    print(
        f"confidence {result.confidence:.2f} ({result.speech_s:.1f} s of speech, "
        f"{100 * result.rep_share:.0f} % of it from the rep's direction)"
    )
    if result.note:
        print(result.note)
    if placed:
        print(placed)
    sys.stdout.flush()


def _refusal(config: Config, result: Calibration, force: bool, from_file: bool = False) -> str:
    """Why these azimuths must not be stored ('' when they may): one line, with what to do instead."""
    if result.ambiguous:
        parties = config.parties
        return (
            f"the two talkers are about equally far from the configured rep ({parties.rep_azimuth_deg:g} deg) and "
            f"customer ({parties.customer_azimuth_deg:g} deg), so which one is the rep is a guess; {ALONE}"
        )
    if result.doubt and not force:
        return result.doubt
    if result.confidence < LOW_CONFIDENCE and not force:
        cause = _low_confidence_cause(result, from_file)
        return f"low confidence ({result.confidence:.2f}, below {LOW_CONFIDENCE}): {cause}"
    return ""


def _channels_refusal(watch: ChannelWatch) -> str:
    """Not --force-able: with a dead or copied channel every direction is measured wrong, however confidently."""
    if not watch.said:
        return ""
    return (
        "the channels are not each their own mic (warned above), so the directions measured from them are wrong; "
        "fix the channels, then calibrate again"
    )


def _low_confidence_cause(result: Calibration, from_file: bool = False) -> str:
    """The factor that pulled the confidence down most (see ``Factors``), and its cure."""
    factors = result.factors
    lowest = min(factors.evidence, factors.explained, factors.clarity)
    if factors.evidence == lowest:
        # --seconds sets how long to listen live; with --input argparse refuses it, the file sets the length
        longer = (
            "record a longer file of the rep talking" if from_file else "the rep should talk for longer (--seconds 20)"
        )
        return (
            f"only {result.speech_s:.1f} s of clear speech; {longer}, closer to the counter or in a quieter moment "
            "(or add --force)"
        )
    if factors.explained == lowest:
        unexplained = round(100 * (1.0 - factors.explained))
        return (
            f"{unexplained} % of the speech came from scattered directions (echoes, others nearby); {ALONE} "
            "(or add --force)"
        )
    return f"the two talkers are not clearly at the configured rep and customer directions; {ALONE} (or add --force)"


def _placement_warning(config: Config, result: Calibration) -> str:
    """On a line array, a warning when the rep was heard nearly square to the line ('' otherwise).

    The azimuths stored on a line are its two ends, which listener doctor and the config accept; only a
    rep square to the line leaves which end is theirs open. An area array tells apart any two directions
    the config accepts.
    """
    heard = result.rep_heard_deg
    axis = line_axis_deg(geometry(config).mics_m)
    if (
        heard is None
        or axis is None
        or abs(math.cos(math.radians(heard))) >= math.sin(math.radians(BROADSIDE_HALF_DEG))
    ):
        return ""
    return (
        f"warning: the rep was heard {heard:.0f} deg from the mic line (along {axis:g} deg), nearly square to it, "
        "where the line cannot tell which end the rep is nearer (height and echoes widen the angle it measures, "
        "so a rep near an end can read far from it, but not this far); if the rep does not stand near one end, "
        "turn the board so its mic line points from the rep to the customer, then calibrate again"
    )


def _beside_note(config: Config) -> str:
    """On a line array, what calibrate cannot check ('' on an area array): a customer beside the rep.

    The line hears only which end a talker is nearer, and a customer 40-55 deg from the rep is nearer the
    rep's end: bench.calibrate's rooms stored all 30 such customers at the far end, none refused (the 4-mic
    board refuses 37 of 60, bench/README.md, "Calibration").
    """
    if line_axis_deg(geometry(config).mics_m) is None:
        return ""
    return (
        "note: on this mic line, a customer standing beside the rep (under about 60 deg round from them) is heard "
        "as the rep and stored at the far end of the line anyway, without a word; check by ear that the customer "
        "stands at that far end, or record a conversation at the counter and check with `listener analyze "
        "recording.wav --config FILE` that the customer's talk is counted as theirs"
    )


def _watched(events: Iterable[Event], watch: ChannelWatch) -> Iterator[Event]:
    """The events, each shown to ``watch`` first; what was heard is judged at their end, however short."""
    for event in events:
        list(watch.process(event))
        yield event
    watch.finish()


def _events(config: Config, wav: Path | None, listen_s: float) -> Iterator[Event]:
    geo = geometry(config)
    if wav is not None:
        with WavSource(wav, geo, block_ms=1000) as source:
            yield from source.events()
        return
    from listener.audio.live import LiveSource

    with LiveSource(config) as live:  # opened first: with no array, the error comes before the invitation
        print(f"listening for {listen_s:g} s: the rep talks now, as in a conversation", flush=True)
        heard_s = 0.0
        for event in events_until(live, listen_s, listen_s + LIVE_SLACK_S):
            lost = lost_detail(event)
            if lost is not None:
                # the rep's words from here on are not heard, however long the reopening waits: told now, as
                # the array's fault, not later as too little speech; leaving the with closes the source
                raise CalibrationError(_lost_refusal(lost, heard_s, listen_s))
            if isinstance(event, AudioBlock):
                heard_s += event.duration_s
            yield event


def _lost_refusal(detail: str, heard_s: float, listen_s: float) -> str:
    if heard_s == 0.0:
        return (
            f"the array opened but delivered no audio at all ({detail}), so nothing was measured: {NO_AUDIO_FIX};"
            " `listener doctor` tests it, then run the same listener calibrate command again"
        )
    return (
        f"the array stopped delivering audio {heard_s:.1f} s into the {listen_s:g} s of listening ({detail}), "
        "so nothing was measured: check the array's connection (its USB cable, or the HAT seated on the Pi's "
        "pins; `listener doctor` tests it), then run the same listener calibrate command again"
    )


def _installed() -> Path:
    import listener.config  # its INSTALLED_CONFIG read now, as config_file() reads it (tests point it elsewhere)

    return listener.config.INSTALLED_CONFIG


def _is_installed(path: Path) -> bool:
    try:
        return path.resolve() == _installed().resolve()
    except (OSError, RuntimeError):  # a loop of links (RuntimeError before Python 3.13): not the installed file
        return False
