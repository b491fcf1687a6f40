"""Every device, client and stage used before ``open()`` or after ``close()`` says so the same way.

A bug, not a user's mistake: :class:`NotOpenError` is a ``RuntimeError`` and no ``ListenerError``, so the
CLI shows its traceback instead of a one-line "fix" (as for ``WordHandlingError``). Asserts would vanish
under ``python -O`` and leave an ``AttributeError`` on ``None`` far from the cause.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from listener.audio.live import LiveSource
from listener.config import parse_config
from listener.errors import ListenerError, NotOpenError
from listener.lifecycle import Managed
from listener.outputs.led_patterns import Channel
from listener.outputs.leds import LedBank
from listener.outputs.mqtt.spool import Spool
from listener.outputs.mqtt.stage import MqttStage
from listener.turns.features import N_FEATURES
from listener.turns.onnx_model import OnnxTurnModel

CONFIG = parse_config({})


def _leds(tmp_path: Path) -> tuple[Managed, Callable[[], object]]:
    bank = LedBank(CONFIG.leds, MockFactory(pin_class=MockPWMPin))
    return bank, lambda: bank.set(Channel.RED, 1.0)


def _turn_model(tmp_path: Path) -> tuple[Managed, Callable[[], object]]:
    model = OnnxTurnModel(CONFIG)
    return model, lambda: model.step(np.zeros((1, N_FEATURES), dtype=np.float32))


def _spool(tmp_path: Path) -> tuple[Managed, Callable[[], object]]:
    spool = Spool(tmp_path / "spool.db", 100)
    return spool, lambda: spool.db


def _mqtt_stage(tmp_path: Path) -> tuple[Managed, Callable[[], object]]:
    stage = MqttStage(parse_config({"service": {"state_dir": str(tmp_path)}}))
    return stage, lambda: stage.spool


CASES = {"LedBank": _leds, "OnnxTurnModel": _turn_model, "the MQTT spool": _spool, "MqttStage": _mqtt_stage}


@pytest.mark.parametrize("what", CASES)
def test_used_before_open_is_a_not_open_error_naming_the_part(what: str, tmp_path: Path) -> None:
    _, use = CASES[what](tmp_path)
    with pytest.raises(NotOpenError, match=f"^{what} used before open\\(\\) or after close\\(\\)") as raised:
        use()
    assert isinstance(raised.value, RuntimeError) and not isinstance(raised.value, ListenerError)


@pytest.mark.parametrize("what", ["LedBank", "OnnxTurnModel", "the MQTT spool"])
def test_used_after_close_is_the_same_error(what: str, tmp_path: Path) -> None:
    part, use = CASES[what](tmp_path)
    with part:
        use()  # works while open
    with pytest.raises(NotOpenError, match=f"^{what} used before open"):
        use()


def test_a_live_source_read_before_open_names_itself() -> None:
    with pytest.raises(NotOpenError, match=r"^LiveSource used before open"):
        next(LiveSource(CONFIG).events())


def test_an_led_bank_opened_again_keeps_its_one_claim_on_the_pins() -> None:
    """A second open is a no-op, as LedStage's and PrivacyButton's are: not a second claim on the same pins,
    which gpiozero refuses (GPIOPinInUse), reported as the pins being misconfigured."""
    with LedBank(CONFIG.leds, MockFactory(pin_class=MockPWMPin)) as bank:
        bank.open()
        bank.set(Channel.RED, 1.0)
        assert bank.get(Channel.RED) == 1.0


def test_an_led_bank_closed_twice_is_no_error() -> None:
    bank = LedBank(CONFIG.leds, MockFactory(pin_class=MockPWMPin))
    with bank:
        bank.set(Channel.RED, 1.0)
    bank.close()  # Managed.close: "safe to call twice"
    with pytest.raises(NotOpenError):
        bank.set(Channel.RED, 1.0)
