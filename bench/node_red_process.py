"""A real Node-RED for bench.node_red: installed from npm into the bench cache, run in a temporary userDir,
its editor's debug sidebar read over the /comms websocket, its log filtered of start-up notices."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.device_run import wait_until
from bench.signals import ROOT as REPO
from tests.mqtt_broker import free_port, kill_process_group

CACHE = REPO / "bench" / ".cache"
# the newest Node-RED whose package.json "engines" accepts a Node.js major (5.x needs Node >= 22.9)
NODE_RED_FOR_NODE = (((22, 9), "5.0.7"), ((18, 5), "4.1.8"))
# what every start logs with no credentials file and no projects: not about the flow
STARTUP_NOISE = ("Projects disabled", "Encrypted credentials not found", "Using unencrypted credentials")


def node_version() -> tuple[int, int]:
    out = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True).stdout
    major, minor = out.strip().lstrip("v").split(".")[:2]
    return int(major), int(minor)


def install(version: str) -> Path:
    """Node-RED ``version`` from npm into the bench cache (once); its ``node-red`` executable."""
    prefix = CACHE / f"node-red-{version}"
    exe = prefix / "node_modules" / ".bin" / "node-red"
    if not exe.exists():
        prefix.mkdir(parents=True, exist_ok=True)
        npm = ["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund", f"node-red@{version}"]
        subprocess.run(npm, check=True, capture_output=True, timeout=600)
    return exe


@dataclass
class Sidebar:
    """What the editor's debug sidebar receives (websocket /comms)."""

    shown: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, topic: str, data: dict[str, Any]) -> None:
        with self.lock:
            if topic == "debug":
                raw = str(data.get("msg"))
                try:
                    value = json.loads(raw) if data.get("format", "").startswith(("Object", "array")) else raw
                except (TypeError, ValueError):
                    value = raw
                self.shown.append({"name": data.get("name"), "level": data.get("level"), "value": value})

    def of(self, name: str, since: int = 0) -> list[Any]:
        with self.lock:
            return [d["value"] for d in self.shown[since:] if d["name"] == name and d["level"] is None]

    def errors(self, since: int = 0) -> list[dict[str, Any]]:
        with self.lock:
            return [d for d in self.shown[since:] if d["level"] is not None]

    def mark(self) -> int:
        with self.lock:
            return len(self.shown)


class NodeRed:
    """One Node-RED in ``user_dir``: no auth, a free port on 127.0.0.1, the context store on disk."""

    def __init__(self, exe: Path, user_dir: Path, tz: str) -> None:
        self.exe, self.user_dir, self.tz = exe, user_dir, tz
        self.port = free_port()
        self.log = user_dir / "node-red.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.sidebar = Sidebar()
        user_dir.mkdir(parents=True, exist_ok=True)
        settings = {
            "uiPort": self.port, "uiHost": "127.0.0.1", "userDir": str(user_dir), "flowFile": "flows.json",
            "runtimeState": {"enabled": True}, "editorTheme": {"tours": False}, "credentialSecret": False,
            "logging": {"console": {"level": "info", "metrics": False, "audit": False}},
            "contextStorage": {"default": {"module": "localfilesystem"}},
        }  # fmt: skip
        (user_dir / "settings.js").write_text(f"module.exports = {json.dumps(settings, indent=1)};\n")

    def start(self) -> None:
        """Start in safe mode (flows not running), then listen to the sidebar before they run."""
        env = {**os.environ, "TZ": self.tz}
        args = [str(self.exe), "--safe", "--settings", str(self.user_dir / "settings.js"), "-u", str(self.user_dir)]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        wait_until(lambda: self._answers(), 60, "Node-RED's admin API")
        threading.Thread(target=self._listen, daemon=True).start()
        wait_until(lambda: self._subscribed, 10, "websocket /comms")

    _subscribed = False

    def _answers(self) -> bool:
        try:
            self.api("GET", "/settings")
            return True
        except OSError:
            return False

    def _listen(self) -> None:
        from websockets.exceptions import ConnectionClosed
        from websockets.sync.client import connect

        try:
            with connect(f"ws://127.0.0.1:{self.port}/comms") as ws:
                ws.send(json.dumps({"subscribe": "debug"}))
                self._subscribed = True
                for raw in ws:
                    for m in json.loads(raw):
                        self.sidebar.take(m["topic"], m.get("data") or {})
        except (ConnectionClosed, OSError):
            return

    def api(self, method: str, path: str, body: object = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json", "Node-RED-API-Version": "v2"}
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data, headers, method=method)
        with urllib.request.urlopen(req, timeout=10) as resp:
            text = resp.read().decode()
        return json.loads(text) if text.strip() else None

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.terminate()  # SIGTERM: Node-RED closes its flows and flushes the context store
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            kill_process_group(proc)

    def log_size(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0

    def log_lines(self, since: int = 0, levels: tuple[str, ...] = ("[warn]", "[error]")) -> list[str]:
        text = self.log.read_bytes()[since:].decode(errors="replace") if self.log.exists() else ""
        lines = text.splitlines()
        hits = [ln for ln in lines if any(lv in ln for lv in levels)]
        return [ln for ln in hits if not any(noise in ln for noise in STARTUP_NOISE)]
