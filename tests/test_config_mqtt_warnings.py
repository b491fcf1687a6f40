"""A drain rate too slow for what a session makes is warned of (check-config, the start of run).

``mqtt.drain_rate_per_s`` limits every spooled message, not only a backlog: with ``metrics_interval_s = 1``,
``drain_rate_per_s = 1`` and ``spool_max_messages = 10`` (each in range, check-config silent) a real-time run
with the broker up filled the spool, dropped messages and ended with 8 still spooled.
"""

from __future__ import annotations

import pytest

from listener.config import config_warnings, parse_config


def said(mqtt: dict[str, object]) -> list[str]:
    data: dict[str, object] = {"mqtt": {"enabled": True, **mqtt}}
    return [str(w) for w in config_warnings(parse_config(data), data)]


@pytest.mark.parametrize(
    ("interval_s", "rate_per_s", "at_least"),
    # 20 s: 2 / 20 + 1 is 1.1, which times 100 reads 110.00000000000001 and was rounded up to "1.11"
    [(1.0, 1.0, "3"), (1.0, 2.9, "3"), (3.0, 1.5, "1.67"), (9.0, 1.2, "1.23"), (20.0, 1.0, "1.1"), (60.0, 1.0, "1.04")],
)
def test_a_drain_rate_below_what_a_session_makes_is_said_with_the_rate_that_silences_it(
    interval_s: float, rate_per_s: float, at_least: str
) -> None:
    lines = said({"metrics_interval_s": interval_s, "drain_rate_per_s": rate_per_s})
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"mqtt.drain_rate_per_s = {rate_per_s}: every spooled message is sent at most")
    assert f"set drain_rate_per_s to {at_least} or more, or raise metrics_interval_s" in lines[0]
    assert said({"metrics_interval_s": interval_s, "drain_rate_per_s": float(at_least)}) == []


@pytest.mark.parametrize(
    "mqtt",
    [
        {},  # the defaults: 50 a second against a metrics message every 10 s
        {"metrics_interval_s": 1.0, "drain_rate_per_s": 3.0},
        {"metrics_interval_s": 10.0, "drain_rate_per_s": 1.2},
    ],
)
def test_a_drain_rate_that_keeps_up_says_nothing(mqtt: dict[str, object]) -> None:
    assert said(mqtt) == []


def test_with_mqtt_off_only_the_keys_written_to_no_effect_are_said() -> None:
    data: dict[str, object] = {"mqtt": {"metrics_interval_s": 1.0, "drain_rate_per_s": 1.0}}
    lines = [str(w) for w in config_warnings(parse_config(data), data)]
    assert len(lines) == 1 and lines[0].startswith("mqtt.enabled = false"), lines
