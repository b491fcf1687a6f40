"""bench.soak_live for real, briefly: 12 s of the soak's visits captured through ALSA, PortAudio and LiveSource."""

from __future__ import annotations

import ctypes
from pathlib import Path

import pytest

from bench.signals import DATA_DIR
from bench.soak_live import soak_live

# what OpenBLAS calls its thread count, by build: numpy's and scipy's wheels rename (and suffix) the symbols
BLAS_THREAD_GETTERS = (
    "scipy_openblas_get_num_threads64_",
    "scipy_openblas_get_num_threads",
    "openblas_get_num_threads64_",
    "openblas_get_num_threads",
)


def blas_threads() -> dict[str, int]:
    """The threads each OpenBLAS loaded in this process runs a product on, as the library itself says."""
    maps = Path("/proc/self/maps").read_text().splitlines()
    libraries = sorted({line.split()[-1] for line in maps if "openblas" in line.lower() and "/" in line})
    counts: dict[str, int] = {}
    for path in libraries:
        lib = ctypes.CDLL(path)  # already loaded: the same handle, its settings as they are
        getter = next((getattr(lib, name) for name in BLAS_THREAD_GETTERS if hasattr(lib, name)), None)
        if getter is not None:
            counts[Path(path).name] = int(getter())
    return counts


@pytest.mark.skipif(not (DATA_DIR / "ami-train" / "train.rttm").exists(), reason="shared data absent")
def test_a_short_live_soak_captures_in_real_time_without_losing_audio(tmp_path: Path) -> None:
    result = soak_live(minutes=0.2, every_s=4.0, n_cases=1, work=tmp_path, asr=False)
    s = result.summary
    assert len(result.samples) >= 3
    assert s.audio_s == pytest.approx(12.0, abs=0.2)
    assert s.captured_s == pytest.approx(s.audio_s, abs=1e-6)  # the clock is all delivered audio
    assert s.overflows == 0 and s.dropped_s == {}
    # paced by the wall clock, not faster (the unpaced PCM runs ~1000x) nor slower
    assert abs(s.lag_s_end) < 0.5 and s.matches_wall_clock
    # the figures are printed, and each is a part of the one before (what they should be is for bench/)
    assert 0 < s.capture_thread_cpu_per_audio_s < s.cpu_per_audio_s
    assert 0 < s.callback_cpu_per_audio_s <= s.capture_thread_cpu_per_audio_s
    assert 50 < s.rss_mb_first <= s.rss_mb_max  # in MB: a process with numpy and PortAudio is more than 50
    # idle OpenBLAS workers spin, a core each (they made the soak's CPU per audio second 1.05, not 0.04):
    # the soak, as the service, runs one BLAS thread
    threads = blas_threads()
    assert threads and set(threads.values()) == {1}, threads
    assert s.messages_received.get("status", 0) >= 1  # the MQTT stage reached the broker
    assert not (tmp_path / "audio").exists()  # the benchmark audio is gone with the soak
