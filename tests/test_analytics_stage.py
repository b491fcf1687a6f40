"""The analytics stage in the real pipeline: ``listener analyze`` from rendered speech, --plot, gaps."""

from __future__ import annotations

import collections
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from listener import events as vocabulary
from listener.analytics.replay import activity, frame_blocks, replay
from listener.analytics.stage import ConversationAnalytics, _duration
from listener.cli import main
from listener.config import Config, geometry
from listener.events import (
    ActivityFrames,
    AudioDropped,
    EndOfStream,
    Event,
    Party,
    Pause,
    Reported,
    SessionSummary,
    TurnPredictions,
)
from listener.service.build import analysis_stages
from tests import synth


def analyze(path: Path, *extra: str, capsys: pytest.CaptureFixture[str]) -> dict:  # type: ignore[type-arg]
    assert main(["analyze", str(path), "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def interruption_wav(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, object]]]:
    """The rep talks; 2.5 s later the customer talks over the rep and keeps going.

    The rep's sentence has a real 0.24 s pause 1.2 s in (longer than the 0.2 s that activity
    bridges), so by the definition the rep holds the floor only from 1.0 s after it resumes
    (about 2.9 s); the customer starts after that, whichever way the pause is heard.
    """
    utts = [
        synth.Utterance("rep", 0.5, "cmu_arctic_us_axb_a0006.wav", 0.0),
        synth.Utterance("customer", 3.0, "cmu_arctic_us_aew_a0003.wav", 180.0),
    ]
    samples, truth = synth.render(utts, 7.0)
    return synth.write_wav(tmp_path_factory.mktemp("audio") / "interrupt.wav", samples), truth


def test_analysis_stages_end_with_the_analytics() -> None:
    config = Config()
    assert isinstance(analysis_stages(config, geometry(config))[-1], ConversationAnalytics)


def test_analyze_reports_the_interruption_found_in_the_truth(
    interruption_wav: tuple[Path, list[dict[str, object]]], capsys: pytest.CaptureFixture[str]
) -> None:
    path, truth = interruption_wav
    report = analyze(path, capsys=capsys)
    expected = [
        e.record()
        for e in replay([(t["party"], t["start"], t["end"]) for t in truth], 7.0, Config()).events  # type: ignore[misc]
        if e.kind == "interruption"
    ]
    found = [e for e in report["events"] if e["type"] == "interruption"]
    assert [(e["by"], e["successful"]) for e in expected] == [("customer", True)]
    assert [(e["by"], e["successful"]) for e in found] == [("customer", True)]
    assert abs(found[0]["t"] - expected[0]["t"]) <= 1.0
    assert found[0]["t"] <= found[0]["decided_s"] <= found[0]["t"] + 1.0
    kinds = {e["type"] for e in report["events"]}
    assert {"session_start", "session_end", "floor", "floor_held"} <= kinds
    metrics = report["metrics"]
    assert metrics["interruptions_by_customer"] == 1 and metrics["successful_interruptions_by_customer"] == 1
    assert metrics["sessions"] == 1
    assert report["sessions"] == []  # 6 s of speech: too short for a summary


def test_sessions_list_in_the_report(
    dialogue_4ch: tuple[Path, list[dict[str, object]]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "short.toml"
    cfg.write_text("[analytics]\nsession_min_speech_s = 5.0\n")
    report = analyze(dialogue_4ch[0], "--config", str(cfg), capsys=capsys)
    (session,) = report["sessions"]
    assert session["type"] == "session_summary" and len(session["session_id"]) == 32
    assert session["rep_talk_s"] + session["customer_talk_s"] >= 5.0
    assert 0.0 <= session["rep_share"] <= 1.0
    starts = [e for e in report["events"] if e["type"] == "session_start"]
    assert [s["session_id"] for s in starts] == [session["session_id"]]


def test_plot_draws_a_png(
    interruption_wav: tuple[Path, list[dict[str, object]]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "conversation.png"
    assert main(["analyze", str(interruption_wav[0]), "--plot", str(out)]) == 0
    assert "interruptions" in capsys.readouterr().out
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


@pytest.mark.parametrize("name", ["a$\\bad$.wav", "q$x^$.wav"])
def test_a_file_name_with_dollar_signs_is_the_plots_title_as_it_is(
    interruption_wav: tuple[Path, list[dict[str, object]]], name: str, tmp_path: Path
) -> None:
    # matplotlib read "$...$" in the title (the file's name) as mathtext and failed at savefig: no figure
    wav = tmp_path / name
    wav.write_bytes(interruption_wav[0].read_bytes())
    out = tmp_path / "conversation.png"
    assert main(["analyze", str(wav), "--plot", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib_is_a_one_line_error(
    interruption_wav: tuple[Path, list[dict[str, object]]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # what Python does for a package that is absent
    assert main(["analyze", str(interruption_wav[0]), "--plot", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install matplotlib" in err
    assert not (tmp_path / "x.png").exists()


def test_every_reported_event_has_an_onset_and_a_decision() -> None:
    # Reported declares them to the type checker only: each event must make them fields of its own
    kinds = [k for k in vars(vocabulary).values() if isinstance(k, type) and issubclass(k, Reported)]
    assert len(kinds) > 10
    for kind in kinds:
        if kind is not Reported:
            assert {"onset_s", "decided_s"} <= {f.name for f in dataclasses.fields(kind)}, kind


def test_dropped_audio_is_silence_to_the_analytics() -> None:
    """Frames missing between two blocks count as nobody speaking, not as a shift of later frames."""
    act = activity([("customer", 0.5, 6.0), ("rep", 7.0, 12.0), ("customer", 20.0, 26.0)], 30.0)
    blocks = list(frame_blocks(act, bounds=[1300, 1800]))
    assert not (act[Party.REP][1300:1800].any() or act[Party.CUSTOMER][1300:1800].any())
    with_gap = _reported([blocks[0], blocks[2]], 30.0)  # 13 s .. 18 s: the source dropped it
    assert with_gap == _reported(blocks, 30.0)
    assert any(("type", "long_silence") in e for e in with_gap)


def test_frames_are_not_counted_twice() -> None:
    """A block that repeats frames already seen (source restart) only adds the new ones."""
    act = activity([("customer", 0.5, 6.0), ("rep", 5.0, 9.0)], 10.0)
    first = next(frame_blocks(act, bounds=[500]))
    repeat = ActivityFrames(
        start_s=4.0,
        hop_s=0.01,
        rep_active=act[Party.REP][400:1000],
        customer_active=act[Party.CUSTOMER][400:1000],
        rep_prob=np.zeros(600, np.float32),
        customer_prob=np.zeros(600, np.float32),
        doa_deg=np.zeros(600, np.float32),
    )
    assert _reported([first, repeat], 10.0) == _reported(list(frame_blocks(act)), 10.0)


def test_a_stream_ending_past_its_last_frames_decides_its_end_at_its_last_whole_frame() -> None:
    """The frames came up to 10.0 s and the stream ended at 10.02 s (its last 20 ms never reached the analytics):
    what the end decides is dated at the stream's last whole frame, 10.02 s, though 10.02 / 0.01 comes out as
    1001.9999999999999 frames in floating point (read as frame 1001, it was dated 10.01 s)."""
    (block,) = frame_blocks(activity([("customer", 0.5, 6.0)], 10.0))
    stage = ConversationAnalytics(Config())
    out = [*stage.process(block), *stage.process(EndOfStream(10.02))]
    assert [(e.end_s, e.decided_s) for e in out if isinstance(e, vocabulary.SessionEnded)] == [(6.0, 10.02)]


def _reported(blocks: list[ActivityFrames], seconds: float) -> list[tuple[object, ...]]:
    """The stage's reported events (session ids left out: they are random)."""
    stage = ConversationAnalytics(Config())
    out: list[Event] = []
    for block in blocks:
        out += stage.process(block)
    out += stage.process(EndOfStream(seconds))
    keys: list[tuple[object, ...]] = []
    for e in out:
        if isinstance(e, Reported):
            rec = e.record()
            rec.pop("session_id", None)
            keys.append(tuple(sorted(rec.items())))
    return keys


def _pauses_read_with_the_model(bounds: list[int]) -> list[tuple[float, float]]:
    act = activity([("customer", 0.0, 3.0), ("customer", 3.25, 5.0)], 8.0)
    hold = np.full(800, 0.9, np.float32)
    hold[320] = 0.25  # the model's view 0.2 s into the pause
    model = (hold, np.zeros(800, np.float32))
    stage = ConversationAnalytics(Config())
    out: list[Event] = []
    for block in frame_blocks(act, bounds=bounds):  # in the turn stage's order: predictions, then frames
        first = round(block.start_s / 0.01)
        out += stage.process(TurnPredictions(block.start_s, 0.01, *(m[first : first + block.n_frames] for m in model)))
        out += stage.process(block)
    out += stage.process(EndOfStream(8.0))
    return [(p.onset_s, p.p_shift) for p in out if isinstance(p, Pause)]


@pytest.mark.parametrize("bounds", [list(range(100, 800, 100)), [400], [100, 400], []])
def test_the_model_is_read_in_time_however_the_stream_is_cut(bounds: list[int]) -> None:
    assert _pauses_read_with_the_model(bounds) == [(3.0, pytest.approx(0.75)), (5.0, pytest.approx(0.1))]  # type: ignore[comparison-overlap]


def test_the_session_cap_warning_states_a_cap_of_an_hour_or_more_in_whole_hours() -> None:
    """The log line's length: 14400 s as "4 h", 5400 s as "1.5 h", 900 s as "15 min" (only minutes were tested,
    at the 10 min cap of the session-cap tests)."""
    assert [_duration(s) for s in (14400.0, 5400.0, 3600.0, 900.0)] == ["4 h", "1.5 h", "1 h", "15 min"]


def test_days_of_overflows_with_no_visitor_keep_only_the_last_minutes_unheard() -> None:
    """Outside a session an unheard stretch matters to no rule once a minute old: a stream of overflow blips two
    minutes apart with nobody there (no activity yet) is not kept whole."""
    stage = ConversationAnalytics(Config())
    for k in range(100):
        list(stage.process(AudioDropped(k * 120.0, 1.0, "overflow")))
    assert stage.unheard.spans == collections.deque([(99 * 120.0, 99 * 120.0 + 1.0)])


def test_a_drop_while_an_ended_session_waits_for_its_summary_keeps_what_the_session_did_not_hear() -> None:
    """A session ended at a gap (30 s after the customer's last word, at 130 s) while the rep still says "ok",
    a stretch too short yet to be known as no backchannel: its summary waits for it. The rep pauses the device
    then (130.05 s); with the turn model the pause's AudioDropped comes before its silent frames are judged, while
    no session is open. An unheard stretch of the session older than a minute (an overflow at 10 s) was forgotten
    then: its summary counted that second as silence (unheard_s 0.0)."""
    segments = [("customer", 0.5, 10.0), ("customer", 11.0, 100.0), ("rep", 129.6, 130.05)]
    overflow, pause = AudioDropped(10.0, 1.0, "overflow"), AudioDropped(130.05, 4.95, "paused")
    stage, out = ConversationAnalytics(Config()), []
    for block in frame_blocks(activity(segments, 140.0), bounds=range(10, 14000, 10)):  # 0.1 s blocks
        half = np.full(block.n_frames, 0.5, dtype=np.float32)
        out += [*stage.process(TurnPredictions(block.start_s, block.hop_s, half, half)), *stage.process(block)]
        for drop in (overflow, pause):
            if block.start_s <= drop.start_s < block.end_s:
                out += stage.process(drop)
    out += stage.process(EndOfStream(140.0))
    (summary,) = [e for e in out if isinstance(e, SessionSummary)]
    assert (summary.end_s, summary.decided_s) == (130.0, 130.25)  # it did wait, past the pause's start
    assert summary.unheard_s == pytest.approx(1.0)
