"""``listener run`` started on a card remounted read-only (ext4 does so when the SD card fails), a real mosquitto.

The start stopped with exit 2, which the unit does not restart: the device stayed dark and measured nothing until
someone came, though a card that turns read-only under a running device only sends its spool into memory
(info.storage "unwritable") and a start on a full card runs so too. The card here is a tmpfs in a private mount
namespace, made read-only before the run and writable again 10 s into it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from listener.service.runner import sample_conversation
from tests.mqtt_broker import BASE, Mosquitto, Recorder, service_config
from tests.test_mqtt_full_card import _kinds, _measured, _spooled, freed_10_s_in

# the spool made with one message (the device ran before), the card remounted read-only, the run started; the
# card made writable again once the test makes the file ``free``
RUN_ON_A_READ_ONLY_CARD = """
card={card}
mount -t tmpfs -o size=2m tmpfs "$card" || exit 1
{python} -c 'import sys; from pathlib import Path; from listener.outputs.mqtt.spool import Spool
with Spool(Path(sys.argv[1]) / "mqtt-spool.sqlite3", 10) as spool: spool.put("event", {{"n": 0}})' "$card"
mount -o remount,ro "$card" || exit 1
( while [ ! -e {free} ]; do sleep 0.05; done; mount -o remount,rw "$card" ) &
exec {python} -m listener run --config {config} --input {wav}
"""


# the spool's folder not made yet (a first start) on a card mounted read-only
OPEN_IN_A_FOLDER_NOT_MADE = """
card={card}
mount -t tmpfs -o size=2m,ro tmpfs "$card" || exit 1
exec {python} -c 'import logging, sys; from pathlib import Path; from listener.outputs.mqtt.spool import Spool
logging.basicConfig(format="%(levelname)s %(message)s")
with Spool(Path(sys.argv[1]) / "listener" / "mqtt-spool.sqlite3", 10) as spool: print(spool.storage)' "$card"
"""


def _in_a_namespace(script: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare (util-linux) to mount a file system in a private namespace")
    return subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, timeout=60)


def test_a_spool_folder_a_read_only_card_cannot_hold_is_blamed_on_the_card_not_on_space(tmp_path: Path) -> None:
    """mkdir's EROFS was no storage problem the spool knew: the start said "free space on service.state_dir" of a
    card that has room and refuses every write, where the fix is the card's own."""
    card = tmp_path / "state"
    card.mkdir()
    result = _in_a_namespace(OPEN_IN_A_FOLDER_NOT_MADE.format(card=card, python=sys.executable))
    if result.returncode != 0 and (result.stderr.startswith("unshare:") or "mount:" in result.stderr):
        pytest.skip(f"no private mounts here: {result.stderr.strip()}")
    assert result.returncode == 0 and result.stdout == "unwritable\n", result.stderr
    said = f"{card}/listener is on a read-only file system: check `dmesg` for card errors, repair or replace the card"
    assert said in result.stderr and "free space" not in result.stderr, result.stderr


def _run_on_a_read_only_card(tmp_path: Path, config: Path) -> subprocess.Popen[bytes]:
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare (util-linux) to mount a file system in a private namespace")
    card = tmp_path / "state"  # service_config's state_dir
    card.mkdir()
    script = RUN_ON_A_READ_ONLY_CARD.format(
        card=card, free=tmp_path / "free", python=sys.executable, config=config, wav=sample_conversation()
    )
    return subprocess.Popen(["unshare", "-rm", "sh", "-c", script], stderr=subprocess.PIPE, start_new_session=True)


def test_listener_run_started_on_a_read_only_card_runs_and_sends_everything_it_measures(tmp_path: Path) -> None:
    expected = _measured(tmp_path)
    with Mosquitto(tmp_path / "broker") as broker, Recorder(broker) as rec:
        proc = _run_on_a_read_only_card(tmp_path, service_config(tmp_path, broker))
        err, got = freed_10_s_in(proc, rec, tmp_path / "free", len(expected))
    if proc.returncode != 0 and (err.startswith("unshare:") or "mount:" in err):
        pytest.skip(f"no private mounts here: {err.strip()}")
    assert proc.returncode == 0, err
    measured = [(leaf, data) for leaf, data in _spooled(got) if data.get("n") is None]  # not the one from before
    assert _kinds(measured) == expected, err
    assert "Traceback" not in err, err
    started = "is on a read-only file system: check `dmesg` for card errors, repair or replace the card"
    assert started in err and "the device runs on, its messages waiting in memory" in err, err
    assert "lost if the service stops before the card takes writes)" in err, err
    assert "opens now that the card takes writes" in err, err  # at the stop at the latest (tried every 30 s)
    infos = [json.loads(m.payload) for m in got if m.topic == f"{BASE}/info"]
    assert infos[0]["storage"] == "unwritable", infos[0]  # not "full": freeing space is no cure
