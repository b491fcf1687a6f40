"""`listener doctor`'s vosk model check on a board without room for a second copy of the model: the folder's
size on disk against MemAvailable before anything is loaded. /proc is a folder of the test's (its meminfo);
the models are real (the test model, or one vosk cannot load, made large by a sparse file); the service's
instance lock is real, held by this process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from listener.service import doctor
from listener.service.doctor import memory as doctor_memory
from listener.service.doctor.memory import OTHERS_FIX
from listener.service.doctor.model_room import LOAD_MARGIN, LOAD_MIB_PER_DISK_MIB, STOP_FIX, folder_mib
from listener.service.instance import InstanceLock
from listener.transcription.recognizer import load_model
from tests.asr_audio import korean_model
from tests.doctor_config import config

MIB = 1 << 20
BIG_MIB = 300  # the broken model's size on disk: a load would need about 760 MiB


@pytest.fixture
def proc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "proc"
    root.mkdir()
    monkeypatch.setattr(doctor_memory, "PROC", root)
    return root


def available(proc: Path, available_mib: int) -> None:
    """A meminfo as the kernel writes it, of a 2 GB board."""
    (proc / "meminfo").write_text(
        f"MemTotal:        1870000 kB\nMemFree:          100000 kB\nMemAvailable:   {available_mib * 1024:>8} kB\n"
    )


@pytest.fixture
def service(tmp_path: Path) -> Iterator[None]:
    """The listener running with the config's state_dir: its real instance lock."""
    lock = InstanceLock(tmp_path / "state")
    lock.open()
    try:
        yield
    finally:
        lock.close()


def big_broken_model(tmp_path: Path) -> Path:
    """A model folder vosk cannot load (a truncated acoustic model), BIG_MIB on disk through a sparse graph."""
    path = tmp_path / "model"
    (path / "am").mkdir(parents=True)
    (path / "am" / "final.mdl").write_bytes(b"\x00truncated by a power cut")
    (path / "graph").mkdir()
    with (path / "graph" / "HCLr.fst").open("wb") as f:
        f.truncate(BIG_MIB * MIB)
    return path


def need_mib(disk_mib: float) -> float:
    return disk_mib * LOAD_MIB_PER_DISK_MIB * LOAD_MARGIN


def test_enough_memory_loads_the_model_as_before(tmp_path: Path, proc: Path) -> None:
    # the test model's parts without its README, which names it Korean ([asr] language is en: a warning)
    model = tmp_path / "model"
    model.mkdir()
    for part in ("am", "conf", "graph", "ivector"):
        (model / part).symlink_to(korean_model() / part)
    available(proc, round(need_mib(folder_mib(korean_model()) or 0)) + 1)
    check = doctor.check_asr_model(config(tmp_path, asr={"enabled": True, "model_path": str(model)}))
    assert (check.status, check.detail) == ("ok", f"vosk model {model} loads")


def test_too_little_memory_leaves_the_model_unloaded_and_says_why(tmp_path: Path, proc: Path, service: None) -> None:
    model = big_broken_model(tmp_path)
    asr = config(tmp_path, asr={"enabled": True, "model_path": str(model)})
    loads = load_model.cache_info().misses
    available(proc, 500)
    check = doctor.check_asr_model(asr)
    assert check.status == "warn", check.line()
    assert check.detail == (
        f"vosk model {model} present; not loaded to check it: loading needs about {need_mib(BIG_MIB):.0f} MiB"
        " and 500 MiB is available"
    )
    assert check.fix == STOP_FIX == "stop the service first (`sudo systemctl stop listener`), then run doctor again"
    assert load_model.cache_info().misses == loads  # not even tried

    available(proc, 8000)  # with room, the same folder is loaded: and fails
    assert doctor.check_asr_model(asr).status == "FAIL"
    assert load_model.cache_info().misses == loads + 1


def test_without_the_service_running_other_programs_are_named(tmp_path: Path, proc: Path) -> None:
    available(proc, 500)
    check = doctor.check_asr_model(
        config(tmp_path, asr={"enabled": True, "model_path": str(big_broken_model(tmp_path))})
    )
    assert check.status == "warn", check.line()
    assert check.fix == f"{OTHERS_FIX}, then run doctor again"


def test_a_model_of_another_language_is_said_without_loading_it(tmp_path: Path, proc: Path, service: None) -> None:
    model = korean_model()  # its README names it Korean; [asr] language is en
    available(proc, round(need_mib(folder_mib(model) or 0)) - 1)
    check = doctor.check_asr_model(config(tmp_path, asr={"enabled": True, "model_path": str(model)}))
    assert check.status == "warn", check.line()
    assert check.detail.startswith(
        f"vosk model {model} present, but it is named a Korean model, and [asr] language is en; not loaded to check it"
    )
    assert check.fix.startswith("run `listener models fetch en-small")
    assert check.fix.endswith(f"; and to have doctor load it, {STOP_FIX}")


def test_no_meminfo_loads_as_before(tmp_path: Path, proc: Path) -> None:
    model = big_broken_model(tmp_path)
    check = doctor.check_asr_model(config(tmp_path, asr={"enabled": True, "model_path": str(model)}))
    assert check.status == "FAIL", check.line()
    assert check.detail.startswith(f"vosk could not load the model in {model}")


def test_the_size_on_disk_follows_links_once_and_gives_up_on_a_dangling_one(tmp_path: Path) -> None:
    model = big_broken_model(tmp_path)
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "graph").symlink_to(model / "graph")
    (linked / "loop").symlink_to(linked)  # a link back up: counted once, not for ever
    assert folder_mib(linked) == BIG_MIB
    (linked / "README").symlink_to(tmp_path / "gone")
    assert folder_mib(linked) is None
