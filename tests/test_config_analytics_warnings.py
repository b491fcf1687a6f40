"""Analytics thresholds the session gap makes unreachable are warned of (check-config, the start of run).

``long_silence_s`` or ``patient_gap_s`` at or above ``session_gap_s`` passed check-config, and then no long
silence or patient response gap was ever counted: the customer is silent through both, and a silence of
``session_gap_s`` ends the session. Checked here on ``listener analyze`` of the sample conversation with an
8 s silence put in (the customer's last word at 20.0 s, the rep's next at 28.4 s), then said by check-config.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from listener.cli import main
from listener.config import config_warnings, parse_config
from listener.service import runner
from listener.service.runner import sample_conversation

GAP_AT_S, GAP_S = 20.2, 8.0  # between the customer's word ending at 20.0 s and the rep's at 20.4 s


@pytest.fixture(scope="module")
def with_a_long_gap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    audio, rate = sf.read(sample_conversation(), dtype="int16")
    at = int(GAP_AT_S * rate)
    silence = np.zeros((int(GAP_S * rate), audio.shape[1]), dtype=np.int16)
    path = tmp_path_factory.mktemp("gap") / "gap.wav"
    sf.write(path, np.concatenate([audio[:at], silence, audio[at:]]), rate, subtype="PCM_16")
    return path


def written(tmp_path: Path, analytics: str) -> Path:
    path = tmp_path / "listener.toml"
    path.write_text(f"[analytics]\n{analytics}\n")
    return path


def warnings_of(path: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    assert main(["check-config", str(path)]) == 0
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith("listener: warning at ")]


def metrics(recording: Path, config: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, float]:
    assert main(["analyze", str(recording), "--config", str(config), "--json"]) == 0
    found: dict[str, float] = json.loads(capsys.readouterr().out)["metrics"]
    return found


@pytest.mark.parametrize(("session_gap_s", "counted"), [(10.0, 1), (6.0, 0), (5.0, 0)])
def test_a_long_silence_not_below_the_session_gap_is_never_counted_and_is_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], with_a_long_gap: Path, session_gap_s: float, counted: int
) -> None:
    config = written(tmp_path, f"long_silence_s = 6.0\nsession_gap_s = {session_gap_s}")
    assert metrics(with_a_long_gap, config, capsys)["long_silences"] == counted
    said = warnings_of(config, capsys)
    if counted:
        assert said == []
        return
    assert said == [
        f"listener: warning at analytics.long_silence_s = 6.0: not below analytics.session_gap_s = {session_gap_s},"
        " so no long silence is ever counted (a mutual silence is a customer silence, and a silence of"
        " session_gap_s ends the session, so none of long_silence_s can count); set it below"
        f" {session_gap_s:g} s, or raise session_gap_s"
    ]


@pytest.mark.parametrize(("session_gap_s", "patient"), [(10.0, 1), (7.0, 0)])
def test_a_patient_gap_not_below_the_session_gap_is_never_counted_and_is_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], with_a_long_gap: Path, session_gap_s: float, patient: int
) -> None:
    config = written(tmp_path, f"patient_gap_s = 7.0\nsession_gap_s = {session_gap_s}")
    found = metrics(with_a_long_gap, config, capsys)
    assert round(found["patient_gap_fraction"] * found["response_gaps"]) == patient
    said = warnings_of(config, capsys)
    assert len(said) == 1 - patient, said
    if said:
        assert said[0].startswith(
            "listener: warning at analytics.patient_gap_s = 7.0: not below analytics.session_gap_s = 7.0, so no"
            " response gap is ever patient (the customer is silent through a response gap"
        ), said


def test_run_says_it_at_its_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(runner, "run", lambda config, options: 0.0)  # the start is what is checked
    config = written(tmp_path, "long_silence_s = 5.0\npatient_gap_s = 0.6\nsession_gap_s = 5.0")
    assert main(["run", "--config", str(config)]) == 0
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(said) == 1 and said[0].startswith("config warning at analytics.long_silence_s = 5.0: not below"), said


@pytest.mark.parametrize(
    ("analytics", "said"),
    [
        ({"interruption_min_s": 0.5}, ("0.5", "1", "set interruption_min_s to 1 or more, or lower backchannel_max_s")),
        ({"backchannel_max_s": 1.5}, ("1", "1.5", "set interruption_min_s to 1.5 or more")),
        ({}, None),  # equal, the defaults: a sound of exactly 1.0 s over speech is an interruption, as defined
        ({"interruption_min_s": 1.2}, None),
        ({"interruption_min_s": 0.5, "backchannel_max_s": 0.5}, None),
    ],
)
def test_an_interruption_shorter_than_a_backchannel_is_said(
    analytics: dict[str, object], said: tuple[str, str, str] | None
) -> None:
    """interruption_min_s = 0.5 alone took the bundled sample's one rep backchannel (1 to 0, its interruptions
    1 to 2: a sound over speech reaching 0.5 s is an interruption, and the longer event takes the bound), and
    check-config said nothing."""
    data: dict[str, object] = {"analytics": analytics}
    lines = [str(w) for w in config_warnings(parse_config(data), data)]
    if said is None:
        assert lines == []
        return
    least, longest, fix = said
    assert len(lines) == 1, lines
    assert lines[0].startswith(
        f"analytics.interruption_min_s = {float(least)}: below analytics.backchannel_max_s = {float(longest)}, so a"
        f" sound over the holder's speech that lasts {least} s is an interruption and never a backchannel"
    ), lines
    assert "the rep's backchannel figure drops" in lines[0] and fix in lines[0], lines
