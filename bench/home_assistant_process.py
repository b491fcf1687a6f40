"""A real Home Assistant for bench.home_assistant: installed from PyPI into the bench cache under a Python it
supports, run in a temporary config folder whose storage already holds the MQTT integration's config entry (no
onboarding, no HTTP API), and read back from its registries, its recorder's SQLite database and its log; and what
docs/integrations/mqtt.md says each entity shows, to set beside what it did."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.device_run import wait_until
from bench.signals import ROOT as REPO
from tests.mqtt_broker import kill_process_group

CACHE = REPO / "bench" / ".cache"
# The newest release PyPI serves for Python 3.13.0. Device-based MQTT discovery, all the device publishes,
# came in 2024.11 (Python 3.12); 2025.2 on need 3.13, and this machine's own 3.11 ends at 2024.3.
DEFAULT_VERSION = "2025.4.4"
PYTHON_MIN = (3, 13)
# integrations whose requirements Home Assistant would otherwise pip-install at its first start
PRELOADED = ("mqtt", "recorder", "frontend")
INSTALLED = ".listener-bench-installed"  # written once both pip steps are done
# what the registries' delayed save waits after a change (10 s) and a little more
REGISTRY_SAVE_S = 11.0
LEVELS = (" WARNING ", " ERROR ", " CRITICAL ")


def python_version(python: str) -> tuple[int, int]:
    """(0, 0) for one that does not run (pyenv's shim of a version this folder has not selected)."""
    out = subprocess.run([python, "-c", "import sys; print(*sys.version_info[:2])"], capture_output=True, text=True)
    if out.returncode != 0:
        return 0, 0
    major, minor = out.stdout.split()
    return int(major), int(minor)


def find_python() -> str | None:
    """A Python Home Assistant's recent releases accept: on PATH, or one of pyenv's."""
    pyenv = sorted((str(p) for p in Path("~/.pyenv/versions").expanduser().glob("3.1[3-9]*/bin/python3")), reverse=True)
    for candidate in [shutil.which(f"python3.{minor}") for minor in (14, 13)] + pyenv:
        if candidate and python_version(candidate) >= PYTHON_MIN:
            return candidate
    return None


def requirements(site: Path, domains: tuple[str, ...]) -> list[str]:
    """The pip requirements the integrations' manifests name (the exact pins Home Assistant would install)."""
    found: list[str] = []
    for domain in domains:
        manifest = json.loads((site / "homeassistant" / "components" / domain / "manifest.json").read_text())
        found += manifest.get("requirements", [])
    return found


def install(version: str, python: str) -> Path:
    """Home Assistant ``version`` from PyPI into its own venv in the bench cache (once); its ``hass``."""
    venv = CACHE / f"home-assistant-{version}"
    hass, done = venv / "bin" / "hass", venv / INSTALLED
    if done.exists():
        return hass
    # hass comes with the first pip step: an install cut short after it is not a complete one, so start over
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([python, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, f"homeassistant=={version}"], check=True, capture_output=True, timeout=1800)
    site = next((venv / "lib").glob("python3.*/site-packages"))
    subprocess.run([*pip, *requirements(site, PRELOADED)], check=True, capture_output=True, timeout=1800)
    done.write_text(f"{version}\n")
    return hass


def mqtt_entry(port: int, now_iso: str) -> dict[str, Any]:
    """The MQTT integration's config entry as Home Assistant's own flow stores it (config entry 1.2: the broker
    in data, discovery in options), for a broker on 127.0.0.1 with no credentials."""
    return {
        "entry_id": "01BENCHMQTT0000000000000000", "domain": "mqtt", "title": "127.0.0.1",
        "version": 1, "minor_version": 2, "source": "user", "unique_id": None,
        "data": {"broker": "127.0.0.1", "port": port},
        "options": {"discovery": True, "discovery_prefix": "homeassistant"},
        "pref_disable_new_entities": False, "pref_disable_polling": False, "disabled_by": None,
        "created_at": now_iso, "modified_at": now_iso, "discovery_keys": {}, "subentries": [],
    }  # fmt: skip


CONFIGURATION = """homeassistant:
  name: bench
  time_zone: {tz}
  unit_system: metric
  country: DE
  latitude: 52.52
  longitude: 13.40
  elevation: 34
recorder:
  commit_interval: 1
logger:
  default: info
http:
  server_host: 127.0.0.1
  server_port: {http_port}
"""


@dataclass
class LogEntry:
    line: str  # its first line: time, level, logger, message
    last: str  # a traceback's last line (the exception), '' for a one-line entry


class HomeAssistant:
    """One Home Assistant in ``config``, connected to the broker on ``port`` with discovery on."""

    def __init__(self, hass: Path, config: Path, port: int, http_port: int, tz: str) -> None:
        self.hass, self.config = hass, config
        self.proc: subprocess.Popen[bytes] | None = None
        (config / ".storage").mkdir(parents=True, exist_ok=True)
        (config / "configuration.yaml").write_text(CONFIGURATION.format(tz=tz, http_port=http_port))
        entries = {"entries": [mqtt_entry(port, "2026-01-01T00:00:00+00:00")]}
        store = {"version": 1, "minor_version": 5, "key": "core.config_entries", "data": entries}
        (config / ".storage" / "core.config_entries").write_text(json.dumps(store, indent=1))
        self.log = config / "home-assistant.log"
        self.earlier = ""

    def version(self) -> str:
        return subprocess.run([str(self.hass), "--version"], capture_output=True, text=True).stdout.strip()

    def start(self, timeout_s: float = 300.0) -> float:
        """Start it and wait for its MQTT client's birth message (sent once discovery is subscribed); the seconds
        that took."""
        t0 = time.monotonic()
        self.earlier = self.log_text()  # Home Assistant moves the last start's log aside to .log.1
        with (self.config / "hass.out").open("ab") as out:
            args = [str(self.hass), "-c", str(self.config)]
            self.proc = subprocess.Popen(args, stdout=out, stderr=out, start_new_session=True)
        ready = "MQTT client initialized, birth message sent"
        connected = wait_until(lambda: ready in self.log_text()[len(self.earlier) :], timeout_s, "MQTT birth message")
        if not connected:
            raise RuntimeError(f"Home Assistant did not connect to the broker; its log ends {self.log_text()[-3000:]}")
        return time.monotonic() - t0

    def stop(self) -> None:
        """SIGTERM: Home Assistant stops its integrations and writes its registries and recorder out."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            kill_process_group(proc)

    def log_text(self) -> str:
        """The log of every start of this Home Assistant, one after the other."""
        return self.earlier + (self.log.read_text(errors="replace") if self.log.exists() else "")

    def log_size(self) -> int:
        return len(self.log_text())

    def log_entries(self, since: int = 0) -> list[LogEntry]:
        """Its warnings and errors from character ``since`` on."""
        entries: list[LogEntry] = []
        current: LogEntry | None = None
        for line in self.log_text()[since:].splitlines():
            if line[:4].isdigit() and line[4:5] == "-":
                current = LogEntry(line, "") if any(lv in line for lv in LEVELS) else None
                if current:
                    entries.append(current)
            elif current and line.strip():
                current.last = line.strip()
        return entries

    def storage(self, key: str) -> dict[str, Any]:
        path = self.config / ".storage" / key
        data: dict[str, Any] = json.loads(path.read_text())["data"] if path.exists() else {}
        return data

    def history(self, entity_ids: list[str]) -> dict[str, list[tuple[float, str | None, dict[str, Any]]]]:
        """Every state the recorder wrote for these entities: (epoch s, state, attributes), oldest first."""
        out: dict[str, list[tuple[float, str | None, dict[str, Any]]]] = {e: [] for e in entity_ids}
        db = sqlite3.connect(f"file:{self.config / 'home-assistant_v2.db'}?mode=ro", uri=True)
        try:
            rows = db.execute(
                "SELECT m.entity_id, s.last_updated_ts, s.state, a.shared_attrs FROM states s"
                " JOIN states_meta m ON m.metadata_id = s.metadata_id"
                " LEFT JOIN state_attributes a ON a.attributes_id = s.attributes_id ORDER BY s.last_updated_ts"
            ).fetchall()
        finally:
            db.close()
        for entity_id, at, state, attrs in rows:
            if entity_id in out:
                out[entity_id].append((at, state, json.loads(attrs) if attrs else {}))
        return out


def _pct(v: float | None) -> float | None:
    return None if v is None else round(v * 100, 1)


def _rounded(v: float | None, digits: int) -> float | None:
    return None if v is None else round(v, digits)


def _onoff(v: object) -> str:
    return "on" if v else "off"


# What docs/integrations/mqtt.md's table says each entity shows, from its topic's payload
SHOWN: dict[str, tuple[str, Callable[[dict[str, Any]], object]]] = {
    "rep_share": ("metrics", lambda p: _pct(p["rep_share_rolling"])),
    "interruptions": ("metrics", lambda p: p["interruptions_by_rep"]),
    "sessions_today": ("state", lambda p: p["sessions_today"]),
    "state": ("state", lambda p: p["mode"]),
    "dominating": ("state", lambda p: _onoff(p["dominating"])),
    "session_share": ("session", lambda p: _pct(p["rep_share"])),
    "session_length": ("session", lambda p: round(p["duration_s"])),
    "session_response_gap": ("session", lambda p: _rounded(p["response_gap_median_s"], 2)),
    "session_interruptions": ("session", lambda p: p["interruptions_by_rep"]),
    "session_backchannels": ("session", lambda p: p["backchannels_by_rep"]),
    "spool_dropped": ("info", lambda p: p["spool_dropped"]),
    "spool_depth": ("info", lambda p: p["spool_depth"]),
    "storage": ("info", lambda p: _onoff(p["storage"] != "ok")),
    "spool_in_memory": ("info", lambda p: p["spool_in_memory"]),
    "clock_wrong": ("info", lambda p: _onoff(not p["clock_ok"])),
}


def number(v: object) -> object:
    """A state as Home Assistant stores it (text) or a value as the payload holds it, made comparable (None is
    Home Assistant's "unknown")."""
    try:
        return float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "unknown" if v is None else v


def changes(values: list[tuple[float, object]]) -> list[tuple[float, object]]:
    """Only the values that differ from the one before: what a state history keeps of repeated messages."""
    out: list[tuple[float, object]] = []
    for at, v in values:
        if not out or out[-1][1] != v:
            out.append((at, v))
    return out


def tally(states: list[str | None]) -> str:
    counts: dict[str, int] = {}
    for s in states:
        name = s if s in ("unavailable", "unknown", None) else "a value"
        counts[str(name)] = counts.get(str(name), 0) + 1
    return json.dumps(counts)
