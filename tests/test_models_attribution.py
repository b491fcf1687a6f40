"""The shipped turn model says where its training data came from, and that file ships with it."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

from bench.signals import NOISE_FILES
from listener.turns.spec import SHIPPED_NAME
from models.corpus import ALSA_SOUNDS, POCKETSPHINX

REPO = Path(__file__).resolve().parents[1]


def test_the_models_attribution_is_package_data_beside_the_model() -> None:
    models = resources.files("listener") / "data" / "models"
    assert (models / SHIPPED_NAME).is_file() and (models / "ATTRIBUTION.md").is_file()
    package_data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    shipped = {p for pattern in package_data["listener"] for p in (REPO / "listener").glob(pattern)}
    assert REPO / "listener" / "data" / "models" / "ATTRIBUTION.md" in shipped


def test_the_attribution_names_every_source_training_reads() -> None:
    text = (resources.files("listener") / "data" / "models" / "ATTRIBUTION.md").read_text(encoding="utf-8")
    assert "AMI Meeting Corpus" in text and "CC BY 4.0" in text and "Carletta" in text
    for source in (str(POCKETSPHINX), str(ALSA_SOUNDS), "espeak-ng", "CMU ARCTIC", "pyroomacoustics", *NOISE_FILES):
        assert source in text, source
