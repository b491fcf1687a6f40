"""A WAV file's RIFF chunks, checked before libsndfile opens it (used by :mod:`listener.audio.wav`).

libsndfile reads what a header says: a file cut short, a data size left as a streaming writer's placeholder, or
audio past the end its header gives would be read short or wrong without a word. Each is refused here with the
command that repairs it.
"""

from __future__ import annotations

import shlex
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from listener.audio.sniff import not_wav_message, wav_header_message
from listener.audio.wav_formats import FFMPEG, WavFormat, read_format
from listener.errors import AudioFormatError, AudioInputError, os_reason_and_fix

# A data size this large that runs past the file is a placeholder, not a truncation: a recorder that
# writes to a pipe, or is killed before it goes back to fill in the size, leaves 0xFFFFFFFF, or
# arecord's 0x80000000 (older builds 0x7FFFFF00); 2 GiB would be 4.6 hours of 4-channel 16 kHz audio
UNKNOWN_DATA_SIZE_FROM_BYTES = 0x7FFF0000
UNACCOUNTED_BYTES_MAX = 1024  # more after the data chunk than a stray pad or footer: audio the header left out


def check_riff(path: Path, shown: str) -> tuple[int, WavFormat | None]:
    """Reject files that are not WAV, whose data chunk holds nothing or was cut short, or whose audio runs past
    its header's size; returns where the data ends (0: at the end of the file) and the fmt chunk (None: none
    before the data), which names the format when libsndfile then refuses the file."""
    try:
        with path.open("rb") as fh:
            head = fh.read(12)
            if not head:  # not "convert it": there is nothing to convert
                raise AudioFormatError(f"{shown} is empty (0 bytes): record or copy it again")
            if len(head) < 12 or head[:4] not in (b"RIFF", b"RF64") or head[8:12] != b"WAVE":
                raise AudioFormatError(not_wav_message(shown, head))
            fmt = read_format(fh)
            refused = wav_header_message(fmt, shown)
            if refused is not None:
                raise AudioFormatError(refused)
            fh.seek(12)
            file_size_bytes = path.stat().st_size
            chunk = _data_chunk(fh, head[:4] == b"RF64", file_size_bytes)
            unaccounted_bytes = _unaccounted_bytes(fh, chunk[1], file_size_bytes) if chunk and chunk[1] else 0
            fmt_late = fmt is None and chunk is not None and chunk[1] > 0 and _fmt_after(fh, chunk[1], file_size_bytes)
    except OSError as exc:
        raise AudioInputError(f"{shown} cannot be read {os_reason_and_fix(exc, 'check its permissions')}") from None
    data_end_bytes = _check_data_size(shown, chunk, file_size_bytes, unaccounted_bytes)
    if fmt_late:  # libsndfile calls it "No 'data' chunk marker", and the file holds PCM already
        raise AudioFormatError(
            f"{shown} gives the format of its samples (its fmt chunk) after the audio, where the listener does not"
            f" look: convert it with `{FFMPEG.format(path=shlex.quote(shown))}`"
        )
    return data_end_bytes, fmt


def _check_data_size(shown: str, chunk: tuple[int, int] | None, file_size_bytes: int, unaccounted_bytes: int) -> int:
    """Reject a data chunk that is missing, promises more than the file has, or is followed by unheaded audio;
    ``chunk`` is where its audio starts and ends, ``file_size_bytes`` the file's; returns where the data ends."""
    if chunk is None:
        raise AudioFormatError(f"{shown} is truncated: its WAV header has no data chunk; record or copy it again")
    start, declared = chunk
    # a repaired header would hold 0 samples: there is nothing to repair
    if declared > file_size_bytes and start >= file_size_bytes:
        raise AudioFormatError(
            f"{shown} holds no audio (its header promises {declared - start} bytes, none were written): record it again"
        )
    if declared > file_size_bytes:
        raise AudioFormatError(
            f"{shown} is truncated: the header promises {declared} bytes, the file has {file_size_bytes}; "
            "if it is still being recorded, wait until it ends; else copy it again or repair the header (e.g. "
            "`sox --ignore-length in.wav out.wav`)"
        )
    if (
        unaccounted_bytes > UNACCOUNTED_BYTES_MAX
        and declared - start == STREAMED_SIZE
        and file_size_bytes > STREAMED_SIZE
    ):
        # a stream written with its length unknown, past what a RIFF size can say: sox --ignore-length wraps it
        raise AudioFormatError(
            f"{shown} holds more than a WAV file can (4 GiB; it was written as a stream, its length unknown): "
            "convert it to RF64, which has no such limit, e.g. `ffmpeg -i in.wav -c copy -rf64 auto out.wav`"
        )
    if unaccounted_bytes > UNACCOUNTED_BYTES_MAX:  # read as the header says, the rest would be left out unsaid
        raise AudioFormatError(
            f"{shown}: its WAV header ends the audio at byte {declared}, but {unaccounted_bytes} more bytes follow "
            "(a recording copied while it was made, or not closed properly): "
            "repair the header, e.g. `sox --ignore-length in.wav out.wav`"
        )
    return declared


# chunks recorders and editors write after the audio; only these may be cut short without a word, since four
# bytes of audio left out by a stale header pass for some other printable chunk name 2 % of the time
METADATA_CHUNKS = frozenset(
    {b"LIST", b"id3 ", b"ID3 ", b"JUNK", b"junk", b"bext", b"iXML", b"cue ", b"smpl", b"inst", b"_PMX", b"acid"}
)


def _chunks_after(fh: BinaryIO, data_end_bytes: int, file_size_bytes: int) -> Iterator[tuple[int, bytes, int]]:
    """The chunks whose header the file holds after the data chunk (which ends at ``data_end_bytes``): where
    each starts, its id and its size as written (which may run past the file's end)."""
    at = data_end_bytes + (data_end_bytes & 1)
    while at + 8 <= file_size_bytes:
        fh.seek(at)
        header = fh.read(8)
        size = struct.unpack("<I", header[4:])[0]
        yield at, header[:4], size
        at += 8 + size + (size & 1)


def _unaccounted_bytes(fh: BinaryIO, data_end_bytes: int, file_size_bytes: int) -> int:
    """Bytes after the data chunk that no chunk holds (a LIST or id3 chunk after the audio is fine)."""
    end = data_end_bytes + (data_end_bytes & 1)  # past the last whole chunk walked
    for at, chunk_id, size in _chunks_after(fh, data_end_bytes, file_size_bytes):
        past = at + 8 + size > file_size_bytes
        if chunk_id in METADATA_CHUNKS and past:
            return 0  # metadata cut short (a copy stopped late): the audio before it is whole
        if past or not (chunk_id.isascii() and chunk_id.decode("ascii").isprintable()):
            return file_size_bytes - at
        end = at + 8 + size + (size & 1)
    return max(0, file_size_bytes - end)


def _fmt_after(fh: BinaryIO, data_end_bytes: int, file_size_bytes: int) -> bool:
    """Whether a fmt chunk follows the data chunk, which ends at ``data_end_bytes``."""
    return any(chunk_id == b"fmt " for _, chunk_id, _ in _chunks_after(fh, data_end_bytes, file_size_bytes))


STREAMED_SIZE = 0xFFFFFFFF  # the data size a streaming writer puts in a RIFF header it cannot go back to


def _data_chunk(fh: BinaryIO, rf64: bool, file_size_bytes: int) -> tuple[int, int] | None:
    """Where the data chunk's audio starts and ends; the end is 0 when its length is unknown (the data runs to
    the end of the file)."""
    ds64_data_size: int | None = None
    while True:
        header = fh.read(8)
        if len(header) < 8:
            return None
        chunk_id, size = header[:4], struct.unpack("<I", header[4:])[0]
        if rf64 and chunk_id == b"ds64" and size >= 16:
            body = fh.read(16)  # RIFF size, then data size, both 64-bit
            if len(body) < 16:
                return None
            ds64_data_size = struct.unpack("<QQ", body)[1]
            fh.seek(size - 16 + (size & 1), 1)
            continue
        if chunk_id == b"data":
            start = fh.tell()
            if size == STREAMED_SIZE and ds64_data_size is not None:
                size = ds64_data_size
            elif size >= UNKNOWN_DATA_SIZE_FROM_BYTES and start + size > file_size_bytes:
                return start, 0  # a streaming writer's "unknown length": the data runs to the end of the file
            return start, start + int(size)
        fh.seek(size + (size & 1), 1)
