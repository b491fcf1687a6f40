"""What ``listener analyze`` reports about a recording as a whole: its ``metrics`` against its sessions, its times
against the file's length, its numbers' precision, and the plain text's sessions line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from listener.analytics.report import AudioInfo
from listener.cli import main
from listener.service.runner import sample_conversation
from tests import synth
from tests.analytics_timelines import run
from tests.test_analyze import analyze_json

SAMPLE = sample_conversation()


def numbers(value: object) -> list[float]:
    """Every float anywhere in a report."""
    if isinstance(value, dict):
        return [x for v in value.values() for x in numbers(v)]
    if isinstance(value, list):
        return [x for v in value for x in numbers(v)]
    return [value] if isinstance(value, float) else []


def test_the_rep_talking_on_after_the_session_is_no_monologue(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a customer says two sentences and falls silent; the rep talks on for over a minute. 30 s after the
    # customer's last word the session ends: the rep's 35 s after it are nobody's monologue (docs/metrics.md)
    customer, _ = synth.render(
        [
            synth.Utterance("customer", 0.5, "cmu_arctic_us_aew_a0001.wav", 180.0),
            synth.Utterance("customer", 4.5, "cmu_arctic_us_aew_a0002.wav", 180.0),
        ],
        9.0,
    )
    # one rendered sentence every 3 s: rendering each into the whole 78 s would take half a minute
    sentence, _ = synth.render([synth.Utterance("rep", 0.0, "cmu_arctic_us_axb_a0004.wav", 0.0)], 3.0)
    samples = np.concatenate([customer, *[sentence] * 23])
    report = analyze_json(synth.write_wav(tmp_path / "rep_talks_on.wav", samples), capsys=capsys)
    (session,) = report["sessions"]
    ended = [e["t"] for e in report["events"] if e["type"] == "floor_held" and e["t"] > session["end_s"]]
    assert ended and report["segments"][-1]["end"] > session["end_s"] + 30.0, "the rep did talk on, alone"
    metrics = report["metrics"]
    assert (metrics["monologues"], metrics["longest_monologue_s"]) == (1, session["longest_monologue_s"])
    assert metrics["longest_monologue_s"] < 60.0  # what would have been a dominating monologue, had it counted
    assert metrics["rep_talk_s"] > session["rep_talk_s"] + 30.0  # talk times are still the whole file's


def test_metrics_of_a_one_session_recording_are_its_sessions(capsys: pytest.CaptureFixture[str]) -> None:
    # the bundled sample: all its speech lies in its one session, so the two agree on every figure they share,
    # to the same precision; silence_s is the file's, which runs on after the session's last speech
    report = analyze_json(SAMPLE, capsys=capsys)
    (session,) = report["sessions"]
    metrics = report["metrics"]
    differ = {k: (v, session[k]) for k, v in metrics.items() if k in session and v != session[k]}
    assert differ.keys() == {"silence_s"}, differ
    assert metrics["silence_s"] > session["silence_s"]


def test_every_number_is_given_to_three_decimals(capsys: pytest.CaptureFixture[str]) -> None:
    report = analyze_json(SAMPLE, capsys=capsys)
    assert len(numbers(report)) > 100
    assert [x for x in numbers(report) if round(x, 3) != x] == []


def test_no_time_lies_beyond_the_end_of_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 9.3373 s: not a whole number of 10 ms frames; the session ends with the file and its decisions with it
    utterances = [
        synth.Utterance("customer", 0.5, "cmu_arctic_us_aew_a0001.wav", 180.0),
        synth.Utterance("rep", 4.0, "cmu_arctic_us_axb_a0004.wav", 0.0),
    ]
    samples, _ = synth.render(utterances, 9.3373)
    report = analyze_json(synth.write_wav(tmp_path / "odd.wav", samples), capsys=capsys)
    end_s = report["audio"]["seconds"]
    assert end_s == 9.337
    times = [e[k] for e in report["events"] for k in ("t", "decided_s", "end_s") if k in e]
    assert any(e["type"] == "session_end" for e in report["events"]) and times
    assert max(times) <= end_s


@pytest.mark.parametrize("duration_s", [1.75, 1.8, 1.85])
def test_a_floor_decided_in_the_files_last_moments_is_dated_within_it(
    duration_s: float, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The customer's sentence takes the floor in the last 0.1 s: the model's steps still waiting for their
    look-ahead are decided at the end of the stream, and were dated with the look-ahead's 0.1 s on top: the
    floor at 1.78 s in a 1.75 s file, after the floor_held and session_end that closed it."""
    utterance = synth.Utterance("customer", 0.5, "cmu_arctic_us_aew_a0002.wav", 180.0)
    samples, _ = synth.render([utterance], duration_s)
    report = analyze_json(synth.write_wav(tmp_path / "short.wav", samples), capsys=capsys)
    end_s = report["audio"]["seconds"]
    assert any(e["type"] == "floor" for e in report["events"]), report["events"]
    late = [e for e in report["events"] if max(e["decided_s"], e.get("end_s") or 0.0) > end_s]
    assert not late, (end_s, late)


def test_the_text_says_how_many_sessions_started(two_short_visits: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # two visitors, neither with the 20 s of speech a summary needs: "0 summarized" alone read as nobody came
    assert main(["analyze", str(two_short_visits)]) == 0
    out = capsys.readouterr().out
    assert "sessions      2 started, 0 summarized (a summary needs 20 s of speech)\n" in out


def test_the_rolling_share_is_reported_once_a_second_as_the_dominance_rule_saw_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # metrics.md reports the share per session and over a rolling window; the report lists the window's figures
    # once a second inside a session. Dominance from 10 s of speech (as in test_analyze_plain): the sample's rep
    # dominates once, to the session's end, and the rolling share stays over the hysteresis's off threshold
    config = tmp_path / "listener.toml"
    config.write_text("[analytics]\ndominance_min_speech_s = 10\n")
    report = analyze_json(SAMPLE, "--config", str(config), capsys=capsys)
    rolling = report["rolling_share"]
    (session,) = report["sessions"]
    times = [r["t"] for r in rolling]
    assert len(times) >= 20 and np.allclose(np.diff(times), 1.0)
    assert session["t"] <= times[0] < session["t"] + 1.0 and times[-1] <= session["end_s"]
    for r in rolling:
        assert 0.0 < r["window_s"] <= 120.0 and r["window_s"] == pytest.approx(r["t"] - session["t"], abs=0.011)
        talk = r["rep_talk_s"] + r["customer_talk_s"]
        assert talk <= r["window_s"] * 2 + 1e-9  # overlap counts for both
        if talk == 0:
            assert r["rep_share"] is None  # no speech in the window: no share, as MQTT's rep_share_rolling
        else:  # from the unrounded talk times
            assert r["rep_share"] == pytest.approx(r["rep_talk_s"] / talk, abs=0.0015)
    on, off = [e for e in report["events"] if e["type"] == "dominance"]
    assert on["dominating"] and off["reason"] == "session_end"
    # dominating from its decision to the session's end: the share never fell under the off threshold (0.60)
    held = [r["rep_share"] for r in rolling if on["decided_s"] <= r["t"] < off["t"]]
    assert held and min(held) >= 0.60, held
    last = rolling[-1]  # the window is the whole session so far: its talk is the session's, up to its last second
    assert last["rep_talk_s"] <= session["rep_talk_s"] and last["rep_talk_s"] >= session["rep_talk_s"] - 1.0


def test_the_whole_files_silence_and_segment_counts_are_each_partys_own() -> None:
    """docs/metrics.md: ``silence_s`` is the file's length less its speech (an overlap counted once), and
    ``rep_segments`` / ``customer_segments`` count each party's speech segments."""
    collector = run([("rep", 0.5, 9.0), ("customer", 6.0, 12.0), ("customer", 14.0, 15.0)], 20.0)
    metrics = collector.report(AudioInfo(duration_s=20.0, channels=4, sample_rate_hz=16000))["metrics"]
    assert isinstance(metrics, dict)
    talk = metrics["rep_talk_s"] + metrics["customer_talk_s"] - metrics["overlap_s"]
    assert metrics["overlap_s"] > 0 and metrics["silence_s"] == pytest.approx(20.0 - talk, abs=0.002)
    assert (metrics["rep_segments"], metrics["customer_segments"]) == (1, 2)
