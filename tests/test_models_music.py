"""Shop music in the training rooms (models.music, models.simulate): kept apart from the bench's tracks."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest

from bench import store_audio as sa
from bench.room import Room
from listener.turns.spec import shipped_model_path, sidecar_path
from models import cli_types, ensemble, music, train
from models.dialogue import Dialogue, Placed
from models.simulate import MUSIC_SIM_VERSION, SIM_VERSION, Music, _level, delayed, sim_version


def test_training_never_plays_a_track_the_bench_evaluates_on() -> None:
    trained = {p for t in music.TRAIN_TRACKS for p in t.files}
    evaluated = {p for t in sa.TRACKS.values() for p in t.files}
    assert not trained & evaluated
    assert not {t.name for t in music.TRAIN_TRACKS} & set(sa.TRACKS)
    # Frozen-Bubble's two-player theme is in the bench as a module; its .ogg rendering is the same tune
    assert all("2p" not in p.name for p in trained)


def test_music_has_its_own_simulation_version_and_none_keeps_the_shipped_one() -> None:
    assert sim_version(0.0) == SIM_VERSION
    assert sim_version(0.4) == MUSIC_SIM_VERSION != SIM_VERSION


def test_a_lead_in_is_silence_before_the_dialogue() -> None:
    active = np.ones(3, dtype=bool)
    dlg = Dialogue(10, [Placed(0, 2, np.ones(3 * 160), active)])
    later = delayed(dlg, 4)
    assert later.frames == 14
    assert not later.truth()[:, :6].any() and later.truth()[0, 6:9].all()
    assert np.array_equal(later.sources()[:, 4 * 160 :], dlg.sources())


def test_music_plays_at_its_level_below_the_speech() -> None:
    rng = np.random.default_rng(3)
    active = np.ones(100, dtype=bool)
    dlg = Dialogue(100, [Placed(0, 0, np.ones(16000), active)])
    speech = rng.normal(size=(4, 16000))
    heard = rng.normal(size=(4, 16000)) * 7.0
    silent = np.zeros((4, 16000))
    with_music = _level(speech, silent, dlg, np.random.default_rng(1), heard, Music(heard[0], 20.0, rng))
    without = _level(speech, silent, dlg, np.random.default_rng(1))
    # the same gain for both (the music adds 1 % to the speech's power): the difference is the music
    added = with_music - without * np.sqrt(np.mean(with_music**2) / np.mean(without**2))
    ratio_db = 10 * np.log10(np.mean(added**2) / np.mean(without**2))
    assert abs(ratio_db - -20.0) < 0.5


def test_ceiling_music_reaches_every_mic() -> None:
    room = Room(size_m=(5.0, 4.0, 2.8), rt60_s=0.4, array_center_m=(2.5, 2.0, 1.0))
    out = music.through_ceiling(np.random.default_rng(0).normal(size=4000), room, np.random.default_rng(1))
    assert out.shape == (4, 4000) and np.all(np.mean(out**2, axis=1) > 0)


def test_the_music_share_is_a_share() -> None:
    assert cli_types.share("0.4") == 0.4
    for bad in ("1.5", "-0.1", "x"):
        with pytest.raises(argparse.ArgumentTypeError):
            cli_types.share(bad)


def test_a_training_without_music_still_merges_with_the_members_trained_before_music() -> None:
    """Every sidecar recorded the music settings, off too: a seed trained now was refused beside the cached
    members of the shipped training (models/README's four seeds) though its dialogues and weights are theirs."""
    path = shipped_model_path()
    shipped = json.loads(sidecar_path(path).read_text())
    new = json.loads(json.dumps(shipped))
    new["training"]["settings"] = train.recorded_settings(replace(train.Settings(), seed=11))
    new["training"]["seed"] = 11
    new = json.loads(json.dumps(new))  # tuples as the sidecar's JSON holds them
    ensemble.check_members([shipped, new], [path, path.with_name("new.onnx")])
    with_music = train.recorded_settings(replace(train.Settings(), music=0.4))
    assert with_music == asdict(replace(train.Settings(), music=0.4))  # recorded in full when it plays


def test_the_empty_counter_recipe_without_music_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """It changed only settings no room reads at share 0, and the sidecar claimed the recipe all the same."""
    with pytest.raises(SystemExit) as exit_:
        train.main(["--smoke", "--music-empty-counter"])
    assert exit_.value.code == 2
    assert "--music-empty-counter needs --music SHARE above 0" in capsys.readouterr().err


def test_the_empty_counter_recipe_is_the_one_models_readme_reports(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """models/README.md's "--music 0.4 --music-empty-counter" row: 10-30 s of music alone before every music
    room's dialogue, the room's noise 5-20 dB under the music; everything else the defaults."""
    ran: list[tuple[train.Settings, tuple[int, ...]]] = []
    monkeypatch.setattr(train, "run_ensemble", lambda s, seeds, *args, **kwargs: ran.append((s, seeds)))
    assert train.main(["--music", "0.4", "--music-empty-counter", "--out", str(tmp_path)]) == 0
    recipe = replace(
        train.Settings(), music=0.4, music_lead_in=1.0, music_lead_in_s=(10.0, 30.0), music_noise_under_db=(5.0, 20.0)
    )
    assert ran == [(recipe, train.ENSEMBLE_SEEDS)]


def test_each_music_plan_has_its_own_simulation_folder() -> None:
    """Dialogues of one plan are never read back as another's (the cache keys folders by this suffix)."""
    plans = [
        music.MusicPlan(),
        music.MusicPlan(share=0.4),
        music.MusicPlan(share=0.2),
        music.MusicPlan(share=0.4, lead_in=1.0, lead_in_s=(10.0, 30.0), noise_under_db=(5.0, 20.0)),
    ]
    suffixes = [p.folder_suffix() for p in plans]
    assert suffixes[0] == "" and len(set(suffixes)) == len(plans)


def test_the_training_settings_make_the_music_plan() -> None:
    """Each music* setting reaches its own MusicPlan field, and the settings' defaults are the plan's."""
    assert train.music_plan(train.Settings()) == music.MusicPlan()
    s = replace(
        train.Settings(),
        music=0.3,
        music_lead_in=0.7,
        music_lead_in_s=(1.0, 2.0),
        music_db_below=(3.0, 4.0),
        music_noise_under_db=(5.0, 6.0),
    )
    assert train.music_plan(s) == music.MusicPlan(0.3, 0.7, (1.0, 2.0), (3.0, 4.0), (5.0, 6.0))
