"""The plain text `listener analyze` prints without --json: every habit metrics.md names, as the JSON has it."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from listener.analytics.plain import LABEL_CHARS, summary_lines
from listener.analytics.summary import all_sessions
from listener.cli import main
from listener.service.runner import sample_conversation
from listener.transcription.summary import RATE_MIN_TALK_S, CueFigures
from tests import synth
from tests.analytics_timelines import CONFIG, run
from tests.test_analyze import analyze_json
from tests.test_mqtt_guide import FRACTION_TOLERANCE, PER_MINUTE_TOLERANCE, SECONDS_TOLERANCE_S

SAMPLE = sample_conversation()
METRICS_PAGE = Path(__file__).resolve().parents[1] / "docs" / "metrics.md"
NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def plain(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, str]:
    """The text's lines by their label, which fills the first LABEL_CHARS columns of every line."""
    assert main(["analyze", str(path), *extra]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert all(len(ln) > LABEL_CHARS and ln[LABEL_CHARS - 1] == " " for ln in lines), (
        lines
    )  # one column for the figures
    return {ln[:LABEL_CHARS].strip(): ln[LABEL_CHARS:] for ln in lines}


def figures(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?", text)]


def test_the_text_gives_the_habits_the_report_gives(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # dominance from 10 s of speech in the window (as docs/integrations/mqtt.md's examples): the sample's rep
    # then dominates once, so the dominance line is checked on figures that are not all zero
    config = tmp_path / "listener.toml"
    config.write_text("[analytics]\ndominance_min_speech_s = 10\n")
    metrics = analyze_json(SAMPLE, "--config", str(config), capsys=capsys)["metrics"]
    text = plain(SAMPLE, capsys, "--config", str(config))
    assert figures(text["monologues"]) == [
        metrics["monologues"],
        round(metrics["longest_monologue_s"], 1),
        metrics["stories"],
        round(metrics["longest_story_s"], 1),
    ]
    gaps = figures(text["response gap"])
    p10, p90 = metrics["response_gap_p10_s"], metrics["response_gap_p90_s"]
    assert gaps[:2] == [round(metrics["response_gap_median_s"], 2), 10] and gaps[3:5] == [round(p10, 2), round(p90, 2)]
    patient = round(metrics["patient_gap_fraction"] * metrics["response_gaps"])
    assert gaps[5:] == [patient, metrics["response_gaps"], 0.6], text["response gap"]
    assert figures(text["switches"]) == [round(metrics["switches_per_min"], 1)]
    assert figures(text["overlap"]) == [round(metrics["overlap_s"], 1)]
    assert figures(text["long silences"])[:2] == [metrics["long_silences"], 3]
    assert metrics["dominance_episodes"] >= 1
    assert figures(text["dominating"]) == [round(metrics["dominance_s"], 1), metrics["dominance_episodes"]]
    assert figures(text["premature"]) == [metrics["premature_starts"]]
    by_rep, by_customer = metrics["interruptions_by_rep"], metrics["interruptions_by_customer"]
    assert by_rep >= 1 and by_customer == 0  # the sample's: the customer's count has no "successful" to tell
    assert figures(text["interruptions"]) == [by_rep, metrics["successful_interruptions_by_rep"], by_customer]
    rate = metrics["rep_backchannels_per_min"]  # metrics.md's active-listening figure, per minute of customer speech
    bc = [metrics["backchannels_by_rep"], round(rate, 1), metrics["backchannels_by_customer"]]
    assert figures(text["backchannels"]) == bc and "per minute of customer speech" in text["backchannels"]


def _page_sample_text() -> list[str]:
    """The lines of docs/metrics.md's code block that shows the sample's text."""
    after = METRICS_PAGE.read_text(encoding="utf-8").split("(the sample's):\n\n```\n", 1)
    assert len(after) == 2, "docs/metrics.md no longer shows the sample's text after \"(the sample's):\""
    return after[1].split("```", 1)[0].splitlines()


def _alike(shown: str, printed: str) -> bool:
    """The same words and whole numbers (counts, thresholds); each decimal within the CPU leeway the MQTT guide's
    examples have (a frame of the sample may move between CPUs), widened by half its last printed digit."""
    if " ".join(NUMBER.sub("#", shown).split()) != " ".join(NUMBER.sub("#", printed).split()):
        return False
    if "per minute" in shown:
        leeway = PER_MINUTE_TOLERANCE
    else:
        leeway = FRACTION_TOLERANCE * 100 if "%" in shown else SECONDS_TOLERANCE_S
    for want, got in zip(NUMBER.findall(shown), NUMBER.findall(printed), strict=True):
        if "." not in want and want != got:
            return False
        if "." in want and abs(float(want) - float(got)) > leeway + 0.5 * 10.0 ** -len(want.split(".")[1]):
            return False
    return True


def test_alike_tells_a_moved_frame_from_another_figure() -> None:
    assert _alike("rep talk         16.4 s", "rep talk          16.5 s")
    assert _alike("rep share        69.3 %", "rep share        69.5 %")
    assert not _alike("rep talk         16.4 s", "rep talk         16.7 s")
    assert not _alike("monologues      3 by rep (longest 8.2 s)", "monologues      2 by rep (longest 8.2 s)")
    assert not _alike("premature       0 starts", "premature       0 starts, 1 late")


def test_metrics_md_shows_what_analyze_prints_for_the_sample(capsys: pytest.CaptureFixture[str]) -> None:
    """docs/metrics.md quotes the text `listener analyze` prints for the bundled sample, and nothing compared the
    two: a rule or a wording changed later would leave the page showing figures and lines the program no longer
    prints."""
    assert main(["analyze", str(SAMPLE)]) == 0
    printed = capsys.readouterr().out.splitlines()
    shown = _page_sample_text()
    assert len(shown) == len(printed), "\n".join(printed)
    for page_line, line in zip(shown, printed, strict=True):
        assert _alike(page_line, line), f"docs/metrics.md shows {page_line!r}, analyze prints {line!r}"


def test_a_long_silence_is_told_with_its_length(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the customer asks, the rep answers, and then nobody speaks for about 5 s before the customer goes on
    utterances = [
        synth.Utterance("customer", 0.5, "cmu_arctic_us_aew_a0001.wav", 180.0),
        synth.Utterance("rep", 4.5, "cmu_arctic_us_axb_a0004.wav", 0.0),
        synth.Utterance("customer", 13.5, "cmu_arctic_us_aew_a0003.wav", 180.0),
    ]
    samples, truth = synth.render(utterances, 17.0)
    path = synth.write_wav(tmp_path / "pause.wav", samples)
    metrics = analyze_json(path, capsys=capsys)["metrics"]
    assert metrics["long_silences"] == 1, truth
    line = plain(path, capsys)["long silences"]
    assert line == f"  1 of 3 s or more, the longest {metrics['longest_silence_s']:.1f} s", line


def test_without_a_handover_to_the_rep_there_is_no_gap_to_tell(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    samples, _ = synth.render([u for u in synth.DIALOGUE if u.party == "customer"], 16.0)
    text = plain(synth.write_wav(tmp_path / "customer.wav", samples), capsys)
    assert text["response gap"] == "  -   (the rep never took over from the customer)", text
    assert text["dominating"] == "  0.0 s, 0 times"


def test_a_recording_without_a_session_says_why_instead_of_zeros(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The rep alone: "monologues 0", "switches 0.0 per minute", "dominating 0.0 s" read as a visit with none of
    them, and nothing said that those figures count the sessions only."""
    samples, _ = synth.render([u for u in synth.DIALOGUE if u.party == "rep"], 12.0, seed=3)
    text = plain(synth.write_wav(tmp_path / "rep_only.wav", samples), capsys)
    assert "only the rep spoke" in text["in sessions"] and "no habit is counted" in text["in sessions"]
    assert not {"monologues", "switches", "dominating", "interruptions"} & set(text)
    assert figures(text["rep talk"])[0] > 1.0 and text["sessions"].startswith("0 started")


def test_the_session_figures_are_said_to_be_the_visits(capsys: pytest.CaptureFixture[str]) -> None:
    text = plain(SAMPLE, capsys)
    assert "the visits only" in text["in sessions"]
    order = list(text)
    assert order.index("rep share") < order.index("in sessions") < order.index("interruptions")


def _cue_figures(skipped_s: float) -> CueFigures:
    """The cues of a rep heard for under RATE_MIN_TALK_S (no rate), ``skipped_s`` of audio not recognised."""
    counts = dict.fromkeys(("rep_words", "customer_words", "rep_questions", "rep_open_questions"), 3)
    counts |= dict.fromkeys(("rep_closed_questions", "rep_followups", "rep_echoes", "rep_summaries"), 0)
    counts |= {"rep_acknowledgements": 1, "rep_action_plans": 0, "rep_fillers": 2}
    return CueFigures(
        **counts, rep_fillers_per_min=None, rep_wpm=None, asr_skipped_s=skipped_s, asr_partial=skipped_s > 0
    )


@pytest.mark.parametrize("skipped_s", [0.0, 12.34])
def test_cue_counts_the_recogniser_skipped_under_load_say_so_and_a_short_rep_has_no_rate(skipped_s: float) -> None:
    """A Pi behind on recognition drops audio (transcription.lag): the counts are then short, and the text says
    by how much, as the report's asr_partial does; without the line the counts would read as the whole talk."""
    collector = run([("customer", 1.0, 6.0), ("rep", 6.5, 12.0)], 15.0)
    whole = all_sessions(collector.segments, collector.events, 15.0, CONFIG.analytics)
    lines = summary_lines(collector, whole, CONFIG.analytics, _cue_figures(skipped_s))
    said = {ln[:LABEL_CHARS].strip(): ln[LABEL_CHARS:] for ln in lines}
    assert said["speaking rate"] == f"  -   (under {RATE_MIN_TALK_S:g} s of the rep's talk heard); 2 fillers"
    if skipped_s:
        assert said["recogniser"] == "skipped 12.3 s under load: the counts miss what was said then", lines
    else:
        assert "recogniser" not in said, lines


def test_a_rep_heard_long_enough_has_a_speaking_rate_beside_the_guidance() -> None:
    """docs/metrics.md: the rep's words per minute of talk, and fillers per minute, once a rate is known."""
    collector = run([("customer", 1.0, 6.0), ("rep", 6.5, 30.0)], 32.0)
    whole = all_sessions(collector.segments, collector.events, 32.0, CONFIG.analytics)
    cues = dataclasses.replace(_cue_figures(0.0), rep_wpm=132.4, rep_fillers_per_min=1.5)
    said = {
        ln[:LABEL_CHARS].strip(): ln[LABEL_CHARS:] for ln in summary_lines(collector, whole, CONFIG.analytics, cues)
    }
    assert said["speaking rate"] == "  132 words per minute (guidance 100 to 165); 2 fillers, 1.5 per minute"
