"""What a file handed in as a WAV really is, from its first bytes, and the command that converts it."""

from __future__ import annotations

import re
import shlex

from listener.audio.wav_formats import FFMPEG, WavFormat, damaged_header

# sox reads these with its base formats (Debian's libsox-fmt-base) and keeps their channels and bit depth; -t
# because sox trusts a .wav name over a Wave64 file's bytes
_SOX = "sox -t {type} {path} out.wav"
# the compressed ones Debian's sox reads only with an extra package (MP3: libsox-fmt-mp3) or not at all (Opus,
# AAC, ALAC, AIFF-C's codecs); ffmpeg reads them all and keeps the channels

# What the audio formats met renamed .wav begin with: (their first bytes, ``.`` any byte; the format's name with
# its article; sox's type when sox converts it, else ffmpeg does)
_FORMATS = tuple(
    (re.compile(start, re.DOTALL), name, sox_type)
    for start, name, sox_type in (
        (rb"fLaC", "a FLAC", "flac"),
        (rb"FORM....AIFF", "an AIFF", "aiff"),
        (rb"FORM....AIFC", "an AIFF-C", None),
        (re.escape(bytes.fromhex("726966662e91cf11a5d628db")), "a Wave64 (W64)", "w64"),  # its "riff" GUID
        (rb"RIFX....WAVE", "a big-endian RIFX", "wav"),  # a WAV with its bytes swapped (old Macs, some DAWs)
        # RF64 by another name (ITU-R BS.2088, broadcast and ADM recorders); libsndfile and sox read neither name
        (rb"BW64....WAVE", "a BW64 (broadcast 64-bit WAV)", None),
        (rb"OggS", "an Ogg", None),
        (rb"....ftyp", "an MP4/M4A", None),
        (rb"caff", "a CAF", None),
        (rb"ID3", "an MP3", None),  # a tag first, the frames after it
    )
)


# WAV format tags of MPEG audio: libsndfile hands them to mpg123, which writes its own notes to stderr about a
# damaged stream, stops at the damage without a word, and has a file it cannot read called one that "does not exist"
_MPEG_IN_WAV = {0x0050: "MPEG (MP2)", 0x0055: "MP3"}
# libsndfile holds the rate in a signed int: a header's rate above it read as none ("a sample rate of 0")
_RATE_LIMIT_HZ = 2**31 - 1


def wav_header_message(fmt: WavFormat | None, shown: str) -> str | None:
    """The refusal of a RIFF/WAVE file whose fmt chunk (``fmt``, None when it has none before its data)
    libsndfile would misreport: MP3 inside the WAV, or a sample rate no recording has; None for any other
    (libsndfile judges it)."""
    if fmt is None:  # no fmt chunk before the data: libsndfile says so
        return None
    if fmt.tag in _MPEG_IN_WAV:
        fix = FFMPEG.format(path=shlex.quote(shown))
        return f"{shown} holds {_MPEG_IN_WAV[fmt.tag]} audio inside its WAV header: convert it with `{fix}`"
    if fmt.rate_hz > _RATE_LIMIT_HZ:
        return damaged_header(shown, f"a sample rate of {fmt.rate_hz} Hz")
    return None


def not_wav_message(shown: str, head: bytes) -> str:
    """The one-line refusal of a file whose first bytes (``head``, up to 12) are not a RIFF/WAVE header."""
    known = _known_format(head)
    if known is None and shown.lower().endswith(".toml"):  # the config and the recording swapped on the line
        return f"{shown} is not a WAV file but a config file, by its name: pass it as --config {shlex.quote(shown)}"
    if known is None:
        return f"{shown} is not a WAV file (no RIFF/WAVE header): convert it to WAV"
    name, sox_type = known
    path = shlex.quote(shown)
    fix = _SOX.format(type=sox_type, path=path) if sox_type else FFMPEG.format(path=path)
    return f"{shown} is {name} file, not a WAV: convert it with `{fix}`"


def _known_format(head: bytes) -> tuple[str, str | None] | None:
    """(the name with its article, sox's type or None) of the format ``head`` begins, if it is one of them."""
    for start, name, sox_type in _FORMATS:
        if start.match(head):
            return name, sox_type
    layer = _mpeg_audio_layer(head)
    if layer in (1, 2):  # layer III or II; no recorder writes layer I, and UTF-16 text (0xFF 0xFE) looks like it
        return "an MP3", None
    if layer == 0:  # AAC's ADTS frames share MPEG audio's sync word, with layer 0
        return "an AAC", None
    return None


def _mpeg_audio_layer(head: bytes) -> int:
    """The layer field (3 = layer I ... 1 = layer III, 0 = AAC ADTS) of an MPEG audio frame header; -1 if none.

    11 sync bits, then a bit rate and a sample rate that are not the reserved values: random bytes rarely pass.
    """
    if len(head) < 3 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return -1
    layer = (head[1] >> 1) & 3
    if layer and (head[2] >> 4 == 0xF or (head[2] >> 2) & 3 == 3):
        return -1
    return layer
