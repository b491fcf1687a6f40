"""What a WAV's fmt chunk says its samples are: named in the refusal of one libsndfile cannot decode, with the
command that converts it (used by :mod:`listener.audio.wav`, :mod:`listener.audio.riff` and
:mod:`listener.audio.sniff`).

libsndfile reads 8- to 32-bit PCM, 32- and 64-bit float, A-law and µ-law in any number of channels, and IMA
and Microsoft ADPCM in one or two. For anything else it gave its own words ("Unspecified internal error" for a
16-bit float WAV, "Invalid number of channels" for a 4-channel ADPCM one, "Malformed 'fmt ' chunk" for G.722),
and the fix said to re-export it "as PCM or float WAV", which a float file already is.
"""

from __future__ import annotations

import shlex
import struct
from dataclasses import dataclass
from typing import BinaryIO

PCM, ADPCM_MS, FLOAT, ALAW, MULAW, ADPCM_IMA = 0x0001, 0x0002, 0x0003, 0x0006, 0x0007, 0x0011
EXTENSIBLE = 0xFFFE
# the 14 bytes after its format tag of every WAVE_FORMAT_EXTENSIBLE sub-format GUID that stands for a format tag
_GUID_TAIL = bytes.fromhex("000000001000800000aa00389b71")
ADPCM_MAX_CHANNELS = 2  # libsndfile's limit
SF_MAX_CHANNELS = 1024  # libsndfile's limit for any format: a header giving more is damaged

# sox converts ADPCM in any number of channels (ffmpeg only in one or two); -e and -b, or the copy stays ADPCM
_SOX = "sox {path} -e signed-integer -b 16 out.wav"
FFMPEG = "ffmpeg -i {path} -c:a pcm_s16le out.wav"  # keeps the channels
# compressed formats met inside WAV headers, all of which ffmpeg decodes (ADPCM: sox, above)
_COMPRESSED = {
    0x0022: "TrueSpeech",
    0x0031: "GSM 6.10",
    0x0045: "G.726 ADPCM",
    0x0064: "G.726 ADPCM",
    0x00FF: "AAC",
    0x0161: "WMA",
    0x0162: "WMA Pro",
    0x0163: "WMA Lossless",
    0x028F: "G.722",
    0x1600: "AAC",
    0x1610: "HE-AAC",
    0x2000: "AC-3 (Dolby Digital)",
    0x2001: "DTS",
}


@dataclass(frozen=True, slots=True)
class WavFormat:
    """The fmt chunk: the format tag (for WAVE_FORMAT_EXTENSIBLE, its sub-format's; None when that is no tag's
    GUID), channels, sample rate and bits per sample, as the header gives them."""

    tag: int | None
    channels: int
    rate_hz: int
    bits: int


def damaged_header(shown: str, what: str) -> str:
    """The message for a header giving ``what`` (a sample rate, a sample size), which no recording has."""
    return (
        f"{shown} has a damaged header: it gives {what}, which no recording has; copy it again, or export it again"
        " from the program that recorded it"
    )


def read_format(fh: BinaryIO) -> WavFormat | None:
    """The fmt chunk of the RIFF/WAVE file ``fh`` (just past its 12-byte head); None when none comes before
    the data, or it is cut short."""
    while len(header := fh.read(8)) == 8:
        chunk_id, size = header[:4], struct.unpack("<I", header[4:])[0]
        if chunk_id == b"fmt ":
            body = fh.read(min(size, 40))
            if len(body) < 8:
                return None
            tag, channels, rate_hz = struct.unpack("<HHI", body[:8])
            bits = struct.unpack("<H", body[14:16])[0] if len(body) >= 16 else 0
            if tag == EXTENSIBLE:
                guid = body[24:40]
                tag = struct.unpack("<H", guid[:2])[0] if len(guid) == 16 and guid[2:] == _GUID_TAIL else None
            return WavFormat(tag, channels, rate_hz, bits)
        if chunk_id == b"data":
            return None
        fh.seek(size + (size & 1), 1)
    return None


def undecodable_message(shown: str, reason: str, fmt: WavFormat | None) -> str:
    """The refusal of a file libsndfile could not open (``reason``, its words) whose fmt chunk is ``fmt`` (None:
    none before the data): the format it names and the command that converts it, or, for a format libsndfile
    reads, that the file is damaged."""
    if fmt is None:  # no fmt chunk before the data: libsndfile's words say so
        return f"{shown} cannot be decoded as WAV ({plain(reason)}): re-export it as PCM or float WAV"
    if implausible := _implausible(fmt):
        return damaged_header(shown, implausible)
    if _decoded(fmt):
        return (
            f"{shown} cannot be decoded as WAV ({plain(reason)}); its header says {describe(fmt)}, which the listener"
            " reads, so the file is damaged: copy it again, or export it again from the program that made it"
        )
    return format_refusal(shown, fmt)


def format_refusal(shown: str, fmt: WavFormat) -> str:
    """The refusal of a WAV whose samples libsndfile does not decode, naming their format, and the fix."""
    path = shlex.quote(shown)
    if fmt.tag == FLOAT:  # 16- or 24-bit float: sox and ffmpeg have no reader for them in a WAV either
        return (
            f"{shown} holds {describe(fmt)} audio, which neither the listener nor sox or ffmpeg read: export it"
            " again from the program that made it as 32-bit float or 16-bit PCM WAV"
        )
    if fmt.tag in (ADPCM_IMA, ADPCM_MS):
        return (
            f"{shown} holds {fmt.channels} channels of {describe(fmt)} audio; the listener decodes it in one or two"
            f" only: convert it with `{_SOX.format(path=path)}`"
        )
    convert = FFMPEG.format(path=path)
    if fmt.tag is None:
        return (
            f"{shown} holds audio of a kind its WAV header names by a GUID the listener does not know: convert it"
            f" with `{convert}` if ffmpeg reads it, else export it again as 16-bit PCM WAV"
        )
    if fmt.tag in _COMPRESSED or (fmt.tag == PCM and fmt.bits == 64):  # ffmpeg decodes these
        return f"{shown} holds {describe(fmt)} audio, which the listener does not decode: convert it with `{convert}`"
    return (
        f"{shown} holds {describe(fmt)} audio, which the listener does not know: convert it with `{convert}` if"
        " ffmpeg reads it, else export it again as 16-bit PCM WAV"
    )


def describe(fmt: WavFormat) -> str:
    """The samples' format, in words: "16-bit float", "IMA ADPCM", "WAV format 0x1234"."""
    if fmt.tag is None:
        return "an unknown sub-format"
    if fmt.tag in (PCM, FLOAT):
        return f"{fmt.bits}-bit {'integer PCM' if fmt.tag == PCM else 'float'}"
    named = {ALAW: "A-law", MULAW: "mu-law", ADPCM_IMA: "IMA ADPCM", ADPCM_MS: "Microsoft ADPCM", **_COMPRESSED}
    return named.get(fmt.tag, f"WAV format 0x{fmt.tag:04X}")


def _implausible(fmt: WavFormat) -> str:
    """What the header gives that no WAV writer writes ('' when nothing): not a format to convert, but damage."""
    if fmt.channels > SF_MAX_CHANNELS:  # (0 channels has libsndfile's own words: "Channel count is zero")
        return f"{fmt.channels} channels"
    if (fmt.tag == PCM and not 1 <= fmt.bits <= 64) or (fmt.tag == FLOAT and fmt.bits not in (16, 24, 32, 64)):
        return f"{fmt.bits}-bit {'integer' if fmt.tag == PCM else 'float'} samples"
    return ""


def _decoded(fmt: WavFormat) -> bool:
    """Whether libsndfile decodes ``fmt``: when it still fails, the file is damaged, not of the wrong kind."""
    if fmt.tag == PCM:
        return 1 <= fmt.bits <= 32
    if fmt.tag == FLOAT:
        return fmt.bits in (32, 64)
    if fmt.tag in (ADPCM_IMA, ADPCM_MS):
        return fmt.channels <= ADPCM_MAX_CHANNELS
    return fmt.tag in (ALAW, MULAW)


def plain(libsndfile_reason: str) -> str:
    """libsndfile's words, unless they name its internals: 'SF_INFO struct incomplete' is a header whose sample
    rate is 0 (channels 0 has words of its own), or one that runs on past its audio (a second data chunk)."""
    if "SF_INFO" in libsndfile_reason:
        return "its header is incomplete: a sample rate of 0, or a second data chunk after the audio"
    return libsndfile_reason
