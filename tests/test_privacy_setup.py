"""Privacy of the two setup commands that capture audio, as the audit (test_privacy_audit.py, test_privacy_live.py)
holds `listener run` and `analyze` to it: `listener calibrate --write`, on the 4-mic array or on two lapel mics
in channel-map mode, listening live to the rep talking alone or reading a recording of it (--input), and `listener
doctor` (each logging at debug: doctor then holds back none of its log lines), as lines or --json on the array,
and on the lapel mics, reading a second of the room and probing a real mosquitto. Each runs as installed
(``python -m listener``) from the test array (tests/alsa_device.py) playing rendered speech, its HOME, TMPDIR and
XDG folders in a box of the test's own (tests/asr_audio.sandbox). Everything it printed, every file in the box
afterwards and every message the broker took is searched for the played samples, as bytes in every form the
pipeline holds them and as text (tests/privacy_search.py). Where strace is installed the run is traced
(tests/privacy_strace.py): a file written and removed before the walk (a temp file of audio) or written outside
the box, and any address reached, are seen there; without strace only those trace assertions skip.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import soundfile as sf

from listener.config import load_config
from listener.service.doctor.mqtt import PROBE_PAYLOAD
from tests import synth
from tests.alsa_device import AlsaConfig
from tests.asr_audio import sandbox
from tests.calibrate_cases import CONFIG_TEXT, REP_DEG, REP_ONLY, U, angle_error, printed
from tests.lapel_talk import write_rep_alone
from tests.mqtt_broker import BASE, DEVICE_ID, Mosquitto, Received, Recorder
from tests.privacy_search import assert_no_audio
from tests.privacy_strace import Traced, find_strace, read_trace, under_strace, written_data
from tests.test_privacy_live import JACK_DB

RATE_HZ = 16000
DOCTOR_READ_S = 1.0  # listener.service.doctor.levels.LEVEL_READ_S: what doctor hears of the played speech
# what doctor prints: one line per check, in this order (the secrets file's line only where one is installed)
SYSTEM_BUS = {"/run/dbus/system_bus_socket", "/var/run/dbus/system_bus_socket"}
DOCTOR_CHECKS = [
    "config", "audio", "preset", "levels", "directions", "turn", "memory", "asr", "gpio", "mqtt", "disk", "clock"
]  # fmt: skip
# --json's: the same, with the checks' whole names
JSON_CHECKS = [
    "config", "audio", "preset", "levels", "directions", "turn model", "memory", "asr model", "gpio", "mqtt",
    "disk", "clock",
]  # fmt: skip
LEVELS = re.compile(r"RMS dBFS ch0 -?\d+, ch1 -?\d+, ch2 -?\d+, ch3 -?\d+")  # the 4-mic board's, whole dB
# two lapel mics, one per party (channel-map mode), the rep's on the second input: its blocks are [ch1, ch0]
LAPELS = (
    '[array]\npreset = "generic"\nchannels = 2\ndevice = "listener_test_array"\n'
    "[parties]\nrep_channel = 1\ncustomer_channel = 0\n"
)
LAPEL_LEVELS = re.compile(r"RMS dBFS ch1 (-\d+), ch0 (-\d+)")  # the rep's mic first, then the customer's
PROBES = f"{BASE}/doctor", f"homeassistant/device/{DEVICE_ID}/doctor"  # doctor's probe publishes (MQTT 5)


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
        """What it wrote to each file, as the trace saw it (a file removed before the walk too), but libjack's."""
        return {f"written to {path}": data for path, data in self._written(jack=False).items()}

    def jack_data(self) -> dict[str, bytes]:
        """What libjack wrote to its metadata database (JACK_DB): only the first PortAudio process since boot
        writes there (its region files zero-filled, the empty table), searched for the audio all the same."""
        return {f"written to {path}": data for path, data in self._written(jack=True).items()}

    def _written(self, *, jack: bool) -> dict[str, bytes]:
        return {path: data for path, data in self._trace_data.items() if bool(JACK_DB.fullmatch(path)) is jack}

    @cached_property
    def _trace_data(self) -> dict[str, bytes]:
        """:func:`written_data` of the trace, read once for data() and jack_data()."""
        return written_data(self.trace)


def _render(directory: Path, utterances: list[synth.Utterance], seconds: float, seed: int) -> tuple[np.ndarray, Path]:
    """The rendered speech as int16, and as a WAV (the recording to search for, or to calibrate from)."""
    samples, _ = synth.render(utterances, seconds, seed=seed)
    signal = np.round(np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16)
    played = directory / "played.wav"
    sf.write(played, signal, RATE_HZ, subtype="PCM_16")
    return signal, played


def _array(directory: Path, signal: np.ndarray) -> AlsaConfig:
    """A test array ('listener_test_array') playing ``signal`` (int16, one column a channel)."""
    alsa = AlsaConfig(directory / "alsa")
    alsa.add("listener_test_array", signal, RATE_HZ)
    return alsa


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


# calibrate's own cases log at warning; here every line its code logs is searched
DEBUG_TEXT = CONFIG_TEXT.replace('log_level = "warning"', 'log_level = "debug"')


def _calibrate(tmp_path: Path, alsa: AlsaConfig, text: str, *args: str) -> tuple[Ran, Path]:
    """``calibrate --config FILE ARGS --write`` in a box whose etc/listener.toml is ``text`` (its [service] table
    given the box's state folder), exit code 0: (what it did, the config)."""
    box = tmp_path / "box"
    etc = box / "etc"
    etc.mkdir(parents=True)
    config = etc / "listener.toml"
    config.write_text(text.replace("[service]\n", f'[service]\nstate_dir = "{box / "state"}"\n'))
    ran, code = _run(box, tmp_path, alsa, ["calibrate", "--config", str(config), *args, "--write"])
    assert code == 0, ran.stderr.decode(errors="replace")[-3000:]
    return ran, config


def _assert_wrote_only_the_config(ran: Ran, config: Path, played: Path) -> None:
    """Nothing but ``config`` written (through a temp file beside it renamed over it), not even a file removed
    before the walk; nothing sent anywhere; no output or file holds the audio of ``played``."""
    outputs = {"stdout": ran.stdout, "stderr": ran.stderr, **_files(ran.box)}
    assert str(config) in outputs
    assert_no_audio(outputs, played)
    assert not list((ran.box / "tmp").iterdir()), "a temporary file was left"

    seen = ran.seen()
    temps = {p for p in seen.written if Path(p).parent == config.parent and Path(p).name.startswith(".listener.toml.")}
    # the trace sees the write: the config checked writable, then a temp copy beside it renamed over it
    assert str(config) in seen.written and len(temps) == 1 and next(iter(temps)).endswith(".tmp"), seen.written
    beyond = _written_beyond(seen, {str(config), *temps})
    assert not beyond, f"calibrate wrote more than its config: {beyond}"
    data = ran.data()  # the temp copy's bytes, as written: the new config, nothing more
    assert data == {f"written to {next(iter(temps))}": config.read_bytes()}, sorted(data)
    assert_no_audio(ran.jack_data(), played)
    assert not seen.connected and not seen.listening, (seen.connected, seen.listening)
    assert not seen.local, f"local sockets reached: {sorted(seen.local)}"


def test_calibrate_live_writes_only_the_config_and_prints_no_audio(tmp_path: Path) -> None:
    """`calibrate --seconds 11 --write` live: the rep's directions land in the config, and nothing else leaves
    the process (:func:`_assert_wrote_only_the_config`)."""
    signal, played = _render(tmp_path, REP_ONLY, 12.0, seed=5)
    # the test PCM delivers far faster than real time: a ring holding the whole recording loses none of it
    text = DEBUG_TEXT.replace("block_ms = 100", 'device = "listener_test_array"\nbuffer_s = 20.0')
    ran, config = _calibrate(tmp_path, _array(tmp_path, signal), text, "--seconds", "11")
    out = ran.stdout.decode(errors="replace")
    # it did its job: heard the rep where they stood, and stored it
    found = printed(out)
    assert angle_error(found["rep"], REP_DEG) <= 10.0, out
    assert f"written to [parties] in {config}" in out, out
    assert load_config(config).parties.rep_azimuth_deg == found["rep"]
    _assert_wrote_only_the_config(ran, config, played)


def test_calibrate_from_a_recording_writes_only_the_config_and_prints_no_audio(tmp_path: Path) -> None:
    """`calibrate --input FILE.wav --write`: the recording (outside the box, read only) gives the directions
    stored in the config, and nothing else leaves the process: no decoded copy of it, no temp file."""
    _, played = _render(tmp_path, REP_ONLY, 12.0, seed=3)
    # an array listing nothing: a file's calibration opens no audio device
    ran, config = _calibrate(tmp_path, AlsaConfig(tmp_path / "alsa"), DEBUG_TEXT, "--input", str(played))
    out = ran.stdout.decode(errors="replace")
    found = printed(out)
    assert angle_error(found["rep"], REP_DEG) <= 10.0, out
    assert f"written to [parties] in {config}" in out, out
    parties = load_config(config).parties
    assert (parties.rep_azimuth_deg, parties.customer_azimuth_deg) == (found["rep"], found["customer"])
    _assert_wrote_only_the_config(ran, config, played)


def test_calibrate_lapel_mics_live_swaps_them_and_prints_no_audio(tmp_path: Path) -> None:
    """Channel-map mode (one lapel mic per party), live: the rep talking alone on the customer's channel, calibrate
    --write swaps rep_channel and customer_channel in the config, and nothing else leaves the process."""
    played = write_rep_alone(tmp_path, -12.0, swapped=True)  # 8.7 s, the rep's voice on channel 1
    signal = np.asarray(sf.read(played, dtype="int16")[0])
    text = (
        '[array]\npreset = "generic"\nchannels = 2\ndevice = "listener_test_array"\nbuffer_s = 20.0\n\n'
        '[parties]\nrep_channel = 0\ncustomer_channel = 1\n\n[service]\nlog_level = "debug"\n'
    )
    ran, config = _calibrate(tmp_path, _array(tmp_path, signal), text, "--seconds", "8")
    _assert_swapped(ran, config)
    _assert_wrote_only_the_config(ran, config, played)


def test_calibrate_lapel_mics_from_a_recording_swaps_them_and_prints_no_audio(tmp_path: Path) -> None:
    """Channel-map mode from a recording (--input, outside the box, read only): the rep talking alone on the
    customer's channel, calibrate --write swaps the two channels in the config, and nothing else leaves the
    process: no decoded copy of the recording, no temp file. At debug: every line its code logs is searched."""
    played = write_rep_alone(tmp_path, -12.0, swapped=True)  # 8.7 s, the rep's voice on channel 1
    text = (
        '[array]\npreset = "generic"\nchannels = 2\n\n'
        '[parties]\nrep_channel = 0\ncustomer_channel = 1\n\n[service]\nlog_level = "debug"\n'
    )
    # an array listing nothing: a file's calibration opens no audio device
    ran, config = _calibrate(tmp_path, AlsaConfig(tmp_path / "alsa"), text, "--input", str(played))
    _assert_swapped(ran, config)
    _assert_wrote_only_the_config(ran, config, played)


def _assert_swapped(ran: Ran, config: Path) -> None:
    """Calibrate did its job in channel-map mode: heard the rep on the customer's channel, swapped the two."""
    out = ran.stdout.decode(errors="replace")
    assert "the rep's voice is louder on channel 1, the customer's channel" in out, out
    assert f"swapped rep_channel and customer_channel in [parties] in {config}" in out, out
    parties = load_config(config).parties
    assert (parties.rep_channel, parties.customer_channel) == (1, 0)


@dataclass
class Doctored:
    ran: Ran
    messages: list[Received]  # what the broker took
    port: int  # the broker's
    state: Path  # the state folder, where the disk check probes
    heard: Path  # the second of speech doctor reads, as a WAV


def _doctor(tmp_path: Path, *args: str, lapels: bool = False) -> Doctored:
    """``doctor ARGS`` (exit code 0) from the array playing speech, probing a real mosquitto (MQTT 5: doctor then
    probes the discovery prefix too; on 3.1.1 it subscribes and reads its probe back). With ``lapels``, two lapel
    mics in channel-map mode instead (LAPELS). Logging at debug: doctor then holds back none of its log lines."""
    if lapels:  # the rep's voice from 0.4 s on, on channel 1 (rep_channel), 12 dB down on channel 0
        signal = np.asarray(sf.read(write_rep_alone(tmp_path, -12.0, swapped=True), dtype="int16")[0])
    else:  # the rep's first words from the start: the second doctor reads is speech, all of it searched for
        signal, _ = _render(tmp_path, [U("rep", 0.1, REP_ONLY[0].file, REP_DEG)], 2.0, seed=5)
    heard = tmp_path / "heard.wav"
    sf.write(heard, signal[: round(DOCTOR_READ_S * RATE_HZ)], RATE_HZ, subtype="PCM_16")
    box = tmp_path / "box"
    box.mkdir()
    state = box / "state"  # made by the sandbox (its XDG_STATE_HOME too), as systemd makes StateDirectory=
    with Mosquitto(tmp_path / "broker") as broker, Recorder(broker) as rec:
        mqtt = "\n".join(f"{k} = {json.dumps(v)}" for k, v in broker.mqtt_config(protocol="5").items())
        config = tmp_path / "listener.toml"
        array = LAPELS if lapels else '[array]\npreset = "respeaker-4mic"\ndevice = "listener_test_array"\n'
        config.write_text(f'{array}[service]\nstate_dir = "{state}"\nlog_level = "debug"\n[mqtt]\n{mqtt}\n')
        ran, code = _run(box, tmp_path, _array(tmp_path, signal), ["doctor", "--config", str(config), *args])
        messages = rec.wait_for(lambda ms: {m.topic for m in ms} >= set(PROBES), timeout_s=5.0)
    assert code == 0, f"{ran.stdout.decode(errors='replace')}\n{ran.stderr.decode(errors='replace')[-3000:]}"
    # at debug doctor holds back none of its log lines: the searched stderr has them (the array's among them)
    assert b"listener.audio.live: capturing" in ran.stderr, ran.stderr[-500:]
    return Doctored(ran, messages, broker.port, state, heard)


def _assert_doctor_private(run: Doctored) -> None:
    """What the broker took is the probe's fixed payload; the only file written the disk check's probe in the
    state folder (removed); the only address reached the broker's; no output, file or message holds audio."""
    assert sorted(m.topic for m in run.messages) == sorted(PROBES), [m.topic for m in run.messages]
    assert all(m.payload == PROBE_PAYLOAD for m in run.messages), [m.payload[:200] for m in run.messages]
    ran = run.ran
    outputs = {"stdout": ran.stdout, "stderr": ran.stderr, **_files(ran.box)}
    outputs |= {f"MQTT {m.topic}": m.payload for m in run.messages}
    assert_no_audio(outputs, run.heard)
    assert not list(run.state.iterdir()), "doctor left a file in the state folder"

    seen = ran.seen()
    probe = str(run.state / ".listener-doctor-")  # the disk check's probe: 64 KiB of zeros, synced, removed
    assert any(p.startswith(probe) for p in seen.written), sorted(seen.written)  # the trace sees doctor's writes
    beyond = _written_beyond(seen, set(), (probe,))
    assert not beyond, f"doctor wrote more than its disk probe: {beyond}"
    data = ran.data()  # the probe's bytes, removed before the walk: seen only in the trace
    assert [p for p in data if not p.startswith(f"written to {probe}")] == [] and data, sorted(data)
    assert_no_audio(data | ran.jack_data(), run.heard)
    # the broker, and paho's wake-up pair: a loopback socket of its own that takes its one caller
    broker = ("127.0.0.1", run.port)
    assert broker in seen.connected, "the trace saw no connection to the broker"
    loopback = {broker} | {(a, p) for a, p in seen.listening if a == "127.0.0.1"}
    assert not seen.connected - loopback, f"connections beyond the broker: {sorted(seen.connected - loopback)}"
    assert {a for a, _ in seen.listening} <= {"127.0.0.1"}, f"sockets opened to callers: {sorted(seen.listening)}"
    # the clock check's `timedatectl show -p NTPSynchronized` asks systemd over the system bus, where one runs
    assert seen.local <= SYSTEM_BUS, f"local sockets reached: {sorted(seen.local)}"


def test_doctor_publishes_only_its_probe_writes_only_its_disk_probe_and_prints_no_audio(tmp_path: Path) -> None:
    """`doctor` reads a second of the array playing speech and probes a real mosquitto: its output is the checks'
    lines, and nothing else leaves the process (:func:`_assert_doctor_private`)."""
    run = _doctor(tmp_path)
    lines = run.ran.stdout.decode(errors="replace").splitlines()
    # it did its job: only the checks' lines, the array heard (its levels measured) and the broker reached
    assert [line.split()[1] for line in lines] == DOCTOR_CHECKS, lines
    assert all(line.split()[0] in ("ok", "warn", "FAIL") for line in lines), lines
    by_name = {line.split()[1]: line for line in lines}
    # the RMS in whole dB and nothing more: fewer than RUN_MIN samples printed after them escape audio_as_text
    levels = by_name["levels"].removeprefix("ok    levels     ")
    assert LEVELS.fullmatch(levels), by_name["levels"]
    assert by_name["mqtt"].startswith(f"ok    mqtt       connected to 127.0.0.1:{run.port}"), by_name["mqtt"]
    _assert_doctor_private(run)


def test_doctor_json_is_the_checks_alone_and_holds_no_audio(tmp_path: Path) -> None:
    """`doctor --json`: one document, the device's MQTT id and its build, each check's name, status, detail and
    fix as strings and nothing more; of the audio only the levels line's whole-dB RMS per channel, as the lines
    print it."""
    run = _doctor(tmp_path, "--json")
    document = json.loads(run.ran.stdout)  # the whole of stdout: one document
    assert set(document) == {"schema", "device_id", "software", "build", "config", "checks"}, document
    assert PROBES[0] == f"listener/{document['device_id']}/doctor"  # the id it publishes under, already public
    assert (document["schema"], document["config"]) == ("listener.doctor/1", str(tmp_path / "listener.toml"))
    checks = document["checks"]
    assert [c["name"] for c in checks] == JSON_CHECKS, checks
    assert all(set(c) == {"name", "status", "detail", "fix"} for c in checks), checks
    assert all(isinstance(v, str) for c in checks for v in c.values()), checks
    assert all(c["status"] in ("ok", "warn", "fail") for c in checks), checks
    by_name = {c["name"]: c for c in checks}
    assert LEVELS.fullmatch(by_name["levels"]["detail"]) and by_name["levels"]["status"] == "ok", by_name["levels"]
    assert by_name["mqtt"]["detail"].startswith(f"connected to 127.0.0.1:{run.port}"), by_name["mqtt"]
    _assert_doctor_private(run)


def test_doctor_on_lapel_mics_measures_each_party_and_prints_no_audio(tmp_path: Path) -> None:
    """`doctor` in channel-map mode (two lapel mics, the rep's on the second input): its levels line is each
    party's mic in whole dB, the rep's first, and nothing else leaves the process (:func:`_assert_doctor_private`)."""
    run = _doctor(tmp_path, lapels=True)
    lines = run.ran.stdout.decode(errors="replace").splitlines()
    assert [line.split()[1] for line in lines] == DOCTOR_CHECKS, lines
    by_name = {line.split()[1]: line for line in lines}
    assert by_name["preset"].startswith("ok    preset     generic captures 2 channels"), by_name["preset"]
    assert by_name["directions"] == "ok    directions channel-map mode: each party by its own mic", by_name
    levels = LAPEL_LEVELS.fullmatch(by_name["levels"].removeprefix("ok    levels     "))
    assert levels, by_name["levels"]
    rep_dbfs, customer_dbfs = (int(level) for level in levels.groups())
    assert rep_dbfs >= customer_dbfs + 9, by_name["levels"]  # the rep's voice reaches the customer's 12 dB down
    assert by_name["mqtt"].startswith(f"ok    mqtt       connected to 127.0.0.1:{run.port}"), by_name["mqtt"]
    _assert_doctor_private(run)
