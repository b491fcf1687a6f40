"""The demo's replay of the bundled sample (``listener run --demo-fallback`` with no array, what scripts/demo
runs): what it says it plays, and that nothing of it leaves the device."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest
import soundfile as sf

from listener.config import parse_config
from listener.events import SessionSummary
from listener.outputs.mqtt.stage import SPOOL_FILE
from listener.pipeline import EventLog
from listener.service import runner
from listener.service.runner import DEMO_PLAYS, RunOptions, sample_conversation
from tests.alsa_device import AlsaConfig, alsa_config  # noqa: F401  (fixture)

REPO = Path(__file__).resolve().parents[1]


def _replay_said() -> str:
    """The replay's length as the demo says it, from the sample itself and DEMO_PLAYS."""
    info = sf.info(str(sample_conversation()))
    play_s = info.frames / info.samplerate
    return f"{play_s:.0f} s sample conversation {DEMO_PLAYS} times instead (about {play_s * DEMO_PLAYS:.0f} s"


def test_the_demo_with_mqtt_configured_publishes_and_spools_nothing(
    alsa_config: AlsaConfig,  # noqa: F811
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The sample's sessions went into the service's spool under the device's own id (no broker: spooled),
    and the service's next start published them: a made-up conversation in the fleet's figures. The
    "broker" here is a listening socket: a connection to it would wait in its backlog."""
    state = tmp_path / "state"  # the service's: the spool, the instance lock
    state.mkdir()
    with socket.socket() as broker:
        broker.bind(("127.0.0.1", 0))
        broker.listen()
        broker.setblocking(False)
        raw: dict[str, object] = {
            "array": {"device": "no_such_array"},
            "mqtt": {"enabled": True, "port": broker.getsockname()[1], "device_id": "listener-counter-7"},
            "service": {"state_dir": str(state)},
            "leds": {"enabled": False, "button_pin": ""},
            "asr": {"enabled": False},
        }
        log = EventLog()
        with caplog.at_level(logging.WARNING, logger="listener.service.runner"):
            runner.run(parse_config(raw), RunOptions(demo_fallback=True, fast=True), extra_stages=[log])
        assert log.of(SessionSummary)  # the sample was replayed, its sessions summarised
        with pytest.raises(BlockingIOError):
            broker.accept()  # nobody connected
    assert not (state / SPOOL_FILE).exists() and list(state.iterdir()) == []
    (said,) = [r.getMessage() for r in caplog.records if "replaying" in r.getMessage()]
    assert said.endswith("; MQTT off for the sample"), said


def test_the_demo_says_how_long_its_replay_lasts_and_that_it_ends_by_itself(
    alsa_config: AlsaConfig,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The replay is the 28 s sample 3 times and then the run ends, which nothing said: the README, the
    script's comment and the warning now say it, figures from the sample and DEMO_PLAYS."""
    config = parse_config({"array": {"device": "no_such_array"}, "leds": {"enabled": False, "button_pin": ""}})
    with caplog.at_level(logging.WARNING, logger="listener.service.runner"):
        source, demo = runner.select_source(config, RunOptions(demo_fallback=True))
    source.close()
    assert not demo.mqtt.enabled
    (said,) = [r.getMessage() for r in caplog.records]
    assert _replay_said() in said and "ends on its own, Ctrl-C stops it" in said, said
    assert "MQTT" not in said  # not configured: nothing to say about it
    readme = " ".join((REPO / "README.md").read_text().split())
    short = _replay_said().replace(" conversation", "").replace(" instead", "")
    assert short in readme, short
    assert short in " ".join((REPO / "scripts" / "demo").read_text().replace("#", "").split())
