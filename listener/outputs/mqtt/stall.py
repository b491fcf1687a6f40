"""A connection lost because this device stood still, told apart from a loss that was the broker's or the network's.

A process stopped (SIGSTOP, a debugger) or starved of CPU (a machine swapping) sends nothing, not even the
keep-alive's PINGREQ: once 1.5 × ``keepalive_s`` pass, the broker drops its connection and publishes its Last
Will. When the process runs again paho finds the socket closed and says only
"Unspecified error", which an installer reads as the broker's or the network's fault.

paho's loop thread goes round at least once a second while connected (its select waits 1 s at most), so a
longer gap between two rounds is time the device did not serve the connection. It is measured on a clock
that goes on while a machine is suspended, as the broker's does (Linux's monotonic clock stops then); but a
Pi does not suspend, and a machine waking from one finds its loss later than ENDED_WITHIN_S (its network
comes back first, and paho's keep-alive, on the monotonic clock, writes no sooner), so that is said as any
other loss, and the line does not name it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from paho.mqtt.reasoncodes import ReasonCode

from listener.config.mqtt_schema import MqttConfig
from listener.outputs.mqtt.connecting import broker_address, kept_meanwhile

WILL_AFTER_KEEPALIVES = 1.5  # keep-alives without a packet after which the broker publishes the Will (MQTT 3.1.1 and 5)
# the first round after a stall reads the closed socket, or its keep-alive check writes into it and the next
# round reads the reset: a loss later than this after the stall ended has another cause (the stall was
# shorter than the broker's timer, mosquitto's counting whole seconds, and the connection survived it)
ENDED_WITHIN_S = 5.0


def awake_s() -> float:
    """Seconds on a clock that counts a suspend (CLOCK_BOOTTIME); elsewhere the monotonic clock."""
    if sys.platform == "linux":
        return time.clock_gettime(time.CLOCK_BOOTTIME)
    return time.monotonic()


class StallWatch:
    """Gaps between rounds of paho's loop longer than the broker waits; used from paho's thread only."""

    def __init__(self, keepalive_s: float, clock: Callable[[], float] = awake_s) -> None:
        self.allowance_s = WILL_AFTER_KEEPALIVES * keepalive_s
        self._clock = clock
        # the latest round of the current connection: None until its first, so that a paho whose loop stopped
        # reporting rounds would have every loss said as before, not as a stall
        self._last_round_s: float | None = None
        self._gap_s, self._gap_end_s = 0.0, float("-inf")  # the latest long gap, and the round that ended it

    def connected(self) -> None:
        """A connection was accepted: a gap before it (a slow connect, the back-off) stalled no connection."""
        self._last_round_s, self._gap_s, self._gap_end_s = None, 0.0, float("-inf")

    def round(self) -> None:
        """paho's loop went round once."""
        now_s = self._clock()
        if self._last_round_s is not None and now_s - self._last_round_s >= self.allowance_s:
            self._gap_s, self._gap_end_s = now_s - self._last_round_s, now_s
        self._last_round_s = now_s

    def stalled_s(self) -> float | None:
        """At a loss: how long the device stood still just before it, if longer than the broker waits."""
        if self._last_round_s is None:
            return None
        now_s = self._clock()
        # the loss may come before the first round after the stall (a read of the closed socket) or after it
        gap_s = now_s - self._last_round_s
        if now_s - self._gap_end_s <= ENDED_WITHIN_S:
            gap_s = max(gap_s, self._gap_s)
        return gap_s if gap_s >= self.allowance_s else None


def lost_said(config: MqttConfig, reason: ReasonCode, stalled_s: float | None) -> str:
    """The journal's line for a connection lost for ``reason``; ``stalled_s``: how long this device stood still
    just before the loss, when longer than the broker waits (None: it ran)."""
    where, kept = broker_address(config), kept_meanwhile(config)
    waits_s = WILL_AFTER_KEEPALIVES * config.keepalive_s
    if stalled_s is None:
        return f"MQTT connection to {where} lost ({reason}); reconnecting with back-off, {kept}"
    # "Unspecified error" would send the installer to the broker, which did what it should
    return (
        f"MQTT connection to {where} lost: this device did not run for {stalled_s:.0f} s (stopped or starved of "
        f"CPU), longer than the broker waits ({WILL_AFTER_KEEPALIVES:g} × keepalive_s = {waits_s:g} s), "
        "so the broker closed it and published its Last Will (status offline); if this recurs, check the device's "
        f"memory and load (`free -h`, `uptime`: a machine that swaps stalls); reconnecting, {kept}"
    )
