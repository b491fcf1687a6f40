"""The real vosk recogniser falling behind or failing in the real pipeline: skipped audio, faults, a hurried stop."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from listener.audio.wav import WavSource
from listener.config import Config, geometry, parse_config
from listener.events import (
    AudioBlock,
    EndOfStream,
    Event,
    SessionEnded,
    SpeechSegment,
    TranscriptionSkipped,
    WordsRecognized,
)
from listener.pipeline import Pipeline, Stage
from listener.service.build import analysis_stages
from listener.transcription.stage import TranscriptionStage
from listener.transcription.summary import CueTally
from tests import asr_audio
from tests.asr_pipeline import SESSION_GAP_S, Probe, asr_config, run_pipeline


def test_queue_overflow_skips_audio_marks_cues_partial_and_never_holds_up_the_pipeline(
    ko_model: Path, ko_dialogue: tuple[Path, list[dict[str, object]]]
) -> None:
    wav, _ = ko_dialogue
    probe, timed = run_pipeline(asr_config(ko_model, queue_s=1.0, overflow="skip"), wav)
    skipped = [e for e in probe.events if isinstance(e, TranscriptionSkipped)]
    assert sum(e.duration_s for e in skipped) >= 5.0  # flat out, the recogniser cannot keep up
    starts = [e.start_s for e in skipped]
    assert starts == sorted(starts)
    # the recogniser itself takes about real time; the stage hands audio over and returns
    assert max(timed.block_s) < 0.5, timed.block_s  # waiting for it would take about a block (1 s)
    # words still come out, only from audio that was heard
    holes = [(e.start_s, e.start_s + e.duration_s) for e in skipped]
    for w in (e for e in probe.events if isinstance(e, WordsRecognized)):
        assert not any(a + 0.05 < w.start_s and w.end_s < b - 0.05 for a, b in holes), w
    # the analysis path is the same as without transcription
    plain = parse_config({"analytics": {"session_gap_s": SESSION_GAP_S}})
    baseline, _ = run_pipeline_without_asr(plain, wav)
    assert [e for e in probe.events if isinstance(e, SpeechSegment)] == baseline


def run_pipeline_without_asr(config: Config, wav: Path) -> tuple[list[SpeechSegment], None]:
    geo = geometry(config)
    probe = Probe()
    with WavSource(wav, geo, block_ms=1000) as source, Pipeline([*analysis_stages(config, geo), probe]) as p:
        p.run(source)
    return [e for e in probe.events if isinstance(e, SpeechSegment)], None


def test_a_recogniser_that_fails_mid_run_shows_as_a_fault_once(
    ko_model: Path, ko_dialogue: tuple[Path, list[dict[str, object]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """vosk raising mid-run (a fault injected into the real engine) reaches the LEDs and MQTT as a fault,
    and the audio it was recognising is reported skipped then."""
    import vosk

    from listener.events import DeviceMode, DeviceState

    accept = vosk.KaldiRecognizer.AcceptWaveform
    calls = [0]

    def failing(self: vosk.KaldiRecognizer, data: bytes) -> int:
        calls[0] += 1
        if calls[0] > 3:
            raise RuntimeError("the recogniser broke")
        return int(accept(self, data))

    monkeypatch.setattr(vosk.KaldiRecognizer, "AcceptWaveform", failing)
    probe, _ = run_pipeline(asr_config(ko_model), ko_dialogue[0])
    states = [e for e in probe.events if isinstance(e, DeviceState)]
    faults = [e for e in states if e.mode is DeviceMode.FAULT]
    assert len(faults) == 1 and faults[0].cause == "transcription"
    assert "speech recogniser failed" in faults[0].detail
    ended_at = next(i for i, e in enumerate(probe.events) if isinstance(e, SessionEnded))  # the analytics go on
    # restarted at the session's end (the next test follows it further)
    assert [(e.mode, e.cause) for e in states] == [
        (DeviceMode.FAULT, "transcription"),
        (DeviceMode.LISTENING, "transcription"),
    ]
    # the audio it failed in is reported at the fault, not at the stream's end: the session is partial
    skipped = [e for e in probe.events[:ended_at] if isinstance(e, TranscriptionSkipped)]
    assert skipped and min(e.start_s for e in skipped) < asr_audio.DIALOGUE[0].start_s + 0.5


def _run_with_tally(config: Config, wav: Path, *before: Stage) -> tuple[Probe, CueTally]:
    """The analysis (with transcription) over ``wav``, ``before`` ahead of it: what came out, and the cue tally."""
    geo = geometry(config)
    probe, tally = Probe(), CueTally()
    with (
        WavSource(wav, geo, block_ms=1000) as source,
        Pipeline([*before, *analysis_stages(config, geo), tally, probe]) as pipeline,
    ):
        pipeline.run(source)
    return probe, tally


def _failing_from_the_streams_end(monkeypatch: pytest.MonkeyPatch) -> Stage:
    """vosk's FinalResult made to fail once the stream ends; the stage that marks the end, to put before the
    transcription stage (the failure starts with the stream's end)."""
    import vosk

    final = vosk.KaldiRecognizer.FinalResult
    ending = threading.Event()

    def failing(self: vosk.KaldiRecognizer) -> str:
        if ending.is_set():
            raise RuntimeError("the recogniser broke")
        return str(final(self))

    class MarksTheEnd(Stage):
        def process(self, event: Event) -> Iterable[Event]:
            if isinstance(event, EndOfStream):
                ending.set()
            return ()

    monkeypatch.setattr(vosk.KaldiRecognizer, "FinalResult", failing)
    return MarksTheEnd()


def _cut(wav: Path, cut_s: float, tmp_path: Path) -> Path:
    """``wav``'s first ``cut_s`` seconds."""
    samples, rate_hz = sf.read(wav, dtype="float32")
    cut = tmp_path / "cut.wav"
    sf.write(cut, samples[: int(cut_s * rate_hz)], rate_hz, subtype="PCM_16")
    return cut


def test_a_recogniser_that_fails_on_the_streams_last_words_shows_as_a_fault_and_reports_them_lost(
    ko_model: Path, ko_dialogue: tuple[Path, list[dict[str, object]]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A failure while the end of the stream is being finished is a fault too, and the utterance it was
    finishing (recognised audio whose words never came) is reported skipped: the cues are partial."""
    from listener.events import DeviceMode, DeviceState

    # the stream ends while the customer's first line is being said, the rep's words before it heard (to the
    # dialogue's last line, as before, the recogniser took twice as long)
    last_line = asr_audio.DIALOGUE[1]
    cut_s = last_line.start_s + 1.5
    wav = _cut(ko_dialogue[0], cut_s, tmp_path)
    marks_the_end = _failing_from_the_streams_end(monkeypatch)
    probe, tally = _run_with_tally(asr_config(ko_model), wav, marks_the_end)
    faults = [e for e in probe.events if isinstance(e, DeviceState)]
    assert [(f.mode, f.cause) for f in faults] == [(DeviceMode.FAULT, "transcription")]
    assert faults[0].t_s == pytest.approx(cut_s)
    given_up = [e for e in probe.events if isinstance(e, TranscriptionSkipped)]
    assert len(given_up) == 1, given_up
    assert last_line.start_s - 0.6 <= given_up[0].start_s <= last_line.start_s + 0.3
    assert given_up[0].start_s + given_up[0].duration_s == pytest.approx(cut_s)
    words = [e for e in probe.events if isinstance(e, WordsRecognized)]
    assert words and max(w.end_s for w in words) <= given_up[0].start_s + 0.1  # none heard from inside it
    assert tally.metrics().asr_partial


def test_a_hurried_stage_stops_waiting_for_the_recogniser_and_says_what_it_skipped(
    ko_model: Path, ko_dialogue: tuple[Path, list[dict[str, object]]]
) -> None:
    """The second Ctrl-C reaches the stage while its end waits out finish_wait_s for a recogniser a minute
    behind: it stops waiting, and the audio given up comes out as TranscriptionSkipped (cues partial)."""
    config = asr_config(ko_model, speech_only=False, queue_s=120.0, overflow="wait", finish_wait_s=60.0)
    speech, _ = sf.read(ko_dialogue[0], dtype="float32", always_2d=True)
    second = np.repeat(speech[:16000, :1], 4, axis=1)
    stage = TranscriptionStage(config, geometry(config))
    with stage:
        for k in range(60):  # queued at once: the recogniser is a minute behind
            list(stage.process(AudioBlock(start_s=float(k), sample_rate_hz=16000, samples=second)))
        hurried_at: list[float] = []

        def hurry() -> None:
            hurried_at.append(time.monotonic())
            stage.hurry()

        threading.Timer(0.5, hurry).start()
        out = list(stage.process(EndOfStream(t_s=60.0)))
        returned_at = time.monotonic()
    skipped_s = sum(e.duration_s for e in out if isinstance(e, TranscriptionSkipped))
    assert hurried_at and returned_at - hurried_at[0] < 4.0, "the end went on waiting after the hurry"
    assert 30.0 < skipped_s <= 60.0  # most of the minute was still queued, and said so


VISIT_S = 21.0


def _five_visits(workdir: Path) -> Path:
    """The dialogue five times over, a visit every VISIT_S."""
    lines = [asr_audio.Line(x.party, x.start_s + k * VISIT_S, x.text) for k in range(5) for x in asr_audio.DIALOGUE]
    samples, _ = asr_audio.render(lines, 5 * VISIT_S, workdir)
    return asr_audio.synth.write_wav(workdir / "four_visits.wav", samples)


def _failing_where_fed(monkeypatch: pytest.MonkeyPatch, to_fail: list[float]) -> None:
    """vosk's AcceptWaveform made to fail once at each audio time of ``to_fail`` (popped as it fails): the fault
    is injected by where in the audio the recogniser is fed."""
    import vosk

    from listener.transcription.recognizer import RecognizerWorker

    feeding, accept = RecognizerWorker._feeding, vosk.KaldiRecognizer.AcceptWaveform
    fed_s = [0.0]  # audio time of the piece the recogniser is fed

    def noting(self: RecognizerWorker, audio_s: float) -> None:
        fed_s[0] = audio_s
        feeding(self, audio_s)

    def failing(self: vosk.KaldiRecognizer, data: bytes) -> int:
        if to_fail and fed_s[0] >= to_fail[0]:
            to_fail.pop(0)
            raise RuntimeError("the recogniser broke")
        return int(accept(self, data))

    monkeypatch.setattr(RecognizerWorker, "_feeding", noting)
    monkeypatch.setattr(vosk.KaldiRecognizer, "AcceptWaveform", failing)


def test_a_failed_recogniser_is_restarted_at_a_session_end_waiting_longer_after_each_failure_in_a_row(
    ko_model: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Five visits; the real engine fails in the first two and the last. Transcription stopped for good at the
    first failure, so a device up for weeks lost its cues until someone restarted it. Now the recogniser is
    restarted at the next session end, the wait doubling after each failure in a row (one session end,
    then two: the third visit is not transcribed), and the fourth visit's cues are whole again; a visit seen
    through ends the row, so the fifth visit's failure waits one session end again."""
    from listener.events import DeviceMode, DeviceState

    wav = _five_visits(tmp_path_factory.mktemp("four-visits"))
    to_fail = [2.0, VISIT_S + 2.0, 4 * VISIT_S + 2.0]  # once each, in the first two visits and the last
    _failing_where_fed(monkeypatch, to_fail)
    probe, tally = _run_with_tally(asr_config(ko_model), wav)
    ends = [e.decided_s for e in probe.events if isinstance(e, SessionEnded)]
    states = [(e.mode, round(e.t_s)) for e in probe.events if isinstance(e, DeviceState)]
    fault, up = DeviceMode.FAULT, DeviceMode.LISTENING
    assert len(ends) == 5 and not to_fail, (ends, to_fail)
    # each failure shown in its visit; restarts at the first session end, then at the third, then at the fifth
    assert [mode for mode, _ in states] == [fault, up, fault, up, fault, up], states
    assert states[0][1] < VISIT_S and VISIT_S < states[2][1] < 2 * VISIT_S, states
    assert states[1][1] == pytest.approx(ends[0], abs=1.0) and states[3][1] == pytest.approx(ends[2], abs=1.0)
    assert states[4][1] > 4 * VISIT_S and states[5][1] == pytest.approx(ends[4], abs=1.0), states
    words = [e for e in probe.events if isinstance(e, WordsRecognized)]
    heard = [sum(w.n_words for w in words if k * VISIT_S <= w.start_s < (k + 1) * VISIT_S) for k in range(5)]
    assert heard[2] == 0 and heard[3] >= 10, heard  # the third visit waited out; the fourth heard
    last = tally.metrics(3 * VISIT_S, 4 * VISIT_S)
    assert not last.asr_partial and last.rep_words + last.customer_words == heard[3]
    assert tally.metrics(2 * VISIT_S, 3 * VISIT_S).asr_partial  # what it did not hear is said
