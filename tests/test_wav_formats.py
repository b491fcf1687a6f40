"""WAV sample formats: those read are read as the 16-bit file of the same audio is, scaled to [-1, 1]; each one
refused is named, with the command that converts it (or, where none does, what to export instead).

The refusals gave libsndfile's words ("Unspecified internal error" for a 16-bit float WAV, "Invalid number of
channels" for 4-channel ADPCM, "Malformed 'fmt ' chunk" for G.722) and said to "re-export it as PCM or float
WAV", which a float WAV already is.
"""

from __future__ import annotations

import io
import shlex
import shutil
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import soundfile as sf

from listener import cli
from listener.audio.wav import WavSource
from listener.config import ArrayGeometry, Config, geometry, load_config
from listener.events import AudioBlock
from tests.cli_run import SAMPLE

RATE_HZ = 16000
TWO_MICS = "[array]\npreset = 'respeaker-2mic'\n"


@pytest.fixture(scope="module")
def speech() -> npt.NDArray[np.int16]:
    """4 s of the bundled conversation, as its int16 samples (4 channels)."""
    samples, rate_hz = sf.read(SAMPLE, dtype="int16", frames=4 * RATE_HZ, always_2d=True)
    assert rate_hz == RATE_HZ
    return samples


def _read(path: Path, geo: ArrayGeometry) -> npt.NDArray[np.float32]:
    with WavSource(path, geo, block_ms=1000) as source:
        return np.concatenate([e.samples for e in source.events() if isinstance(e, AudioBlock)])


def _as_written(tmp_path: Path, samples: npt.NDArray[np.int16], container: str, subtype: str) -> Path:
    path = tmp_path / f"{container}-{subtype}.wav"
    sf.write(path, samples / 32768.0, RATE_HZ, format=container, subtype=subtype)
    return path


def _snr_db(got: npt.NDArray[np.float32], want: npt.NDArray[np.float32]) -> float:
    error = got[: len(want)] - want  # ADPCM pads its last block
    return float(20.0 * np.log10(np.sqrt(np.mean(want**2)) / np.sqrt(np.mean(error**2))))


@pytest.mark.parametrize("container", ["WAV", "WAVEX"])
@pytest.mark.parametrize("subtype", ["PCM_24", "PCM_32", "FLOAT", "DOUBLE", "PCM_U8", "ALAW", "ULAW"])
def test_each_format_read_is_read_as_its_16_bit_twin(
    tmp_path: Path, speech: npt.NDArray[np.int16], container: str, subtype: str
) -> None:
    """Wider samples to the bit; 8-bit to its step (1/128); A-law and mu-law as companding keeps them (37 dB)."""
    geo = geometry(Config())
    want = _read(_as_written(tmp_path, speech, "WAV", "PCM_16"), geo)
    got = _read(_as_written(tmp_path, speech, container, subtype), geo)
    assert got.shape == want.shape and np.abs(got).max() <= 1.0
    if subtype == "PCM_U8":
        assert np.abs(got - want).max() <= 1.0 / 128.0
    elif subtype in ("ALAW", "ULAW"):
        assert _snr_db(got, want) > 35.0
    else:
        assert np.array_equal(got, want)


@pytest.mark.parametrize(("subtype", "snr_db"), [("IMA_ADPCM", 25.0), ("MS_ADPCM", 18.0)])
def test_two_channel_adpcm_is_read_as_its_16_bit_twin(
    tmp_path: Path, speech: npt.NDArray[np.int16], subtype: str, snr_db: float
) -> None:
    """libsndfile decodes ADPCM in one or two channels: a 2-mic board's recording (28 and 20.5 dB measured)."""
    (tmp_path / "two.toml").write_text(TWO_MICS)
    geo = geometry(load_config(tmp_path / "two.toml"))
    want = _read(_as_written(tmp_path, speech[:, :2], "WAV", "PCM_16"), geo)
    got = _read(_as_written(tmp_path, speech[:, :2], "WAV", subtype), geo)
    assert np.abs(got).max() <= 1.0 and _snr_db(got, want) > snr_db


def _wav(tag: int, bits: int, *, channels: int = 4, block: int = 0, extra: bytes = b"") -> bytes:
    """A WAV of format ``tag`` holding 64 blocks of zero bytes; ``extra`` ends the fmt chunk (its cbSize first)."""
    block = block or channels * max(1, bits // 8)
    fmt = struct.pack("<HHIIHH", tag, channels, RATE_HZ, RATE_HZ * block, block, bits) + extra
    data = bytes(64 * block)
    chunks = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(chunks)) + chunks


def _extensible(guid: bytes, bits: int) -> bytes:
    extra = struct.pack("<HHI", 22, bits, 0) + guid
    return _wav(0xFFFE, bits, extra=extra)


PCM_GUID_TAIL = bytes.fromhex("000000001000800000aa00389b71")
EXPORT_AGAIN = "export it again from the program that made it as 32-bit float or 16-bit PCM WAV"
CONVERT = "ffmpeg -i {path} -c:a pcm_s16le out.wav"
SOX = "sox {path} -e signed-integer -b 16 out.wav"


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (_wav(3, 16), f"holds 16-bit float audio, which neither the listener nor sox or ffmpeg read: {EXPORT_AGAIN}"),
        (_wav(3, 24), f"holds 24-bit float audio, which neither the listener nor sox or ffmpeg read: {EXPORT_AGAIN}"),
        (
            _extensible(struct.pack("<H", 3) + PCM_GUID_TAIL, 16),
            f"holds 16-bit float audio, which neither the listener nor sox or ffmpeg read: {EXPORT_AGAIN}",
        ),
        (
            _wav(1, 64),
            f"holds 64-bit integer PCM audio, which the listener does not decode: convert it with `{CONVERT}`",
        ),
        (
            _wav(0x11, 4, block=2048, extra=struct.pack("<HH", 2, 1017)),
            f"holds 4 channels of IMA ADPCM audio; the listener decodes it in one or two only: convert it with `{SOX}`",
        ),
        (
            _wav(0x028F, 4, channels=1, block=1),
            f"holds G.722 audio, which the listener does not decode: convert it with `{CONVERT}`",
        ),
        (
            _wav(0x1234, 16),
            f"holds WAV format 0x1234 audio, which the listener does not know: convert it with `{CONVERT}` if ffmpeg"
            " reads it, else export it again as 16-bit PCM WAV",
        ),
        (
            _extensible(bytes(16), 16),
            "holds audio of a kind its WAV header names by a GUID the listener does not know: convert it with"
            f" `{CONVERT}` if ffmpeg reads it, else export it again as 16-bit PCM WAV",
        ),
    ],
    ids=["float16", "float24", "extensible-float16", "int64", "ima-adpcm-4ch", "g722", "tag-0x1234", "unknown-guid"],
)
def test_a_format_the_listener_cannot_read_is_named_with_its_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, said: str
) -> None:
    path = tmp_path / "take 1.wav"  # a space: the command quotes it
    path.write_bytes(content)
    assert cli.main(["analyze", str(path)]) == 2
    quoted = shlex.quote(str(path))
    assert capsys.readouterr().err == f"listener: {path} {said.format(path=quoted)}\n"


def test_the_command_given_for_4_channel_adpcm_converts_it(
    tmp_path: Path, speech: npt.NDArray[np.int16], capsys: pytest.CaptureFixture[str]
) -> None:
    """sox writes 4-channel IMA ADPCM, which libsndfile refuses; the command the refusal gives reads it back."""
    if shutil.which("sox") is None:
        pytest.skip("needs sox (scripts/setup --dev installs it)")
    pcm = _as_written(tmp_path, speech, "WAV", "PCM_16")
    adpcm = tmp_path / "adpcm.wav"
    subprocess.run(["sox", str(pcm), "-e", "ima-adpcm", str(adpcm)], check=True)
    assert cli.main(["analyze", str(adpcm)]) == 2
    command = capsys.readouterr().err.split("`")[1]
    assert command == f"sox {adpcm} -e signed-integer -b 16 out.wav"
    subprocess.run(shlex.split(command), check=True, cwd=tmp_path)
    geo = geometry(Config())
    assert _snr_db(_read(tmp_path / "out.wav", geo), _read(pcm, geo)) > 25.0


@pytest.mark.parametrize(
    ("content", "gives"),
    [
        (_wav(3, 0), "0-bit float samples"),
        (_wav(1, 96), "96-bit integer samples"),
        (_wav(0x11, 4, channels=60000), "60000 channels"),
    ],
    ids=["float-0-bits", "pcm-96-bits", "adpcm-60000-channels"],
)
def test_a_header_no_writer_writes_is_called_damaged_not_a_format_to_convert(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, gives: str
) -> None:
    path = tmp_path / "take.wav"
    path.write_bytes(content)
    assert cli.main(["analyze", str(path)]) == 2
    assert capsys.readouterr().err == (
        f"listener: {path} has a damaged header: it gives {gives}, which no recording has; copy it again, or export"
        " it again from the program that recorded it\n"
    )


def _chunk(chunk_id: bytes, body: bytes) -> bytes:
    return chunk_id + struct.pack("<I", len(body)) + body + bytes(len(body) & 1)


def _fmt_after_data(samples: npt.NDArray[np.int16]) -> bytes:
    """A 16-bit PCM WAV whose fmt chunk follows its data chunk (as some stream writers leave it)."""
    channels = samples.shape[1]
    fmt = struct.pack("<HHIIHH", 1, channels, RATE_HZ, RATE_HZ * 2 * channels, 2 * channels, 16)
    chunks = b"WAVE" + _chunk(b"data", samples.astype("<i2").tobytes()) + _chunk(b"fmt ", fmt)
    return b"RIFF" + struct.pack("<I", len(chunks)) + chunks


def _bw64(samples: npt.NDArray[np.int16]) -> bytes:
    """A BW64 file (ITU-R BS.2088): RF64's layout under another name."""
    rf64 = io.BytesIO()
    sf.write(rf64, samples, RATE_HZ, format="RF64", subtype="PCM_16")
    return b"BW64" + rf64.getvalue()[4:]


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (
            _fmt_after_data,
            "gives the format of its samples (its fmt chunk) after the audio, where the listener does not",
        ),
        (_bw64, "is a BW64 (broadcast 64-bit WAV) file, not a WAV"),
    ],
    ids=["fmt-after-data", "bw64"],
)
def test_a_wav_layout_libsndfile_refuses_is_named_and_the_command_given_converts_it(
    tmp_path: Path,
    speech: npt.NDArray[np.int16],
    capsys: pytest.CaptureFixture[str],
    make: Callable[[npt.NDArray[np.int16]], bytes],
    said: str,
) -> None:
    """Both were refused in libsndfile's or no words: "No 'data' chunk marker" of a file that has one, with
    "re-export it as PCM" for PCM; a BW64 "not a WAV file: convert it to WAV". ffmpeg reads both as they are."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("needs ffmpeg")
    path = tmp_path / "take 1.wav"
    path.write_bytes(make(speech))
    assert cli.main(["analyze", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and said in err, err
    command = err.split("`")[1]
    assert command == f"ffmpeg -i {shlex.quote(str(path))} -c:a pcm_s16le out.wav"
    subprocess.run(shlex.split(command), check=True, cwd=tmp_path, capture_output=True)
    geo = geometry(Config())
    assert np.array_equal(_read(tmp_path / "out.wav", geo), _read(_as_written(tmp_path, speech, "WAV", "PCM_16"), geo))
