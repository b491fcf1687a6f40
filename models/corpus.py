"""Dry speech to build dialogues from: real recordings and espeak-ng voices.

* AMI excerpts ``trn01``..``trn07`` cut by their RTTM into single-speaker
  stretches (overlapped speech is left out), then at long pauses into
  utterances. Speakers who also talk in the held-out ``trn08``/``trn09``
  are left out, so the evaluation hears voices the model never heard.
* CMU ARCTIC (``../shared/data/speech``): validation only, because the
  tests' synthetic dialogues are made of these very utterances.
* Debian's ``pocketsphinx-testdata`` recordings, and the spoken channel
  names that come with ``alsa-utils``.
* ``espeak-ng``: shop-counter statements and questions (rendered with
  question intonation), backchannels and fillers, in many voices.

Every utterance carries its own 10 ms voice activity (energy against its
loudest frames), so dialogue truth follows the speech, not the file edges.
"""

from __future__ import annotations

import hashlib
import itertools
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from bench.signals import DATA_DIR, NOISE_FILES, load_mono
from bench.simulate import EVAL_EXCERPTS
from bench.truth import merge_intervals, read_rttm

RATE_HZ = 16000
FRAME = 160  # 10 ms
QUIET_DB = 30.0  # frames this far under the utterance's loud frames are not speech
BRIDGE_FRAMES = 20  # metrics.md: gaps under 0.2 s inside speech are speech
SPLIT_PAUSE_FRAMES = 40  # AMI stretches are cut into utterances at pauses of 0.4 s
SHORT_S = 1.0  # utterances up to this long serve as backchannels
POCKETSPHINX = Path("/usr/share/pocketsphinx/test/data")
ALSA_SOUNDS = Path("/usr/share/sounds/alsa")  # alsa-utils' channel-test voice ("Front left", ...)
AMI_TRAIN = ("trn01", "trn02", "trn03", "trn04", "trn05", "trn06", "trn07")
TEST_SPEECH = "cmu_arctic"  # file prefix of the utterances tests/synth.py uses

SENTENCES = (
    "Hi there, how can I help you today?",
    "I bought this kettle last week and it already stopped working.",
    "Do you still have the receipt with you?",
    "Yes, I think it's somewhere in my bag, give me a second.",
    "We can replace it or give you a refund, whichever you prefer.",
    "What I'd really like is one that doesn't leak.",
    "Let me check what we have in the back.",
    "The blue one is a bit more expensive, but it comes with a longer warranty.",
    "How long is the warranty on that one?",
    "Two years, and it covers the heating element too.",
    "So you're saying the old one just turned off by itself?",
    "It made a clicking noise and then nothing happened at all.",
    "I understand, that must have been frustrating.",
    "Could you tell me a bit more about how you use it?",
    "Mostly in the mornings, I boil water for tea, maybe three times a day.",
    "Here's what I'll do, I'll put a note on your account.",
    "The next step is to fill in this short form.",
    "Is there anything else I can help you with?",
    "Actually, I was also wondering about the opening hours on Sunday.",
    "We open at ten and close at four on Sundays.",
    "My daughter said you have a discount for students.",
    "That's right, ten percent with a valid card.",
    "I'm not sure which size would fit in my kitchen.",
    "Walk me through where you would like to put it.",
    "Next to the sink, there's about thirty centimetres of space.",
    "Then the compact model should be fine.",
    "Can I pay by card, or do you only take cash?",
    "Card is fine, just tap it on the reader when it lights up.",
    "Sorry, the machine says the payment was declined.",
    "Let's try it once more, sometimes the connection drops.",
    "I'll follow up with the supplier and call you on Thursday.",
    "Would you like a bag for that?",
    "No thanks, I brought my own.",
    "Well, the thing is, I already tried turning it off and on again.",
    "Just to make sure, you want the white one and not the grey one?",
    "I was told on the phone that it would be in stock today.",
    "Let me see, it should have arrived this morning with the delivery.",
    "If it doesn't work this time, can I bring it back again?",
    "Of course, you have thirty days to return it.",
    "Thank you so much, you've been really helpful.",
)
BACKCHANNELS = ("mm-hmm", "yeah", "right", "okay", "uh-huh", "I see", "sure", "yes", "oh really", "got it", "exactly")
FILLERS = ("um", "uh", "er", "and, um", "so, uh")
ESPEAK_VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us-nyc", "en-gb-x-gbclan")
ESPEAK_VARIANTS = ("m1", "m2", "m3", "m4", "m7", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt3")
ESPEAK_SPEAKERS = 28
VALIDATION_EVERY = 7  # every 7th espeak voice is for validation only


@dataclass(frozen=True, slots=True)
class Utterance:
    speaker: str
    source: str
    audio: np.ndarray  # float32, 16 kHz, speech starts at sample 0 and ends at the last sample
    active: np.ndarray  # bool per 10 ms frame
    kind: str = "speech"  # espeak: "statement" | "question" | "backchannel" | "filler"; recordings: "speech"

    @property
    def seconds(self) -> float:
        return len(self.audio) / RATE_HZ


def speech_frames(x: np.ndarray) -> np.ndarray:
    """10 ms frames holding speech: within QUIET_DB of the loud frames, gaps under 0.2 s bridged."""
    n = len(x) // FRAME
    if n == 0:
        return np.zeros(0, dtype=bool)
    power = np.mean(x[: n * FRAME].reshape(n, FRAME) ** 2, axis=1)
    level = 10 * np.log10(np.convolve(power, np.ones(3) / 3, mode="same") + 1e-12)
    active = level > np.percentile(level, 95) - QUIET_DB
    return bridge(active, BRIDGE_FRAMES)


def bridge(active: np.ndarray, max_gap: int) -> np.ndarray:
    """Close inner gaps of fewer than ``max_gap`` frames."""
    out = active.copy()
    idx = np.flatnonzero(active)
    for a, b in itertools.pairwise(idx):
        if 1 < b - a <= max_gap:
            out[a:b] = True
    return out


def make_utterance(speaker: str, source: str, x: np.ndarray, kind: str = "speech") -> Utterance | None:
    """Trim to the speech, normalise to -20 dBFS over active frames; None if too short."""
    active = speech_frames(x)
    idx = np.flatnonzero(active)
    if idx.size < 15:
        return None
    a, b = int(idx[0]), int(idx[-1]) + 1
    audio = x[a * FRAME : b * FRAME].astype(np.float32)
    act = active[a:b]
    rms = np.sqrt(np.mean(audio.reshape(-1, FRAME)[act] ** 2)) + 1e-9
    fade = np.minimum(1.0, np.arange(len(audio)) / 80.0) * np.minimum(1.0, np.arange(len(audio))[::-1] / 80.0)
    return Utterance(speaker, source, (audio * fade * 0.1 / rms).astype(np.float32), act, kind)


def split_at_pauses(speaker: str, source: str, x: np.ndarray) -> list[Utterance]:
    """Cut a long stretch into utterances at pauses of SPLIT_PAUSE_FRAMES or more."""
    active = speech_frames(x)
    out: list[Utterance] = []
    start, silent = None, 0
    for i, on in enumerate([*active.tolist(), False]):
        if on:
            start = i if start is None else start
            silent = 0
            continue
        silent += 1
        if start is not None and (silent >= SPLIT_PAUSE_FRAMES or i == len(active)):
            utt = make_utterance(speaker, source, x[start * FRAME : (i - silent + 1) * FRAME])
            if utt is not None:
                out.append(utt)
            start = None
    return out


def check_shared_data(data_dir: Path = DATA_DIR, excerpts: Iterable[str] = AMI_TRAIN, speech: bool = True) -> None:
    """SystemExit naming what is missing of the recordings read from ``../shared/data``.

    ``ami-train/`` (``train.rttm`` and the ``excerpts``), ``noise/`` (the rooms' noise) and, with
    ``speech``, ``speech/`` (the CMU ARCTIC validation voices, which would otherwise be left out silently).
    """
    folders = ("ami-train", "noise", *(("speech",) if speech else ()))
    where = f"the shared data folder must sit beside the checkout as ../shared/data ({data_dir})"
    absent = [data_dir / name for name in folders if not (data_dir / name).is_dir()]
    if absent:  # a whole folder: said as such, not as its first file "and 11 more"
        raise SystemExit(f"{', '.join(map(str, absent))} missing: {where}, holding {', '.join(folders)}/")
    needed = [data_dir / "ami-train" / "train.rttm", *(data_dir / "ami-train" / f"{e}.wav" for e in excerpts)]
    missing = [p for p in [*needed, *(data_dir / "noise" / name for name in NOISE_FILES)] if not p.is_file()]
    if speech and not any((data_dir / "speech").glob(f"{TEST_SPEECH}_*.wav")):
        missing.append(data_dir / "speech" / f"{TEST_SPEECH}_*.wav")
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise SystemExit(f"{missing[0]} is missing{more}: the recordings come from the shared data folder; {where}")


def ami_training_speakers(data_dir: Path = DATA_DIR) -> set[str]:
    """The AMI voices training may hear: those of ``AMI_TRAIN`` that do not also talk in the eval excerpts."""
    rttm = read_rttm(data_dir / "ami-train" / "train.rttm")
    eval_speakers = {t.speaker for e in EVAL_EXCERPTS for t in rttm.get(e, [])}
    return {t.speaker for e in AMI_TRAIN for t in rttm.get(e, [])} - eval_speakers


def ami_utterances(data_dir: Path = DATA_DIR) -> list[Utterance]:
    rttm = read_rttm(data_dir / "ami-train" / "train.rttm")
    voices = ami_training_speakers(data_dir)
    out: list[Utterance] = []
    for excerpt in AMI_TRAIN:
        mix = load_mono(data_dir / "ami-train" / f"{excerpt}.wav", RATE_HZ)
        turns = rttm.get(excerpt, [])
        for turn in turns:
            if turn.speaker not in voices:
                continue
            others = merge_intervals([(t.start_s, t.end_s) for t in turns if t.speaker != turn.speaker])
            for a, b in _minus((turn.start_s, turn.end_s), others):
                if b - a >= 0.25:
                    piece = mix[int(a * RATE_HZ) : int(b * RATE_HZ)]
                    out += split_at_pauses(f"ami-{turn.speaker}", "ami", piece)
    return out


def _minus(span: tuple[float, float], holes: list[tuple[float, float]]) -> list[tuple[float, float]]:
    pieces = [span]
    for h0, h1 in holes:
        pieces = [p for a, b in pieces for p in ((a, min(b, h0)), (max(a, h1), b)) if p[1] - p[0] > 0]
    return pieces


def file_utterances() -> list[Utterance]:
    """CMU ARCTIC and pocketsphinx-testdata recordings, one speaker per folder."""
    out: list[Utterance] = []
    for path in sorted((DATA_DIR / "speech").glob("*.wav")):
        utt = make_utterance(f"cmu-{path.stem.split('_')[3]}", "cmu", load_mono(path, RATE_HZ))
        out += [utt] if utt else []
    if not POCKETSPHINX.is_dir():
        raise SystemExit(f"{POCKETSPHINX} is missing: apt-get install pocketsphinx-testdata")
    for path in sorted(POCKETSPHINX.rglob("*.wav")) + sorted(POCKETSPHINX.rglob("*.raw")):
        if path.suffix == ".raw":
            x = np.fromfile(path, dtype="<i2").astype(np.float64) / 32768.0
        else:
            x, rate = sf.read(path, dtype="float64")
            x = soxr.resample(x, rate, RATE_HZ) if rate != RATE_HZ else x
        out += split_at_pauses(f"ps-{path.parent.name}", "pocketsphinx", x)
    alsa = sorted(ALSA_SOUNDS.glob("*_*.wav"))
    if not alsa:  # its voice is one of the training speakers: without it the dialogues would differ
        raise SystemExit(f"{ALSA_SOUNDS} has no spoken channel names (Front_Left.wav, ...): apt-get install alsa-utils")
    for path in alsa:
        x, rate = sf.read(path, dtype="float64")
        x = x.mean(axis=1) if x.ndim > 1 else x
        utt = make_utterance("alsa", "alsa", soxr.resample(x, rate, RATE_HZ) if rate != RATE_HZ else x)
        out += [utt] if utt else []
    return out


def espeak_utterances(seed: int, cache: Path, speakers: int = ESPEAK_SPEAKERS) -> list[Utterance]:
    """``speakers`` synthetic voices, each saying a subset of SENTENCES and every backchannel."""
    rng = np.random.default_rng([seed, 7])
    out: list[Utterance] = []
    for k in range(speakers):
        voice = f"{ESPEAK_VOICES[k % len(ESPEAK_VOICES)]}+{ESPEAK_VARIANTS[(k * 5) % len(ESPEAK_VARIANTS)]}"
        speed, pitch = int(rng.integers(135, 185)), int(rng.integers(25, 75))
        picks = rng.choice(len(SENTENCES), size=14, replace=False)
        texts = [(SENTENCES[i], _kind(SENTENCES[i])) for i in picks]
        texts += [(t, "backchannel") for t in BACKCHANNELS] + [(t, "filler") for t in FILLERS]
        for text, kind in texts:
            x = _espeak(text, voice, speed, pitch, cache)
            utt = make_utterance(f"espeak-{k:02d}", "espeak", x, kind)
            out += [utt] if utt else []
    return out


def _kind(sentence: str) -> str:
    return "question" if sentence.endswith("?") else "statement"


def _espeak(text: str, voice: str, speed: int, pitch: int, cache: Path) -> np.ndarray:
    key = hashlib.sha1(f"{voice}|{speed}|{pitch}|{text}".encode()).hexdigest()[:16]
    path = cache / f"{key}.npy"
    if path.exists():
        return np.load(path)
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "x.wav"
        cmd = ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(wav), text]
        try:
            subprocess.run(cmd, check=True, capture_output=True)
        except FileNotFoundError:  # only reached when the voice is not cached yet
            raise SystemExit("espeak-ng not found: apt-get install espeak-ng") from None
        x, rate = sf.read(wav, dtype="float64")
    x = soxr.resample(x, rate, RATE_HZ).astype(np.float32)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, x)
    return x


def is_validation(speaker: str) -> bool:
    """Speakers kept out of training: CMU ARCTIC, one pocketsphinx reader, every 7th espeak voice."""
    if speaker.startswith("cmu-") or speaker == "ps-librivox":
        return True
    return speaker.startswith("espeak-") and int(speaker.split("-")[1]) % VALIDATION_EVERY == 0


def load_corpus(seed: int, cache: Path, voices: int = ESPEAK_SPEAKERS) -> dict[str, list[Utterance]]:
    """Utterances by speaker."""
    check_shared_data()
    by_speaker: dict[str, list[Utterance]] = {}
    for utt in ami_utterances() + file_utterances() + espeak_utterances(seed, cache / "espeak", voices):
        by_speaker.setdefault(utt.speaker, []).append(utt)
    return by_speaker
