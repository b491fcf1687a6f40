"""A vosk model of another language than ``[asr] language`` is said: at load by its name, in a run by its words.

The Korean model with the English lexicon on English speech used to run to exit 0 with no word of
warning, no question, echo nor acknowledgement, and a believable speaking rate; doctor said it loads.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
import soundfile as sf

from listener.config import parse_config
from listener.service import doctor
from listener.transcription import language
from listener.transcription.language import CHECK_AFTER_WORDS, WordLanguage, named_language, named_mismatch
from listener.transcription.words import Word
from tests.asr_pipeline import asr_config, run_pipeline
from tests.cues_talk import LEX, STORY, WORD_S
from tests.test_cues_en import OPEN
from tests.test_cues_en_phrases import ACKS

SAMPLE = Path(__file__).parents[1] / "listener" / "data" / "sample" / "conversation.wav"
# the Korean model hears 30 words in the sample's first 20 s, which take it 4-7 s here; it is judged on
# its first 8 instead (the English tests below hold the rule to its CHECK_AFTER_WORDS)
SAMPLE_CUT_S, AFTER_WORDS = 9.0, 8
NOT_ENGLISH = "does not seem to be an English model"


def _hangul(text: str) -> bool:
    return any("\uac00" <= ch <= "\ud7a3" for ch in text)


def test_the_korean_model_on_english_speech_is_said_not_to_be_english(
    ko_model: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(language, "CHECK_AFTER_WORDS", AFTER_WORDS)
    samples, rate_hz = sf.read(SAMPLE, dtype="float32")
    cut = tmp_path / "sample.wav"
    sf.write(cut, samples[: int(SAMPLE_CUT_S * rate_hz)], rate_hz)
    with caplog.at_level(logging.WARNING, logger="listener.transcription"):
        run_pipeline(asr_config(ko_model), cut)
    messages = [r.getMessage() for r in caplog.records]
    said = [m for m in messages if NOT_ENGLISH in m]
    assert len(said) == 1, messages
    assert re.search(r": 0 of the first \d+ words it recognised are common English words", said[0]), said[0]
    assert "listener models fetch en-small" in said[0] and "[asr] language" not in said[0]  # no Korean lexicon
    # at load too: its README names it Korean
    assert [m for m in messages if "is named a Korean model, and [asr] language is en" in m], messages
    assert not [m for m in messages if _hangul(m)], "a recognised word reached the log"


def _words(texts: list[str]) -> list[Word]:
    """English recogniser output, timed as the cue tests feed it."""
    words, t_s = [], 0.0
    for token in " ".join(texts).split():
        words.append(Word(token, t_s, t_s + WORD_S - 0.04, 0.9))
        t_s += WORD_S
    return words


@pytest.mark.parametrize("texts", [[STORY, *OPEN], ACKS, [STORY] * 4], ids=["story+questions", "acks", "story"])
def test_english_words_are_taken_for_english(texts: list[str], caplog: pytest.LogCaptureFixture) -> None:
    check = WordLanguage(LEX, parse_config({}), Path("/models/vosk-model-small-en-us-0.15"))
    words = _words(texts)
    assert len(words) >= CHECK_AFTER_WORDS
    with caplog.at_level(logging.WARNING):
        for k in range(0, len(words), 7):  # a recogniser's results: a few words at a time
            check.heard(words[k : k + 7])
    assert check.judged and not caplog.records, [r.getMessage() for r in caplog.records]
    assert check.common >= check.words / 5, (check.common, check.words)


@pytest.mark.parametrize(
    ("folder", "readme", "named"),
    [
        ("vosk-model-small-en-us-0.15", "US English model for mobile Vosk applications", "English"),
        ("vosk-model-small-ko-0.22", "", "Korean"),
        ("vosk-model-de-0.21", "", "German"),
        ("model", "Small Korean for Vosk (Android, RPi, other small devices)", "Korean"),
        ("model", "Vosk model", None),
        ("vosk-model-spk-0.4", "", None),  # the speaker model: no language
        ("my-model", "", None),
    ],
)
def test_a_model_folder_names_its_language(tmp_path: Path, folder: str, readme: str, named: str | None) -> None:
    path = tmp_path / folder
    path.mkdir()
    if readme:
        (path / "README").write_text(readme + "\nmore lines\n")
    assert named_language(path) == named
    assert (named_mismatch(path, "en") is None) == (named in ("English", None))


def test_doctor_warns_of_a_model_named_for_another_language(
    tmp_path: Path, ko_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = parse_config(
        {"asr": {"enabled": True, "model_path": str(ko_model)}, "service": {"state_dir": str(tmp_path)}}
    )
    check = doctor.check_asr_model(config)
    assert check.status == "warn", check.line()
    assert check.detail == f"vosk model {ko_model} loads, but is named a Korean model, and [asr] language is en"
    assert "listener models fetch en-small" in check.fix
    # no lexicon for Korean: the config would refuse asr.language = "ko" ("no lexicon for it; available: en")
    assert "[asr] language" not in check.fix, check.fix
    monkeypatch.setattr(language, "available_languages", lambda: ["en", "ko"])  # were one shipped for it
    assert 'or set [asr] language = "ko", the model\'s language' in doctor.check_asr_model(config).fix


@pytest.mark.parametrize(("common", "warned"), [(1, True), (2, False)])
def test_the_words_are_judged_at_the_30th_and_fewer_than_5_percent_common_is_another_language(
    common: int, warned: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """metrics.md: once a run has recognised 30 words, fewer than 5 % of them common words is warned of (1 of 30
    is 3.3 %, 2 are 6.7 %); fillers and "[unk]" are no words."""
    check = WordLanguage(LEX, parse_config({}), Path("/models/vosk-model-small-en-us-0.15"))
    said = ["the"] * common + ["annyeong"] * (30 - common)
    with caplog.at_level(logging.WARNING):
        for k, text in enumerate(said[:-1]):
            check.heard([Word(text, k, k + 0.5), Word("um", k + 0.5, k + 0.6), Word("[unk]", k + 0.6, k + 0.9)])
        assert not check.judged and not caplog.records
        check.heard([Word(said[-1], 29.0, 29.5)])
    assert check.judged
    assert [NOT_ENGLISH in r.getMessage() for r in caplog.records] == ([True] if warned else [])


@pytest.mark.parametrize(("common", "warned"), [(1, True), (2, False)])
def test_exactly_5_percent_common_words_is_the_language(
    common: int, warned: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """A result that takes the run past 30 words is judged whole: 2 of its 40 words common is 5 %, not fewer."""
    check = WordLanguage(LEX, parse_config({}), Path("/models/vosk-model-small-en-us-0.15"))
    said = ["the"] * common + ["annyeong"] * (40 - common)
    with caplog.at_level(logging.WARNING):
        check.heard([Word(text, k, k + 0.5) for k, text in enumerate(said)])
    assert check.judged and (check.words, check.common) == (40, common)
    assert [NOT_ENGLISH in r.getMessage() for r in caplog.records] == ([True] if warned else [])
