"""`listener calibrate` on the 2-mic HAT, a line array: it tells only which end of its mic line the rep is
nearer, so that end and the other are what is stored."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bench import room as bench_room
from listener.config import load_config, parse_config
from listener.config.presets import PRESETS
from listener.service.calibrate import Votes, estimate
from listener.service.calibrate.clusters import find_clusters
from listener.service.calibrate.space import Space
from listener.service.doctor import directions_check
from tests import synth
from tests.calibrate_cases import REP_ONLY, WITH_CUSTOMER, angle_error, calibrate_rendered, calibrate_wav, printed

LINE_TEXT = "[array]\npreset = 'respeaker-2mic'\n[parties]\nrep_azimuth_deg = 0.0\ncustomer_azimuth_deg = 180.0\n"
LINE_MICS = np.array(PRESETS["respeaker-2mic"].mics_m)
SECONDS_S = 16.0


def calibrate_line(tmp_path: Path, samples: np.ndarray, *flags: str) -> tuple[int, Path]:
    return calibrate_wav(tmp_path, samples, LINE_TEXT, *flags, name="line.wav")


def in_a_shop(utterances: list[synth.Utterance], rep_m: tuple[float, float], seed: int) -> np.ndarray:
    """The utterances in a reverberant shop (RT60 0.77 s), the HAT on the counter 1 m up: the rep standing
    ``rep_m`` (distance, mouth height) from it, the customer 1 m away, mouth at 1.6 m."""
    room = bench_room.Room((6.0, 5.0, 2.8), 0.77, (3.1, 2.4, 1.0))
    parties = {"rep": rep_m, "customer": (1.0, 1.6)}
    tracks = {party: np.zeros(int(SECONDS_S * synth.RATE_HZ)) for party in parties}
    azimuths = {}
    for u in utterances:
        x = synth.load_speech(u.file, u.max_s) * u.gain
        start = int(u.start_s * synth.RATE_HZ)
        tracks[u.party][start : start + x.size] += x[: tracks[u.party].size - start]
        azimuths[u.party] = u.azimuth_deg
    rng = np.random.default_rng(seed)
    spots = [bench_room.place(room, azimuths[p], *parties[p]).position_m(room) for p in azimuths]
    responses = bench_room.impulse_responses(room, spots, rng, mics_m=LINE_MICS)
    mix = sum(bench_room.render(tracks[p], h)[:, : tracks[p].size] for p, h in zip(azimuths, responses, strict=True))
    return np.asarray(mix).T + rng.normal(0.0, 1e-3, (tracks["rep"].size, LINE_MICS.shape[0]))


def test_a_standing_rep_at_the_end_of_the_line_is_stored_at_that_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The HAT placed as it should be: the rep 4 deg off one end of its mic line, the customer at the other.
    The rep's height (mouth 0.7 m above the board, 0.87 m away) and the room's echoes widen the angle the line
    measures far from the line; stored, that angle made things worse than the config it replaced."""
    utterances = [replace(u, azimuth_deg=4.0 if u.party == "rep" else 180.0) for u in WITH_CUSTOMER]
    code, path = calibrate_line(tmp_path, in_a_shop(utterances, (0.87, 1.7), seed=5))
    assert code == 0
    out = capsys.readouterr().out
    assert "heard" in out and "warning" not in out, out  # measured well off the line, but no cause to turn it
    parties = load_config(path).parties
    assert (parties.rep_azimuth_deg, parties.customer_azimuth_deg) == (0.0, 180.0), out
    # what doctor checks of the stored directions agrees: the two ends of the line
    assert directions_check(LINE_MICS, parties.rep_azimuth_deg, parties.customer_azimuth_deg).status == "ok"


def test_line_array_stores_the_end_nearer_a_rep_on_either_side(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rep_at_215 = [replace(u, azimuth_deg=215.0) for u in REP_ONLY]  # nearer the line's 180 deg end
    code, path = calibrate_rendered(tmp_path, rep_at_215, 12.0, LINE_TEXT, seed=16, mics=LINE_MICS)
    assert code == 0
    out = capsys.readouterr().out
    found = printed(out)
    assert (found["rep"], found["customer"]) == (180.0, 0.0), out
    assert "(far end of the mic line)" in out and "warning" not in out
    # heard from the end it is stored at, not from the line's axis (at 0 deg), which read about 145 deg
    heard = re.search(r"nearer the rep, heard (\d+) deg from it", out)
    assert heard is not None and int(heard.group(1)) < 90, out
    # a customer beside the rep is the one thing a line cannot check: said, with how to check it instead
    assert "a customer standing beside the rep (under about 60 deg round from them) is heard as the rep" in out
    assert "check by ear" in out and "listener analyze" in out
    assert load_config(path).parties.rep_azimuth_deg == 180.0


def test_line_array_broadside_rep_is_warned_about(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # rep at 90, square to the line: which end is theirs is anyone's guess, and that is said
    rep_at_90 = [replace(u, azimuth_deg=90.0) for u in REP_ONLY]
    code, path = calibrate_rendered(tmp_path, rep_at_90, 12.0, LINE_TEXT, seed=17, mics=LINE_MICS)
    assert code == 0
    parties = load_config(path).parties
    assert {parties.rep_azimuth_deg, parties.customer_azimuth_deg} == {0.0, 180.0}
    out = capsys.readouterr().out
    assert "warning: the rep was heard 9" in out and "nearly square to it" in out, out
    assert "height and echoes widen the angle" in out
    assert "mic line points from the rep to the customer" in out


def test_line_array_second_talker_on_the_other_half(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    utterances = [replace(u, azimuth_deg=35.0 if u.party == "rep" else 150.0) for u in WITH_CUSTOMER]
    code, _ = calibrate_rendered(tmp_path, utterances, 16.0, LINE_TEXT, seed=18, mics=LINE_MICS)
    assert code == 0
    out = capsys.readouterr().out
    found = printed(out)
    assert (found["rep"], found["customer"]) == (0.0, 180.0), out
    assert angle_error(found["rep"], 35.0) <= 35.0  # the end the rep is nearer
    assert "(second talker)" in out


def test_votes_in_both_talkers_windows_count_once_in_the_confidence() -> None:
    """The rep's votes at 10, 40 and 60 deg to the line put their centre at 30 deg, and the customer's peak,
    kept a cluster's width from that centre, at 90 deg: the votes at 60 deg are in both windows. Counted
    twice, the share explained was 1.09, and the confidence printed 1.09; the factors are each 0..1."""
    config = parse_config({"array": {"preset": "respeaker-2mic"}})  # rep 0, customer 180: the line's ends
    space = Space.of(config)
    rep = np.repeat([40.0, 10.0, 60.0], [400, 350, 100])
    np.random.default_rng(0).shuffle(rep)  # the rep's votes mixed in time, as a voice's are
    coordinate = np.concatenate([rep, np.full(300, 90.0)])
    frame = np.concatenate([np.arange(850), np.arange(950, 1250)])  # the customer answers in a turn of their own
    votes = Votes(space.axis_deg + coordinate, np.ones(coordinate.size), 0.01, frame=frame)
    # the case itself: two clusters whose windows share the rep's votes at 60 deg
    clusters = find_clusters(space, coordinate, votes.weight, votes.time_s, votes.hop_s)
    assert [c.centre_deg for c in clusters] == [30.0, 82.5]
    assert sum(c.weight for c in clusters) == 1250.0  # of 1150 votes

    result = estimate(votes, config)
    assert result.customer_from == "second talker"
    assert result.factors.explained == 1.0  # every vote is in one window or the other
    assert result.confidence == 1.0
