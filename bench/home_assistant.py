"""The device's Home Assistant MQTT discovery (listener/outputs/mqtt/discovery.py) in a real Home Assistant, fed by
a real device run.

    .venv/bin/python -m bench.home_assistant [--home-assistant VERSION] [--python PYTHON] [--tz ZONE] [--keep DIR]

Home Assistant Core comes from PyPI into bench/.cache/home-assistant-VERSION, a venv of its own under a Python it
accepts (2025.x needs 3.13: ``--python``, else python3.13 on PATH or pyenv's), with the pinned requirements of the
MQTT, recorder and frontend integrations installed beside it. A mosquitto on a free port; Home Assistant in a
temporary config folder whose .storage already holds the MQTT config entry (the broker, discovery on, prefix
``homeassistant``) as its own config flow writes it, so there is no onboarding and no HTTP API to use: what it made
of the device is read from .storage/core.entity_registry and core.device_registry, the recorder's SQLite database
(committed every second) and home-assistant.log.

Then, as a store would see it: the bundled sample through ``listener run --input --fast`` (the device goes offline
at its end); the ``state`` payloads a pause and a fault publish; a store's ``suggested_area`` in the discovery; a
retired device's retained topics and discovery cleared (empty retained payloads, as mqtt.md says); a device under
``topic_prefix = "store/listener"``. Prints each entity Home Assistant made beside the discovery component that
made it, each entity's state history beside what the device published on its topic (as mqtt.md says Home Assistant
shows it), the device registry entry, the area each device is in, and every warning and error Home Assistant
logged; asserts nothing. Needs mosquitto.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.device_run import SAMPLE, DeviceBench, wait_until
from bench.home_assistant_process import (
    DEFAULT_VERSION,
    REGISTRY_SAVE_S,
    SHOWN,
    HomeAssistant,
    changes,
    find_python,
    install,
    number,
    python_version,
    tally,
)
from listener.outputs.mqtt.discovery import discovery_payload
from tests.mqtt_broker import DEVICE_ID, Mosquitto, Recorder, free_port, kill_process_group

SETTLE_S = 3.0  # the recorder commits every second; MQTT to state is milliseconds
SKEW_S = 0.3
DISCOVERY = f"homeassistant/device/{DEVICE_ID}/config"
# what it takes in a log line to be about the device
ABOUT = ("mqtt", "discovery", "template", DEVICE_ID, "listener", "counter_3")


@dataclass
class Bench(DeviceBench):
    ha: HomeAssistant
    recorder: Recorder

    def published(self, since: int, leaf: str) -> list[tuple[float, dict[str, Any] | None]]:
        """(epoch s of arrival, payload) of every message on a topic ending ``/leaf`` after message ``since``."""
        clock = time.time() - time.monotonic()
        return [(clock + m.at, json.loads(m.payload) if m.payload else None)
                for m in self.recorder.messages[since:] if m.topic.endswith("/" + leaf)]  # fmt: skip

    def discovery(self, since: int = 0) -> dict[str, Any] | None:
        found = [m for m in self.recorder.messages[since:] if m.topic == DISCOVERY and m.payload]
        return json.loads(found[-1].payload) if found else None

    def entities(self) -> dict[str, dict[str, Any]]:
        """The entity registry's MQTT entities of the device, by their key in the discovery payload."""
        prefix = f"{DEVICE_ID}_"
        reg = self.ha.storage("core.entity_registry").get("entities", [])
        return {e["unique_id"][len(prefix) :]: e for e in reg
                if e["platform"] == "mqtt" and e["unique_id"].startswith(prefix)}  # fmt: skip


def created(b: Bench, since: int = 0) -> None:
    """Each component of the last discovery payload beside the entity Home Assistant registered for it."""
    payload = b.discovery(since)
    if payload is None:
        print("  no discovery payload published")
        return
    ents = b.entities()
    print(f"  discovery: {len(payload['cmps'])} components, {len(ents)} entities registered for {DEVICE_ID}")
    for key, c in payload["cmps"].items():
        e = ents.get(key)
        asked = {k: c[k] for k in ("device_class", "unit_of_measurement", "state_class", "entity_category") if k in c}
        if e is None:
            withdrawn = " (withdrawn)" if len(c) == 1 else ""
            print(f"  {key:22} {c['p']:13} asked {json.dumps(asked)} -> no entity{withdrawn}")
            continue
        made = {
            "device_class": e["original_device_class"],
            "unit_of_measurement": e["unit_of_measurement"],
            "state_class": (e["capabilities"] or {}).get("state_class"),
            "entity_category": e["entity_category"],
        }
        made = {k: v for k, v in made.items() if v is not None}
        same = "same" if made == asked else f"HA {json.dumps(made)}"
        print(f"  {key:22} {e['entity_id']:55} '{e['original_name']}' {json.dumps(asked)}: {same}")


def histories(b: Bench, rec: int, t0: float) -> None:
    """Every entity's states since ``t0`` beside what the device published (as mqtt.md says HA shows it)."""
    ents = b.entities()
    hist = b.ha.history([e["entity_id"] for e in ents.values()])
    for key, (leaf, shown) in SHOWN.items():
        e = ents.get(key)
        if e is None:
            continue
        states = [(at, s, a) for at, s, a in hist[e["entity_id"]] if at >= t0 - 0.5]
        said = [(at, shown(p)) for at, p in b.published(rec, leaf) if p]
        ha = [f"{at - t0:+.1f}s {s}" for at, s, _ in states]
        dev = [f"{at - t0:+.1f}s {v}" for at, v in changes(said)]
        last = next((s for _, s, _ in reversed(states) if s not in ("unavailable", None)), None)
        match = said and number(last) == number(said[-1][1])
        print(f"  {key} ({e['entity_id']}): last value {'as' if match else 'NOT as'} mqtt.md says")
        print(f"    HA:     {', '.join(ha) or '-'}")
        print(f"    device: {', '.join(dev) or '-'}  (on {leaf})")


def device_entry(b: Bench) -> None:
    devices = b.ha.storage("core.device_registry").get("devices", [])
    for d in devices:
        if ["mqtt", DEVICE_ID] in d["identifiers"]:
            fields = ("name", "manufacturer", "model", "sw_version", "hw_version", "identifiers", "entry_type")
            print("  device registry:", json.dumps({k: d.get(k) for k in fields}))
            return
    print(f"  device registry: no device with identifier {DEVICE_ID}")


def log_since(b: Bench, mark: int) -> None:
    entries = b.ha.log_entries(mark)
    about = [e for e in entries if any(w in (e.line + e.last).lower() for w in ABOUT)]
    print(f"  HA log: {len(entries)} warnings/errors, {len(about)} about MQTT, discovery, templates or the device")
    for e in about:
        print("   ", e.line[:400], f"| {e.last[:200]}" if e.last else "")


def availability(b: Bench, rec: int) -> None:
    """What the entities showed just before each status the device published, and how soon after it they showed
    a value (online) or "unavailable" (offline). The recorder's arrival and Home Assistant's stamp are two
    processes' clocks read milliseconds apart, so a state up to SKEW_S before the status counts as after it."""
    status = [(at - SKEW_S, p["state"]) for at, p in b.published(rec, "status") if p]
    hist = b.ha.history([e["entity_id"] for e in b.entities().values()]).values()
    for at, said in status:
        # before an offline: the last value shown, however close to it (the session's summary comes just before)
        before = [next((s for t, s, _ in reversed(h) if t < at or (said == "offline" and s != "unavailable")), None)
                  for h in hist]  # fmt: skip
        delays = [min((t - at for t, s, _ in h if t >= at and (s == "unavailable") == (said == "offline")),
                      default=None) for h in hist]  # fmt: skip
        late = [d for d in delays if d is not None]
        shown = "unavailable" if said == "offline" else "available"
        span = f"{min(late) - SKEW_S:+.2f} to {max(late) - SKEW_S:+.2f} s after it" if late else "never"
        print(f"  status {said}: entities just before {tally(before)}; {len(late)} {shown} {span}")


def live_run(b: Bench) -> None:
    mark, rec, t0 = b.ha.log_size(), len(b.recorder.messages), time.time()
    rc = b.run_device()
    print(f"  listener run --input sample --fast: exit {rc} after {time.time() - t0:.1f} s")
    time.sleep(REGISTRY_SAVE_S)
    created(b, rec)
    device_entry(b)
    print("  state histories (seconds from the device's start):")
    histories(b, rec, t0)
    availability(b, rec)
    log_since(b, mark)


def restart(b: Bench) -> None:
    """Home Assistant stopped (SIGTERM) and started again while a device runs in real time: what the device
    publishes at its birth message, and what each entity shows after the start (mqtt.md: "unknown" for the ones fed
    by unretained topics until their next message)."""
    mark, rec, t0 = b.ha.log_size(), len(b.recorder.messages), time.time()
    proc = b.device(fast=False)
    try:
        wait_until(lambda: any(p and p["state"] == "online" for _, p in b.published(rec, "status")), 60, "online")
        b.ha.stop()
        stopped = time.time()
        b.ha.start()
        rc = proc.wait(timeout=300)
    finally:
        kill_process_group(proc)
    time.sleep(SETTLE_S)
    clock = time.time() - time.monotonic()
    sent = [(clock + m.at - t0, m.topic, m.payload) for m in b.recorder.messages[rec:]]
    births = [f"{at:+.1f}s" for at, topic, p in sent if topic == "homeassistant/status" and p == b"online"]
    again = [f"{at:+.1f}s" for at, topic, p in sent if topic == DISCOVERY and at > stopped - t0]
    print(f"  device started at +0.0s, Home Assistant stopped at {stopped - t0:+.1f}s; its birth {births}; "
          f"the device's discovery after the stop {again}; device exit {rc}")  # fmt: skip
    ents = b.entities()
    hist = b.ha.history([e["entity_id"] for e in ents.values()])
    for key, e in ents.items():
        after = [f"{at - t0:+.1f}s {s}" for at, s, _ in hist[e["entity_id"]] if at > stopped]
        print(f"  {key}: {', '.join(after) or '-'}")
    log_since(b, mark)


# What the device's state can say besides listening: the shapes of state.json's mode and causes
SHAPES: tuple[tuple[str, list[str]], ...] = (
    ("paused", ["button"]),
    ("fault", ["audio"]),
    ("fault", ["microphones", "transcription"]),
    ("listening", []),
)


def state_shapes(b: Bench) -> None:
    """The state payloads a pause and faults publish, on the device's topics while its status says online."""
    mark, t0 = b.ha.log_size(), time.time()
    base = f"listener/{DEVICE_ID}"
    last = {leaf: [m for m in b.recorder.messages if m.topic == f"{base}/{leaf}" and m.payload][-1]
            for leaf in ("status", "state")}  # fmt: skip
    state, online = json.loads(last["state"].payload), json.loads(last["status"].payload)
    b.recorder.publish(f"{base}/status", json.dumps({**online, "state": "online"}).encode(), retain=True)
    for i, (mode, causes) in enumerate(SHAPES, 1):
        time.sleep(1.5)
        shaped = {**state, "mode": mode, "causes": causes, "seq": state["seq"] + i, "ts": int(time.time() * 1000)}
        b.recorder.publish(f"{base}/state", json.dumps(shaped).encode(), retain=True)
    time.sleep(SETTLE_S)
    b.recorder.publish(f"{base}/status", last["status"].payload, retain=True)  # the device's offline again
    b.recorder.publish(f"{base}/state", last["state"].payload, retain=True)
    entity = b.entities()["state"]["entity_id"]
    rows = [(at, s, a) for at, s, a in b.ha.history([entity])[entity] if at >= t0]
    print(f"  published {[f'{m} {c}' for m, c in SHAPES]}")
    print(f"  {entity}: " + ", ".join(f"{at - t0:+.1f}s {s} causes={a.get('causes')}" for at, s, a in rows))
    print(f"    its options (registry capabilities): {(b.entities()['state']['capabilities'] or {}).get('options')}")
    log_since(b, mark)


def transcription_off(b: Bench) -> None:
    """A device that transcribed (discovery with the two question counts), then published its discovery again
    without (the components withdrawn, ``{"p": "sensor"}``): the bytes it sent at its connect, published again."""
    mark = b.ha.log_size()
    own = [m for m in b.recorder.messages if m.topic == DISCOVERY and m.payload][-1]
    with_cues = json.loads(own.payload)
    made = discovery_payload(f"listener/{DEVICE_ID}", DEVICE_ID, with_cues["dev"]["mdl"], transcribing=True)
    b.recorder.publish(DISCOVERY, json.dumps(made).encode(), retain=True)
    time.sleep(REGISTRY_SAVE_S)
    cues = sorted(k for k in b.entities() if k.startswith("session_") and "question" in k)
    print(f"  discovery with transcription: {len(b.entities())} entities, the question counts: {cues}")
    b.recorder.publish(DISCOVERY, own.payload, retain=True)
    time.sleep(REGISTRY_SAVE_S)
    cues = sorted(k for k in b.entities() if k.startswith("session_") and "question" in k)
    deleted = [e["entity_id"] for e in b.ha.storage("core.entity_registry").get("deleted_entities", [])
               if "question" in e["unique_id"]]  # fmt: skip
    print(f"  the device's own again (withdrawn): {len(b.entities())} entities, the question counts: {cues or 'none'}"
          f"; deleted_entities {deleted}")  # fmt: skip
    log_since(b, mark)


def areas(b: Bench) -> None:
    """mqtt.suggested_area: the device (in no area yet) and a second one of its store, whose area is written in
    another case and spacing, each with its discovery as that key makes it; then the device with another area,
    and with its own discovery (none) again. Each device's area in the registry after each step."""
    mark, own = b.ha.log_size(), [m for m in b.recorder.messages if m.topic == DISCOVERY and m.payload][-1]
    preset, other = json.loads(own.payload)["dev"]["mdl"], "counter-4"

    def send(device: str, area: str) -> None:
        made = discovery_payload(f"listener/{device}", device, preset, area=area)
        b.recorder.publish(f"homeassistant/device/{device}/config", json.dumps(made).encode(), retain=True)

    def placed(step: str) -> None:
        time.sleep(REGISTRY_SAVE_S)
        names = {a["id"]: a["name"] for a in b.ha.storage("core.area_registry").get("areas", [])}
        devices = {ident: d.get("area_id") for d in b.ha.storage("core.device_registry").get("devices", [])
                   for domain, ident in d["identifiers"] if domain == "mqtt"}  # fmt: skip
        shown = {d: f"{a} ({names.get(a, '?')})" if a else None for d, a in devices.items()}
        print(f"  {step}: areas {sorted(names.values())}; devices {json.dumps(shown)}")

    send(DEVICE_ID, "Store 12")
    send(other, "store12")
    placed(f"{DEVICE_ID} with 'Store 12', {other} with 'store12'")
    send(DEVICE_ID, "Store 7")
    placed(f"{DEVICE_ID} with 'Store 7'")
    b.recorder.publish(DISCOVERY, own.payload, retain=True)
    b.recorder.publish(f"homeassistant/device/{other}/config", b"", retain=True)
    placed(f"{DEVICE_ID}'s own discovery (no area) again, {other}'s cleared")
    log_since(b, mark)


def clear_retained(b: Bench) -> None:
    """A retired device's retained discovery, status, info and state cleared, as mqtt.md says (empty payloads, the
    discovery first)."""
    mark, before = b.ha.log_size(), b.entities()
    b.recorder.publish(DISCOVERY, b"", retain=True)
    time.sleep(1.0)  # Home Assistant unsubscribes the device's topics as it removes its entities
    for leaf in ("status", "info", "state"):
        b.recorder.publish(f"listener/{DEVICE_ID}/{leaf}", b"", retain=True)
    time.sleep(REGISTRY_SAVE_S)
    left = b.entities()
    deleted = [e for e in b.ha.storage("core.entity_registry").get("deleted_entities", [])
               if e["unique_id"].startswith(f"{DEVICE_ID}_")]  # fmt: skip
    print(f"  4 retained topics cleared: entities {len(before)} before, {len(left)} after "
          f"({len(deleted)} in the registry's deleted_entities)")  # fmt: skip
    device_entry(b)
    log_since(b, mark)


def other_prefix(b: Bench) -> None:
    """The same device under topic_prefix = "store/listener" (its discovery topic is the same)."""
    mark, rec, t0 = b.ha.log_size(), len(b.recorder.messages), time.time()
    rc = b.run_device("store/listener")
    print(f"  listener run with topic_prefix store/listener: exit {rc}")
    time.sleep(REGISTRY_SAVE_S)
    payload = b.discovery(rec) or {}
    topics = sorted({c.get("state_topic", "").rsplit("/", 1)[0] for c in payload.get("cmps", {}).values()} - {""})
    print(f"  its discovery's state topics under {topics}")
    created(b, rec)
    histories(b, rec, t0)
    log_since(b, mark)


SCENARIOS: tuple[tuple[str, Callable[[Bench], None]], ...] = (
    ("a device's run of the bundled sample", live_run),
    ("Home Assistant restarted while a device runs", restart),
    ("the state a pause and faults publish", state_shapes),
    ("transcription turned off", transcription_off),
    ("a store's area (mqtt.suggested_area)", areas),
    ("a retired device's retained messages and discovery cleared", clear_retained),
    ("another topic_prefix", other_prefix),
)


def run(hass: Path, folder: Path, tz: str) -> None:
    with Mosquitto(folder / "broker") as broker, \
            Recorder(broker, topics=("listener/#", "store/#", "homeassistant/#")) as recorder:  # fmt: skip
        ha = HomeAssistant(hass, folder / "config", broker.port, free_port(), tz)
        b = Bench(broker=broker, folder=folder, ha=ha, recorder=recorder)
        try:
            took_s = ha.start()
            python = ".".join(map(str, python_version(str(hass.parent / "python"))))
            print(f"Home Assistant {ha.version()} on Python {python}, TZ={tz}: its MQTT birth message "
                  f"{took_s:.0f} s after its start")  # fmt: skip
            print(f"mosquitto on 127.0.0.1:{broker.port}; the device: listener run --input {SAMPLE.name}")
            for title, scenario in SCENARIOS:
                print(f"\n== {title}")
                scenario(b)
        finally:
            ha.stop()
        print("\n== every warning and error Home Assistant logged")
        for e in ha.log_entries() or []:
            print(" ", e.line[:400], f"| {e.last[:200]}" if e.last else "")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home-assistant", default=DEFAULT_VERSION, help="Home Assistant Core version from PyPI")
    parser.add_argument("--python", help="the Python to run it (default: python3.13 on PATH, or pyenv's)")
    parser.add_argument("--tz", default="Europe/Berlin", help="Home Assistant's time zone (the stores')")
    parser.add_argument("--keep", type=Path, help="keep the broker's, Home Assistant's and the device's files here")
    args = parser.parse_args(argv)
    python = args.python or find_python()
    if python is None:
        print("home_assistant: needs Python 3.13 (python3.13 on PATH, pyenv's, or --python)", file=sys.stderr)
        return 2
    hass = install(args.home_assistant, python)
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        run(hass, args.keep, args.tz)
    else:
        with tempfile.TemporaryDirectory(prefix="home-assistant-bench-") as tmp:
            run(hass, Path(tmp), args.tz)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
