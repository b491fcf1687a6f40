"""Issue #2's promise, fuzzed through the real command (``listener.cli.main``, in-process): bad input ends with
exit code 2 and one ``listener: ...`` line on stderr, never a traceback or another exit code.

- ``check-config`` on mutations of the configs the documents show (README.md, docs/integrations/mqtt.md,
  firmware/listener.toml.in): characters inserted, deleted or replaced, lines doubled, one key's value
  replaced by an edge case (NaN, inf, huge numbers, wrong types, tables, arrays of the wrong length, text
  with control or right-to-left characters);
- ``analyze`` on WAV files whose header a recorder or a copy may have got wrong: odd codecs and bit depths,
  channel counts from 0 to 65535, sample rates from 0 to 4 GHz, chunk sizes that lie, files cut short.

Derandomized with a fixed number of examples, so a run is the same every time (each test about 1-3 s).
The examples these found are regression tests of their own (test_config_syntax.py, test_cli_bad_wav.py).
"""

from __future__ import annotations

import json
import re
import struct
import tomllib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from listener import cli
from listener.config import Config

ROOT = Path(__file__).resolve().parent.parent
FUZZ = settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def answers_as_promised(code: int, err: str) -> None:
    """Exit 0 (warnings allowed) or 2 with exactly one error line, which starts with 'listener: '."""
    assert code in (0, 2), err
    assert "Traceback" not in err, err
    if code == 2:
        errors = [line for line in err.splitlines() if not line.startswith("listener: warning at ")]
        assert len(errors) == 1 and errors[0].startswith("listener: "), err


# --- check-config on the documents' configs, mutated ---------------------------------------------------


def _documented_configs() -> list[str]:
    tables = {f.name for f in Config.__dataclass_fields__.values()}
    blocks = [
        block
        for doc in (ROOT / "README.md", ROOT / "docs" / "integrations" / "mqtt.md")
        for block in re.findall(r"```toml\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)
        if set(tomllib.loads(block)) <= tables  # not telegraf.conf's
    ]
    template = (ROOT / "firmware" / "listener.toml.in").read_text(encoding="utf-8")
    firmware = template.replace("@ARRAY_PRESET@", "respeaker-4mic").replace("@ASR_ENABLED@", "false")
    return [*blocks, firmware.replace("@ASR_MODEL_PATH@", "")]


CONFIGS = _documented_configs()
PIECES = [
    *('"', "'", "[", "]", "{", "}", "=", ",", ".", "\\", "\n", "#", " ", "\t", "\r", '"""', "[[", "]]", "-", "_"),
    *("\x00", "\u00a0", "\ufeff", "\u200b", "\u2028", "\u202e", "é", "“", "\U0001f600", "\\u", "\\ud800"),
    *("nan", "inf", "1e400", "0x", "true", "True", "yes", "16k", "1_000", "1979-05-27T07:32:00Z", ":", ";"),
    *("[array]", "[[array]]", "[mqtt.x]", "a.b = 1", "C:\\Users\\x"),
]
VALUES = [
    *("nan", "-nan", "inf", "-inf", "1e400", "-0.0", "0", "-1", "4294967296", "99999999999999999999999"),
    *("1e-320", "5e-324", "true", '""', '" "', '"\\u202e"', '"\\u0000"', '"x"', "[]", "[1]", "{}", "{a = 1}"),
    *("[[1, 2, 3]]", "[[0.1, 0, 0], [0.1, 0, 0]]", "[[0.1, 0, 0], [0, 0.1]]", "[[1.5, 0, 0], [0, 0, 0]]"),
    *("[[0, 0, 0], [0, 0, 0.5]]", "[0, 0, 0]", "[[nan, 0, 0], [0, 0.1, 0]]", "[0, 1, 2, 3, 4]", "[31, 0]"),
    *('"GPIO5"', '"BOARD1"', '"J8:40"', '"WPI31"', '"~nobody-here/x"', '"' + "x" * 300 + '"', "1979-05-27"),
]
ASSIGNMENT = re.compile(r"^(\s*[A-Za-z_]+\s*=\s*)(.*)$", re.M)


@st.composite
def mutated_configs(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(CONFIGS))
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["insert", "delete", "replace", "double", "value", "value"]))
        at = draw(st.integers(0, max(len(text) - 1, 0)))
        if kind == "insert":
            text = text[:at] + draw(st.sampled_from(PIECES)) + text[at:]
        elif kind == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 6)) :]
        elif kind == "replace":
            text = text[:at] + draw(st.sampled_from(PIECES)) + text[at + 1 :]
        elif kind == "double":  # a key or a table written twice
            lines = text.split("\n")
            line = draw(st.sampled_from(lines))
            lines.insert(draw(st.integers(0, len(lines))), line)
            text = "\n".join(lines)
        else:
            settings_at = list(ASSIGNMENT.finditer(text))
            if settings_at:
                found = draw(st.sampled_from(settings_at))
                value = draw(st.sampled_from(VALUES))
                text = text[: found.start()] + found.group(1) + value + text[found.end() :]
    return text


@FUZZ
@given(text=mutated_configs())
def test_check_config_on_mutated_documented_configs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    path = tmp_path / "listener.toml"
    path.write_bytes(text.encode("utf-8", errors="surrogatepass"))
    capsys.readouterr()
    code = cli.main(["check-config", str(path)])
    answers_as_promised(code, capsys.readouterr().err)


def test_the_documented_configs_are_found() -> None:
    # the README's two and the MQTT guide's, and the firmware's: a reader that found none would fuzz nothing
    assert len(CONFIGS) >= 4 and all(tomllib.loads(text) for text in CONFIGS)


# --- analyze on WAV headers a recorder or a copy got wrong ------------------------------------------------

PCM, FLOAT, EXTENSIBLE = 1, 3, 0xFFFE
SUBFORMAT_TAIL = bytes.fromhex("000000001000800000aa00389b71")  # KSDATAFORMAT_SUBTYPE_* after its first 2 bytes
CODECS = [(PCM, 8), (PCM, 16), (PCM, 24), (PCM, 32), (FLOAT, 32), (FLOAT, 64)]  # (format tag, bits)


def fmt_chunk(tag: int, channels: int, rate_hz: int, align: int, bits: int, subformat: int = PCM) -> bytes:
    """A fmt chunk's body; WAVE_FORMAT_EXTENSIBLE's (``tag``) carries the codec in ``subformat``."""
    body = struct.pack("<HHIIHH", tag, channels, rate_hz, rate_hz * align & 0xFFFFFFFF, align, bits)
    if tag == EXTENSIBLE:
        body += struct.pack("<HHIH", 22, bits, 0x33, subformat) + SUBFORMAT_TAIL
    return body


def riff(
    fmt: bytes, audio: bytes, *, fmt_size: int, data_size: int, after: bytes = b"", form: bytes = b"RIFF"
) -> bytes:
    body = b"WAVE" + b"fmt " + struct.pack("<I", fmt_size) + fmt + b"data" + struct.pack("<I", data_size) + audio
    return form + struct.pack("<I", len(body + after)) + body + after


@st.composite
def damaged_wavs(draw: st.DrawFn) -> bytes:
    """A 4-channel WAV (each codec and depth recorders write, plain or extensible), some header fields wrong."""

    def sometimes(valid: int, wrong: list[int], odds: int = 6) -> int:
        return draw(st.sampled_from(wrong)) if draw(st.integers(0, odds)) == 0 else valid

    codec, bits = draw(st.sampled_from(CODECS))
    tag = sometimes(draw(st.sampled_from([codec, EXTENSIBLE])), [0, 2, 6, 7, 0x11, 0x50, 0x55, 0xFFFF])
    subformat = sometimes(codec, [0, 2, 6, 7, 0x55])
    bits = sometimes(bits, [0, 1, 7, 12, 20, 48, 64, 65535])
    channels = sometimes(4, [0, 1, 2, 3, 255, 1024, 65535])
    rate_hz = sometimes(draw(st.sampled_from([16000, 22050, 44100, 48000])), [0, 8000, 96000, 2**31, 4 * 10**9])
    align = sometimes(channels * ((bits + 7) // 8) & 0xFFFF, [0, 1, 3, 65535])
    fmt = fmt_chunk(tag, channels, rate_hz, align, bits, subformat)
    frames = draw(st.sampled_from([0, 1, 160, 8000]))
    audio = np.random.default_rng(frames).integers(0, 256, frames * max(align, 1), dtype=np.uint8).tobytes()
    whole = riff(
        fmt,
        audio,
        fmt_size=sometimes(len(fmt), [0, 14, 15, 40, 0xFFFFFFFF]),
        data_size=sometimes(len(audio), [0, 1, len(audio) + 1, 0xFFFFFFFF, 0x80000000, 2 * len(audio) + 4000]),
        after=draw(
            st.sampled_from([b""] * 6 + [b"LIST\x04\x00\x00\x00abcd", b"data\x10\x00\x00\x00" + bytes(16), bytes(3000)])
        ),
        form=draw(st.sampled_from([b"RIFF"] * 10 + [b"RF64", b"RIFX"])),
    )
    if draw(st.integers(0, 6)) == 0:  # a RIFF size that lies
        whole = whole[:4] + struct.pack("<I", draw(st.sampled_from([0, 4, 0xFFFFFFFF]))) + whole[8:]
    return whole[: sometimes(len(whole), [12, 20, 36, 44, len(whole) - 1, len(whole) // 2], 12)]


@FUZZ
@given(data=damaged_wavs())
def test_analyze_on_damaged_wav_headers(tmp_path: Path, capsys: pytest.CaptureFixture[str], data: bytes) -> None:
    path = tmp_path / "recording.wav"
    path.write_bytes(data)
    capsys.readouterr()
    code = cli.main(["analyze", str(path)])
    answers_as_promised(code, capsys.readouterr().err)


@pytest.mark.parametrize(("codec", "bits"), CODECS)
@pytest.mark.parametrize("extensible", [False, True])
def test_the_undamaged_wavs_are_analysed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], codec: int, bits: int, extensible: bool
) -> None:
    """What the fuzzed files start from reads whole: the damage is what is tested, not the starting point."""
    align = 4 * bits // 8
    fmt = fmt_chunk(EXTENSIBLE if extensible else codec, 4, 16000, align, bits, codec)
    audio = np.random.default_rng(0).integers(0, 256, 16000 * align, dtype=np.uint8).tobytes()
    path = tmp_path / "recording.wav"
    path.write_bytes(riff(fmt, audio, fmt_size=len(fmt), data_size=len(audio)))
    assert cli.main(["analyze", str(path), "--json"]) == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["audio"] == {"seconds": 1.0, "channels": 4, "sample_rate": 16000}
