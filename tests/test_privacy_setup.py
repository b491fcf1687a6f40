"""Privacy of the two setup commands that capture audio, as the audit (test_privacy_audit.py, test_privacy_live.py)
holds `listener run` and `analyze` to it: `listener calibrate --write`, listening live to the rep talking alone,
and `listener doctor`, reading a second of the room and probing a real mosquitto. Each runs as installed
(``python -m listener``) from the test array (tests/alsa_device.py) playing rendered speech, its HOME, TMPDIR and
XDG folders in a box of the test's own (tests/asr_audio.sandbox). Everything it printed, every file in the box
afterwards and every message the broker took is searched for the played samples, as bytes in every form the
pipeline holds them and as text (tests/privacy_search.py). Where strace is installed the run is traced
(tests/privacy_strace.py): a file written and removed before the walk (a temp file of audio) or written outside
the box, and any address reached, are seen there; without strace only those trace assertions skip.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from listener.config import load_config
from listener.service.doctor.mqtt import PROBE_PAYLOAD
from tests import synth
from tests.alsa_device import AlsaConfig
from tests.asr_audio import sandbox
from tests.calibrate_cases import CONFIG_TEXT, REP_DEG, REP_ONLY, U, angle_error, printed
from tests.mqtt_broker import BASE, DEVICE_ID, Mosquitto, Recorder
from tests.privacy_search import audio_as_text, audio_needles
from tests.privacy_strace import Traced, find_strace, read_trace, under_strace, written_data
from tests.test_privacy_live import JACK_DB

RATE_HZ = 16000
DOCTOR_READ_S = 1.0  # listener.service.doctor.levels.LEVEL_READ_S: what doctor hears of the played speech
# what doctor prints: one line per check, in this order (the secrets file's line only where one is installed)
SYSTEM_BUS = {"/run/dbus/system_bus_socket", "/var/run/dbus/system_bus_socket"}
DOCTOR_CHECKS = ["config", "audio", "preset", "levels", "directions", "turn", "asr", "gpio", "mqtt", "disk", "clock"]


@dataclass
class Ran:
    box: Path
    stdout: bytes
    stderr: bytes
    trace: Path | None  # strace -ff output prefix, when strace is installed

    def seen(self) -> Traced:
        """What the run wrote and reached, by any thread or child; skips the caller where strace is missing."""
        return read_trace(self.trace, self.box / "work")

    def data(self) -> dict[str, bytes]:
        """What it wrote to each file, as the trace saw it (a file removed before the walk too)."""
        return {f"written to {path}": data for path, data in written_data(self.trace).items()}


def _array(directory: Path, utterances: list[synth.Utterance], seconds: float, seed: int) -> tuple[AlsaConfig, Path]:
    """A test array ('listener_test_array') playing the rendered speech, and the speech as a WAV to search for."""
    samples, _ = synth.render(utterances, seconds, seed=seed)
    signal = np.round(np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16)
    alsa = AlsaConfig(directory / "alsa")
    alsa.add("listener_test_array", signal, RATE_HZ)
    played = directory / "played.wav"
    sf.write(played, signal, RATE_HZ, subtype="PCM_16")
    return alsa, played


def _run(box: Path, outside: Path, alsa: AlsaConfig, args: list[str]) -> tuple[Ran, int]:
    """``listener ARGS`` in a sandbox at ``box``, traced where strace may: (what it did, its exit code)."""
    dirs, env = sandbox(box)
    env |= {
        "ALSA_CONFIG_PATH": str(alsa.path),
        "GPIOZERO_PIN_FACTORY": "mock",
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
    }
    cmd = [sys.executable, "-m", "listener", *args]
    strace = find_strace()
    trace = outside / "trace" if strace else None
    if strace and trace:
        cmd = under_strace(strace, trace, cmd, data=True)
    proc = subprocess.run(cmd, cwd=dirs["work"], env=env, capture_output=True, timeout=180, check=False)
    return Ran(box, proc.stdout, proc.stderr, trace), proc.returncode


def _files(box: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(box.rglob("*")) if p.is_file()}


def _assert_no_audio(outputs: dict[str, bytes], played: Path) -> None:
    needles = audio_needles(played)  # the loud parts as played, in every form the pipeline holds them
    for where, data in outputs.items():
        found = [kind for kind, ns in needles.items() if any(n in data for n in ns)]
        assert not found, f"audio ({', '.join(found)}) found in {where}"
        as_text = audio_as_text(data)
        assert as_text is None, f"{as_text[0]} in {where}: {as_text[1][:200]!r}"


def _written_beyond(seen: Traced, allowed: set[str], prefixes: tuple[str, ...] = ()) -> list[str]:
    """What the trace saw written that is neither ``allowed`` (nor their folders) nor under ``prefixes``: the
    test PCM's output file (/dev/null) and libjack's metadata database, which PortAudio's JACK host API opens
    whenever it initialises (test_privacy_live.py), are the test array's and PortAudio's, never listener's."""
    folders = {str(p) for a in allowed for p in Path(a).parents}
    return sorted(
        p
        for p in seen.written
        if p not in allowed | folders | {"/dev/null"} and not p.startswith(prefixes) and not JACK_DB.fullmatch(p)
    )


def test_calibrate_live_writes_only_the_config_and_prints_no_audio(tmp_path: Path) -> None:
    """`calibrate --seconds 11 --write` live: the rep's directions land in the config, through a temp file beside
    it renamed over it; nothing else is written (not even a file removed before the walk), nothing is sent
    anywhere, and no output or file holds the audio."""
    alsa, played = _array(tmp_path, REP_ONLY, 12.0, seed=5)
    box = tmp_path / "box"
    etc = box / "etc"
    etc.mkdir(parents=True)
    config = etc / "listener.toml"
    # the test PCM delivers far faster than real time: a ring holding the whole recording loses none of it
    text = CONFIG_TEXT.replace("block_ms = 100", 'device = "listener_test_array"\nbuffer_s = 20.0')
    config.write_text(text.replace("[service]\n", f'[service]\nstate_dir = "{box / "state"}"\n'))
    ran, code = _run(box, tmp_path, alsa, ["calibrate", "--config", str(config), "--seconds", "11", "--write"])
    out = ran.stdout.decode(errors="replace")
    assert code == 0, ran.stderr.decode(errors="replace")[-3000:]
    # it did its job: heard the rep where they stood, and stored it
    found = printed(out)
    assert angle_error(found["rep"], REP_DEG) <= 10.0, out
    assert f"written to [parties] in {config}" in out, out
    assert load_config(config).parties.rep_azimuth_deg == found["rep"]

    outputs = {"stdout": ran.stdout, "stderr": ran.stderr, **_files(box)}
    assert str(config) in outputs
    _assert_no_audio(outputs, played)
    assert not list((box / "tmp").iterdir()), "a temporary file was left"

    seen = ran.seen()
    temps = {p for p in seen.written if Path(p).parent == etc and Path(p).name.startswith(".listener.toml.")}
    # the trace sees the write: the config checked writable, then a temp copy beside it renamed over it
    assert str(config) in seen.written and len(temps) == 1 and next(iter(temps)).endswith(".tmp"), seen.written
    beyond = _written_beyond(seen, {str(config), *temps})
    assert not beyond, f"calibrate wrote more than its config: {beyond}"
    data = ran.data()  # the temp copy's bytes, as written: the new config, nothing more
    assert data == {f"written to {next(iter(temps))}": config.read_bytes()}, sorted(data)
    assert not seen.connected and not seen.listening, (seen.connected, seen.listening)
    assert not seen.local, f"local sockets reached: {sorted(seen.local)}"


def test_doctor_publishes_only_its_probe_writes_only_its_disk_probe_and_prints_no_audio(tmp_path: Path) -> None:
    """`doctor` reads a second of the array playing speech and probes a real mosquitto: what the broker took is
    the probe's fixed payload, its output the checks' lines, the only file it writes the disk check's probe in
    the state folder (removed), and the only address it reaches the broker's."""
    # the rep's first words from the start: the second doctor reads is speech, all of it searched for
    alsa, whole = _array(tmp_path, [U("rep", 0.1, REP_ONLY[0].file, REP_DEG)], 2.0, seed=5)
    played = tmp_path / "heard.wav"
    sf.write(played, sf.read(whole, dtype="int16")[0][: round(DOCTOR_READ_S * RATE_HZ)], RATE_HZ, subtype="PCM_16")
    box = tmp_path / "box"
    box.mkdir()
    state = box / "state"  # made by the sandbox (its XDG_STATE_HOME too), as systemd makes StateDirectory=
    with Mosquitto(tmp_path / "broker") as broker, Recorder(broker) as rec:
        # MQTT 5: doctor then probes the discovery prefix too (on 3.1.1 it subscribes and reads its probe back)
        mqtt = "\n".join(f"{k} = {json.dumps(v)}" for k, v in broker.mqtt_config(protocol="5").items())
        config = tmp_path / "listener.toml"
        config.write_text(
            f'[array]\npreset = "respeaker-4mic"\ndevice = "listener_test_array"\n'
            f'[service]\nstate_dir = "{state}"\n[mqtt]\n{mqtt}\n'
        )
        ran, code = _run(box, tmp_path, alsa, ["doctor", "--config", str(config)])
        probes = f"{BASE}/doctor", f"homeassistant/device/{DEVICE_ID}/doctor"
        messages = rec.wait_for(lambda ms: {m.topic for m in ms} >= set(probes), timeout_s=5.0)
    lines = ran.stdout.decode(errors="replace").splitlines()
    said = ran.stderr.decode(errors="replace")[-3000:]
    assert code == 0, f"{lines}\n{said}"
    # it did its job: only the checks' lines, the array heard (its levels measured) and the broker reached
    assert [line.split()[1] for line in lines] == DOCTOR_CHECKS, lines
    assert all(line.split()[0] in ("ok", "warn", "FAIL") for line in lines), lines
    by_name = {line.split()[1]: line for line in lines}
    assert by_name["levels"].startswith("ok    levels     RMS dBFS ch0 "), by_name["levels"]
    assert by_name["mqtt"].startswith(f"ok    mqtt       connected to 127.0.0.1:{broker.port}"), by_name["mqtt"]
    assert sorted(m.topic for m in messages) == sorted(probes), [m.topic for m in messages]
    assert all(m.payload == PROBE_PAYLOAD for m in messages), [m.payload[:200] for m in messages]

    outputs = {"stdout": ran.stdout, "stderr": ran.stderr, **_files(box)}
    outputs |= {f"MQTT {m.topic}": m.payload for m in messages}
    _assert_no_audio(outputs, played)
    assert not list(state.iterdir()), "doctor left a file in the state folder"

    seen = ran.seen()
    probe = str(state / ".listener-doctor-")  # the disk check's probe: 64 KiB of zeros, synced, removed
    assert any(p.startswith(probe) for p in seen.written), sorted(seen.written)  # the trace sees doctor's writes
    beyond = _written_beyond(seen, set(), (probe,))
    assert not beyond, f"doctor wrote more than its disk probe: {beyond}"
    data = ran.data()  # the probe's bytes, removed before the walk: seen only in the trace
    assert [p for p in data if not p.startswith(f"written to {probe}")] == [] and data, sorted(data)
    _assert_no_audio(data, played)
    # the broker, and paho's wake-up pair: a loopback socket of its own that takes its one caller
    assert ("127.0.0.1", broker.port) in seen.connected, "the trace saw no connection to the broker"
    loopback = {("127.0.0.1", broker.port)} | {(a, p) for a, p in seen.listening if a == "127.0.0.1"}
    assert not seen.connected - loopback, f"connections beyond the broker: {sorted(seen.connected - loopback)}"
    assert {a for a, _ in seen.listening} <= {"127.0.0.1"}, f"sockets opened to callers: {sorted(seen.listening)}"
    # the clock check's `timedatectl show -p NTPSynchronized` asks systemd over the system bus, where one runs
    assert seen.local <= SYSTEM_BUS, f"local sockets reached: {sorted(seen.local)}"
