"""Messages that reach a real Home Assistant after newer ones, and what its entities and statistics make of them.

    .venv/bin/python -m bench.home_assistant_order [--case crash|lost-acks] [--home-assistant VERSION]
        [--python PYTHON] [--statistics]

The device is the real MQTT stage (its spool, paho, the discovery it publishes) on the bench's mosquitto; Home
Assistant (bench.home_assistant's, cached) subscribes to the broker directly. Two visits, A with 4 rep interruptions
and B with 3 (tests/test_mqtt_older_messages.py). ``crash``: both spooled at once and drained 4 a second, the device
killed (SIGKILL) once B's first interruption has arrived and started again on its spool, which sends what was
acknowledged but not yet deleted once more. ``lost-acks``: through a relay that holds the broker's PUBACKs back
across A's end and B's start, then drops the link; paho sends what was in flight again after the reconnect. Prints
what the device published on ``metrics`` and ``state`` in arrival order, the states Home Assistant recorded for
"Interruptions by rep (session)", "Sessions today" and "Rep talk share", the sums its ``total_increasing`` rule
makes of them (tests.ha_entity.statistics_sum) and, with ``--statistics``, the sums Home Assistant itself compiled
(its five-minute statistics: up to 5.5 min more). Asserts nothing. Needs mosquitto and Python 3.13.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.home_assistant import ABOUT
from bench.home_assistant_process import DEFAULT_VERSION, REGISTRY_SAVE_S, HomeAssistant, find_python, install
from listener.config import parse_config
from listener.outputs.mqtt import MqttStage
from tests.ha_entity import statistics_sum
from tests.mqtt_broker import BASE, DEVICE_ID, Mosquitto, Received, Recorder, free_port
from tests.mqtt_feed import stage_on
from tests.mqtt_relay import AckHold
from tests.mqtt_visits import A_THEN_B, Player, connected_again, crash_while_draining, visit

KEYS = ("interruptions", "sessions_today", "rep_share")
FIELDS = {"metrics": ("interruptions_by_rep", "rep_share_rolling"), "state": ("sessions_today",)}


def _lost_acks(broker: Mosquitto, folder: Path) -> None:
    """The two visits, the link lost with A's end and B's start in flight (as tests/test_mqtt_older_messages.py)."""
    with AckHold(broker.port) as relay:
        mqtt = broker.mqtt_config(port=relay.port, metrics_interval_s=2.0)
        config = parse_config({"mqtt": mqtt, "service": {"state_dir": str(folder / "device")}})
        with MqttStage(config) as stage:
            assert stage._link is not None and stage._link.wait_connected(10)
            time.sleep(REGISTRY_SAVE_S)  # Home Assistant has made the device's entities from its discovery
            a, a_n, b, b_n = A_THEN_B
            play = Player(stage, [*visit(a, 0.0, a_n), *visit(b, 30.0, b_n)])
            play.to(15.0)
            stage.publisher.flush(5.0)
            connects = stage._link.connects
            relay.hold()
            play.to(38.0)
            time.sleep(1.0)
            relay.drop()
            relay.release()
            connected_again(stage, connects)
            play.to(60.0)
            stage.publisher.flush(10.0)


def _crash(broker: Mosquitto, recorder: Recorder, folder: Path) -> None:
    with stage_on(broker, folder):  # its discovery first: Home Assistant makes the entities before any metrics
        time.sleep(REGISTRY_SAVE_S)

    def arrived() -> bool:
        said = [m.json() for m in list(recorder.messages) if m.topic == f"{BASE}/metrics"]
        return any(d["session_id"] == A_THEN_B[2] and d["interruptions_by_rep"] == 1 for d in said)

    crash_while_draining(broker, folder, arrived)


def _published(messages: list[Received], leaf: str) -> list[str]:
    """Each message on ``leaf`` as "seq:figures", its seq less the lowest the run published: short, and in order
    (seq moves with the clock's milliseconds, so seq mod 1000 was neither)."""
    mine = [m.json() for m in messages if m.topic.startswith(f"{BASE}/") and m.payload]
    seqs = [int(str(d["seq"])) for d in mine if "seq" in d]
    first = min(seqs, default=0)
    out = []
    for m in messages:
        if m.topic == f"{BASE}/{leaf}":
            d = m.json()
            out.append(f"{int(str(d['seq'])) - first}:" + "/".join(str(d[f]) for f in FIELDS[leaf]))
    return out


def _compiled_sums(ha: HomeAssistant, entity_ids: dict[str, str], timeout_s: float) -> dict[str, object]:
    """The sum of each entity's latest five-minute statistics, once Home Assistant has compiled the period that
    holds the bench's states (at each fifth minute, 10 s past)."""
    due = (time.time() // 300 + 1) * 300 + 15
    time.sleep(max(0.0, min(due - time.time(), timeout_s)))
    db = sqlite3.connect(f"file:{ha.config / 'home-assistant_v2.db'}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT m.statistic_id, s.sum FROM statistics_short_term s JOIN statistics_meta m"
            " ON m.id = s.metadata_id ORDER BY s.start_ts"
        ).fetchall()
    finally:
        db.close()
    sums: dict[str, object] = dict.fromkeys(entity_ids)
    for statistic_id, total in rows:
        for key, entity_id in entity_ids.items():
            if statistic_id == entity_id:
                sums[key] = total
    return sums


CASES = {
    "crash": "the device killed while it drained A and B, then started again",
    "lost-acks": "the device's PUBACKs held across A's end and B's start, then the link lost",
}


def run(hass: Path, folder: Path, case: str, statistics: bool) -> None:
    with Mosquitto(folder / "broker") as broker, Recorder(broker, topics=("listener/#",)) as recorder:
        ha = HomeAssistant(hass, folder / "config", broker.port, free_port(), "Europe/Berlin")
        try:
            ha.start()
            print(f"Home Assistant {ha.version()}; {CASES[case]}")
            t0 = time.time()
            if case == "crash":
                _crash(broker, recorder, folder)
            else:
                _lost_acks(broker, folder)
            time.sleep(3.0)  # the recorder commits every second
            reg = ha.storage("core.entity_registry").get("entities", [])
            ids = {e["unique_id"].removeprefix(f"{DEVICE_ID}_"): e["entity_id"] for e in reg if e["platform"] == "mqtt"}
            entity_ids = {key: ids[key] for key in KEYS}
            print("published (seq less the run's lowest: figures), in arrival order:")
            for leaf in FIELDS:
                print(f"  {leaf}: {', '.join(_published(recorder.messages, leaf))}")
            history = ha.history(list(entity_ids.values()))
            for key, entity_id in entity_ids.items():
                states = [
                    s for at, s, _ in history[entity_id] if at >= t0 and s not in (None, "unknown", "unavailable")
                ]
                shown = [s for i, s in enumerate(states) if i == 0 or states[i - 1] != s]
                total = statistics_sum(shown) if key != "rep_share" else "-"
                print(f"  {entity_id}: {', '.join(map(str, shown))}; summed by the total_increasing rule: {total}")
            if statistics:
                print("  Home Assistant's own sums:", _compiled_sums(ha, entity_ids, 360.0))
            entries = [e for e in ha.log_entries() if any(w in (e.line + e.last).lower() for w in ABOUT)]
            print(f"  Home Assistant logged {len(entries)} warnings/errors about MQTT, templates or the device")
            for e in entries:
                print("   ", e.line[:300])
        finally:
            ha.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home-assistant", default=DEFAULT_VERSION, help="Home Assistant Core version from PyPI")
    parser.add_argument("--python", help="the Python to run it (default: python3.13 on PATH, or pyenv's)")
    parser.add_argument("--case", choices=sorted(CASES), default="crash", help="how the older messages come")
    parser.add_argument("--statistics", action="store_true", help="wait for Home Assistant's own statistics")
    args = parser.parse_args(argv)
    python = args.python or find_python()
    if python is None:
        print("home_assistant_order: needs Python 3.13 (python3.13 on PATH, pyenv's, or --python)", file=sys.stderr)
        return 2
    hass = install(args.home_assistant, python)
    with tempfile.TemporaryDirectory(prefix="home-assistant-order-") as tmp:
        run(hass, Path(tmp), args.case, args.statistics)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
