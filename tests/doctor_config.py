"""The configuration the doctor tests check: the test array by name, the state folder in the test's tmp_path."""

from __future__ import annotations

from pathlib import Path

from listener.config import Config, parse_config


def config(tmp_path: Path, **tables: dict[str, object]) -> Config:
    data: dict[str, object] = {
        "array": {"preset": "respeaker-4mic", "device": "listener_test_array"},
        "service": {"state_dir": str(tmp_path / "state")},
    }
    data.update(tables)
    return parse_config(data)
