"""Bad input, fuzzed with hypothesis: only the documented errors, never a crash or a hang.

- the config loader: random TOML-ish tables (real section and key names mixed with junk) and
  random text: ConfigError / ConfigFileError only;
- the WAV reader: random bytes and mutated real WAV files, read to the end: AudioInputError /
  AudioFormatError only;
- the one inbound MQTT topic (``homeassistant/status``): random payloads and topics through the
  real paho callback of an opened MQTT stage talking to a real mosquitto;
- the analytics (timeline + conversation analytics) on random activity, with gaps, jumps, random
  likelihoods, questions, pauses and model outputs: no exception, and a deadline per example.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import paho.mqtt.client as paho
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from listener.analytics.stage import ConversationAnalytics
from listener.analytics.timeline import Timeline
from listener.audio.wav import WavSource
from listener.config import PROCESSING_RATE_HZ, Config, geometry, load_config, parse_config
from listener.config import schema as config_schema
from listener.errors import AudioFormatError, AudioInputError, ConfigError, ConfigFileError, ConfigSyntaxError
from listener.events import ActivityFrames, AudioBlock, EndOfStream, Event, Party, Question, TurnPredictions
from listener.outputs.mqtt import MqttStage
from listener.outputs.mqtt.discovery import HA_STATUS_TOPIC
from listener.pipeline import EventLog, Pipeline
from tests.mqtt_broker import Mosquitto

FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)


# --- the config loader ------------------------------------------------------------


def _schema_names() -> tuple[list[str], list[str]]:
    sections = [f.name for f in dataclasses.fields(Config)]
    keys = sorted({f.name for s in sections for f in dataclasses.fields(getattr(config_schema, _cls(s)))})
    return sections, keys


def _cls(section: str) -> str:
    return type(getattr(Config(), section)).__name__


SECTIONS, KEYS = _schema_names()
names = st.one_of(st.sampled_from(KEYS), st.sampled_from(SECTIONS), st.text(max_size=8))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["respeaker-4mic", "doa", "channels", "en", "mock", "auto", "traffic-light", ""]),
)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(names, inner, max_size=4), max_leaves=12
)
tables = st.dictionaries(
    st.sampled_from(SECTIONS) | st.text(max_size=6), st.dictionaries(names, values, max_size=5), max_size=4
)


@FUZZ
@given(tables)
def test_config_tables_fail_only_with_config_errors(data: dict[str, object]) -> None:
    try:
        config = parse_config(data)
    except ConfigError:
        return
    # accepted is usable: the array it describes resolves, as the service resolves it at start
    assert isinstance(config, Config)
    assert geometry(config).n_mics >= 2


toml_text = st.one_of(
    st.text(max_size=200),
    st.lists(
        st.tuples(
            st.sampled_from(SECTIONS),
            st.sampled_from(KEYS),
            st.sampled_from(
                ["1", "-3", "1e9", "nan", "inf", '"x"', "true", "[1, 2]", "[]", "{a = 1}", "0x10", '"""', "1979-05-27"]
            ),
        ),
        max_size=6,
    ).map(lambda rows: "".join(f"[{s}]\n{k} = {v}\n" for s, k, v in rows)),
)


@FUZZ
@given(text=toml_text)
def test_config_files_fail_only_with_config_errors(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fuzz.toml"
    path.write_bytes(text.encode("utf-8", errors="surrogatepass"))
    try:
        config = load_config(path)
    except (ConfigError, ConfigFileError, ConfigSyntaxError):
        return
    assert isinstance(config, Config)
    assert geometry(config).n_mics >= 2


def test_binary_config_file_is_a_config_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / "binary.toml"
    path.write_bytes(b"\xff\xfe\x00[array]\n")
    with pytest.raises(ConfigSyntaxError, match="cannot be read"):
        load_config(path)


# --- the WAV reader -----------------------------------------------------------------

GEOMETRY = geometry(Config())


def _real_wav() -> bytes:
    buffer = io.BytesIO()
    samples = np.random.default_rng(0).normal(0, 0.1, (1600, 4)).astype(np.float32)
    sf.write(buffer, samples, 16000, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


REAL_WAV = _real_wav()


def _read_all(path: Path) -> list[Event]:
    source = WavSource(path, GEOMETRY, block_ms=50)
    with source:
        return list(source.events())


@st.composite
def mutated_wavs(draw: st.DrawFn) -> bytes:
    data = bytearray(REAL_WAV)
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, 63))  # the RIFF, fmt and data headers
        data[at] = draw(st.integers(0, 255))
    cut = draw(st.one_of(st.none(), st.integers(0, len(data))))
    return bytes(data[:cut] if cut is not None else data)


@FUZZ
@given(
    data=st.one_of(st.binary(max_size=300), st.binary(max_size=64).map(lambda b: b"RIFF" + b + b"WAVE"), mutated_wavs())
)
def test_wav_reader_fails_only_with_audio_errors(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz.wav"
    path.write_bytes(data)
    try:
        events = _read_all(path)
    except (AudioInputError, AudioFormatError):
        return
    # what a damaged file lets through is still what AudioBlock promises the front end: the array's channels at
    # the processing rate, finite samples in [-1, 1], each block starting where the one before ended
    at_s = 0.0
    for event in events:
        assert isinstance(event, AudioBlock)
        assert event.samples.shape[1] == GEOMETRY.n_mics and event.sample_rate_hz == PROCESSING_RATE_HZ
        assert np.isfinite(event.samples).all() and np.abs(event.samples).max(initial=0.0) <= 1.0
        assert event.start_s == pytest.approx(at_s)
        at_s += event.duration_s


def test_the_unmutated_wav_reads(tmp_path: Path) -> None:
    path = tmp_path / "real.wav"
    path.write_bytes(REAL_WAV)
    assert len(_read_all(path)) == 2


# --- the inbound MQTT topic -----------------------------------------------------------


@pytest.fixture(scope="module")
def mqtt_stage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MqttStage]:
    folder = tmp_path_factory.mktemp("fuzz-mqtt")
    with Mosquitto(folder / "broker") as broker:
        config = parse_config({"mqtt": broker.mqtt_config(), "service": {"state_dir": str(folder / "state")}})
        stage = MqttStage(config)
        with stage:
            yield stage


@FUZZ
@given(
    topic=st.one_of(st.just(HA_STATUS_TOPIC), st.text(max_size=30)),
    payload=st.one_of(st.binary(max_size=64), st.sampled_from([b"online", b"offline", b"", b"ONLINE", b"online\x00"])),
)
def test_inbound_mqtt_messages_never_raise(mqtt_stage: MqttStage, topic: str, payload: bytes) -> None:
    link = mqtt_stage._link
    assert link is not None
    assert link.wait_connected(10.0)  # the fixture connects asynchronously; flush() is False until then
    assert mqtt_stage.publisher.flush(5.0)  # nothing due before: whatever is due after, this message made due
    message = paho.MQTTMessage(topic=topic.encode("utf-8", errors="replace"))
    message.payload = payload
    ha_online = topic == HA_STATUS_TOPIC and payload == b"online"
    # held, the drain thread cannot send what became due before it is looked at (its lock is re-entrant)
    with mqtt_stage.publisher._cond:
        link._handle_message(link._client, None, message)  # type: ignore[arg-type]  # paho's own callback signature and message type
        # Home Assistant's exact "online" on its status topic has discovery sent again; anything else changes nothing
        assert mqtt_stage.publisher.idle() is not ha_online
    assert mqtt_stage.publisher.flush(5.0) and link.connected


def test_homeassistant_online_republishes_discovery(mqtt_stage: MqttStage) -> None:
    link = mqtt_stage._link
    assert link is not None
    assert link.wait_connected(10.0)  # the fixture connects asynchronously; flush() is False until then
    assert mqtt_stage.publisher.flush(5.0)
    message = paho.MQTTMessage(topic=HA_STATUS_TOPIC.encode())
    message.payload = b"online"
    with mqtt_stage.publisher._cond:  # the drain thread cannot send it before it is looked at
        link._handle_message(link._client, None, message)  # type: ignore[arg-type]
        assert not mqtt_stage.publisher.idle()  # the discovery topic is due again
    assert mqtt_stage.publisher.flush(5.0)


# --- the analytics on random timelines ----------------------------------------------------

HOP_S = 0.01


@st.composite
def random_timelines(draw: st.DrawFn) -> list[Event]:
    """ActivityFrames of random sizes with forward jumps, random likelihoods, and cues in between."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    events: list[Event] = []
    t = draw(st.floats(0.0, 5.0))
    for _ in range(draw(st.integers(1, 15))):
        n = draw(st.integers(1, 150))
        p_talk = draw(st.sampled_from([0.0, 0.05, 0.5, 0.95, 1.0]))
        rep, cust = rng.random(n) < p_talk, rng.random(n) < draw(st.sampled_from([0.0, 0.3, 0.9]))
        probs = rng.random((2, n), dtype=np.float32)
        doa = np.where(rng.random(n) < 0.5, np.nan, rng.uniform(-180, 180, n))
        events.append(ActivityFrames(t, HOP_S, rep, cust, probs[0], probs[1], doa))
        if draw(st.booleans()):
            events.append(TurnPredictions(t, HOP_S, rng.random(n, dtype=np.float32), rng.random(n, dtype=np.float32)))
        end = t + n * HOP_S
        cue = draw(st.sampled_from(["none", "none", "question"]))
        by = draw(st.sampled_from(list(Party)))
        onset = max(0.0, end - draw(st.floats(0.0, 20.0)))
        if cue == "question":
            events.append(Question(by, onset, min(end, onset + 1.0), end, draw(st.booleans()), draw(st.booleans())))
        t = end + draw(st.sampled_from([0.0, 0.0, 0.0, 0.5, 40.0]))  # jumps: dropped audio, an outage
    events.append(EndOfStream(t))
    return events


SHORT = dataclasses.replace(
    Config(),
    analytics=dataclasses.replace(
        Config().analytics,
        session_gap_s=5.0,
        session_min_speech_s=1.0,
        rolling_window_s=20.0,
        dominance_min_speech_s=10.0,
    ),
)


# a deadline far above the ~0.1-1 s an example takes here (2 shared cores): it catches hangs, not load
@settings(max_examples=30, deadline=10000, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(events=random_timelines(), config=st.sampled_from([Config(), SHORT]))
def test_analytics_on_random_timelines_never_crash_or_hang(events: list[Event], config: Config) -> None:
    log = EventLog()
    with Pipeline([Timeline(config), ConversationAnalytics(config), log]) as pipeline:
        for event in events:
            pipeline.feed(event)
    out = log.events
    assert isinstance(out[-1], EndOfStream) or any(isinstance(e, EndOfStream) for e in out)
