"""The payload examples in docs/integrations/mqtt.md are what the device sends for the bundled sample.

They had drifted (a metrics message added at each session's start, figures moved by later changes) with
nothing to notice it: a dashboard author copying a field's value from the guide got a stale one.
"""

from __future__ import annotations

import json
from pathlib import Path

from listener.service.runner import sample_conversation
from tests.mqtt_broker import Mosquitto, Recorder, kill_process_group, run_listener

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "integrations" / "mqtt.md"
# the clock, a random session id, the order of sending (a --fast run sends its backlog on connect), and
# what depends on the machine or on this test's own [mqtt] table
VARYING = {"ts", "seq", "session_id", "onset_ms", "start_ms", "end_ms", "software", "build", "paho", "config_hash"}
VARYING_INFO = {"spool_depth"}  # a --fast run has messages waiting when it connects
# The figures depend a little on the CPU (ONNX Runtime and the BLAS pick their kernels by instruction set): on
# an AVX-512 VNNI machine one 20 ms frame of the sample moved from silence to the rep, so seconds and shares
# agree to a few frames, not to the digit. Counts, flags, names and kinds still agree exactly.
SECONDS_TOLERANCE_S = 0.1
PER_MINUTE_TOLERANCE = 0.5  # a count per minute of a session whose length moves by a frame or two
FRACTION_TOLERANCE = 0.01


def guide_examples() -> list[dict[str, object]]:
    """Every JSON object in the guide's "Payload examples" code blocks, in order."""
    text = GUIDE.read_text(encoding="utf-8").split("### Payload examples", 1)[1].split("\n### ", 1)[0]
    decoder = json.JSONDecoder()
    found: list[dict[str, object]] = []
    for block in text.split("```json\n")[1:]:
        body, i = block.split("```", 1)[0], 0
        while body[i:].strip():
            i += len(body[i:]) - len(body[i:].lstrip())
            example, i = decoder.raw_decode(body, i)
            found.append(example)
    return found


def _steady(message: dict[str, object]) -> dict[str, object]:
    skip = VARYING | (VARYING_INFO if message["schema"] == "listener.mqtt.info/1" else set())
    return {key: value for key, value in message.items() if key not in skip}


def _tolerance(key: str) -> float:
    if key.endswith("_s"):
        return SECONDS_TOLERANCE_S
    return PER_MINUTE_TOLERANCE if key.endswith("_per_min") else FRACTION_TOLERANCE


def _alike(example: dict[str, object], message: dict[str, object]) -> bool:
    """The same message up to the model's CPU-dependent frames: floats within their tolerance, all else equal."""
    if example.keys() != message.keys():
        return False
    for key, want in example.items():
        got = message[key]
        if isinstance(want, float) and isinstance(got, int | float) and not isinstance(got, bool):
            if abs(got - want) > _tolerance(key):
                return False
        elif got != want:
            return False
    return True


def test_alike_tells_a_moved_frame_from_a_different_message() -> None:
    example: dict[str, object] = {"schema": "s", "rep_talk_s": 3.88, "rep_share": 0.4311, "interruptions_by_rep": 0}
    assert _alike(example, {**example, "rep_talk_s": 3.9, "rep_share": 0.4324})
    assert not _alike(example, {**example, "rep_talk_s": 4.2})
    assert not _alike(example, {**example, "rep_share": 0.46})
    assert not _alike(example, {**example, "interruptions_by_rep": 1})
    assert not _alike(example, {**example, "extra": 1})


def test_the_guides_payload_examples_are_sent_for_the_sample(tmp_path: Path) -> None:
    examples = guide_examples()
    assert {e["schema"] for e in examples} == {
        f"listener.mqtt.{leaf}/1" for leaf in ("status", "info", "state", "event", "metrics", "session")
    }
    with Mosquitto(tmp_path / "broker") as broker, Recorder(broker) as recorder:
        # as the guide says it was made: the sample, dominance_min_speech_s = 10, everything else default
        lines = ["[leds]", "enabled = false", 'button_pin = ""', "[analytics]", "dominance_min_speech_s = 10"]
        lines += ["[service]", f'state_dir = "{tmp_path / "state"}"', "[mqtt]"]
        lines += [f"{key} = {json.dumps(value)}" for key, value in broker.mqtt_config().items()]
        config = tmp_path / "listener.toml"
        config.write_text("\n".join(lines) + "\n")
        proc = run_listener(config, sample_conversation(), "--fast")
        try:
            _, err = proc.communicate(timeout=180)
        finally:
            kill_process_group(proc)
        assert proc.returncode == 0, err.decode()[-2000:]
        sent = recorder.wait_for(lambda got: any(m.topic.endswith("/session") for m in got))
    received = [_steady(m.json()) for m in sent if not m.topic.startswith("homeassistant/")]
    for example in examples:
        alike = [m for m in received if m["schema"] == example["schema"]]
        assert any(_alike(_steady(example), m) for m in received), (example, alike)
