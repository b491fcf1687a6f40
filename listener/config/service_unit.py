"""What listener.service allows the service, said of a config before the service meets it.

Its TimeoutStopSec= bounds a stop: longer waits at a stop end in SIGKILL, before the open session's
summary is out. check-config says it of any file (it may be a device's, checked on the installing host);
run, only under systemd, where it applies.
"""

from __future__ import annotations

from listener.config.schema import AsrConfig, Config, MqttConfig

STOP_BUDGET_S = 40.0  # systemd/listener.service's TimeoutStopSec (45 s), less a margin for the exit itself


def service_warnings(config: Config) -> list[str]:
    """The unit's limits ``config`` goes beyond: the time a stop may take."""
    return long_stop(config)


def long_stop(config: Config) -> list[str]:
    """The waits at a stop, set longer than systemd gives the service, which then SIGKILLs it."""
    wait_s = (config.asr.finish_wait_s if config.asr.enabled else 0.0) + (
        config.mqtt.shutdown_drain_s if config.mqtt.enabled else 0.0
    )
    if wait_s <= STOP_BUDGET_S:
        return []
    return [
        f"asr.finish_wait_s + mqtt.shutdown_drain_s = {wait_s:.0f} s, more than the {STOP_BUDGET_S:.0f} s a stop may "
        "take before systemd kills the service (TimeoutStopSec in listener.service): a stop while the recogniser "
        f"lags could lose the open session's summary; lower them (defaults {AsrConfig().finish_wait_s:g} and "
        f"{MqttConfig().shutdown_drain_s:g})"
    ]
