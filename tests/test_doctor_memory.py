"""`listener doctor`'s memory check: a board's RAM against what the config runs (transcription or not), and
what is available now, with the service's own memory counted as its own. /proc is a folder of the test's
(its meminfo and the status files the check reads); the service's instance lock is real, held by this process."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from listener.service import doctor
from listener.service.doctor import memory as doctor_memory
from listener.service.doctor.memory import NEED_ASR_MIB, NEED_MIB
from listener.service.instance import InstanceLock
from tests.doctor_config import config

MIB = 1024  # kB


@pytest.fixture
def proc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "proc"
    (root / "self").mkdir(parents=True)
    monkeypatch.setattr(doctor_memory, "PROC", root)
    return root


def board(proc: Path, total_mib: int, available_mib: int, doctor_anon_mib: int = 0) -> None:
    """A meminfo as the kernel writes it, and doctor's own status."""
    (proc / "meminfo").write_text(
        f"MemTotal:       {total_mib * MIB:>8} kB\nMemFree:        {available_mib * MIB // 2:>8} kB\n"
        f"MemAvailable:   {available_mib * MIB:>8} kB\nBuffers:           12345 kB\nHugePages_Total:       0\n"
    )
    status = f"Name:\tlistener\nVmRSS:\t{doctor_anon_mib * MIB * 2} kB\nRssAnon:\t{doctor_anon_mib * MIB} kB\n"
    (proc / "self" / "status").write_text(status)


@pytest.fixture
def service(tmp_path: Path, proc: Path) -> Iterator[Path]:
    """The listener running with the config's state_dir: its real instance lock, holding this process's pid,
    whose status file says what it holds."""
    lock = InstanceLock(tmp_path / "state")
    lock.open()
    status = proc / str(os.getpid()) / "status"
    status.parent.mkdir()
    try:
        yield status
    finally:
        lock.close()


def test_a_1_gb_board_is_warned_of_for_transcription_only(tmp_path: Path, proc: Path) -> None:
    board(proc, total_mib=906, available_mib=700)
    check = doctor.check_memory(config(tmp_path, asr={"enabled": True}))
    assert check.status == "warn", check
    assert check.detail.startswith("906 MiB of RAM; the listener with transcription needs about 900 MiB"), check
    assert "a board with 2 GB or more, or set [asr] enabled = false" in check.fix
    assert f"it then needs about {NEED_MIB} MiB" in check.fix

    check = doctor.check_memory(config(tmp_path))
    assert check.status == "ok", check
    assert (
        check.detail
        == f"906 MiB of RAM, 700 MiB available; the listener without transcription needs about {NEED_MIB} MiB"
    )


def test_a_board_under_512_mb_is_warned_of_without_transcription_too(tmp_path: Path, proc: Path) -> None:
    board(proc, total_mib=380, available_mib=300)
    check = doctor.check_memory(config(tmp_path))
    assert check.status == "warn", check
    assert "380 MiB of RAM; the listener without transcription needs about" in check.detail
    assert check.fix == "a board with 1 GB or more"


def test_too_little_available_names_the_other_programs_and_counts_doctors_own_memory(
    tmp_path: Path, proc: Path
) -> None:
    board(proc, total_mib=3800, available_mib=60)  # a 4 GB board with something else holding it
    check = doctor.check_memory(config(tmp_path))
    assert check.status == "warn", check
    assert "3800 MiB of RAM, 60 MiB available; the listener without transcription needs about" in check.detail
    assert check.detail.endswith("other programs hold the rest")
    assert check.fix.startswith("stop what else uses it (`ps -eo rss,comm --sort=-rss | head`), or a board")

    # what doctor holds itself (the turn model, PortAudio) is free again once it exits
    board(proc, total_mib=3800, available_mib=60, doctor_anon_mib=NEED_MIB)
    check = doctor.check_memory(config(tmp_path))
    assert check.status == "ok", check
    assert f"{60 + NEED_MIB} MiB available" in check.detail


def test_a_running_service_needs_only_what_it_does_not_hold_yet(tmp_path: Path, proc: Path, service: Path) -> None:
    board(proc, total_mib=1800, available_mib=300)  # a 2 GB board, the service transcribing
    service.write_text(f"Name:\tlistener\nVmRSS:\t{700 * MIB} kB\n")
    asr = config(tmp_path, asr={"enabled": True})
    check = doctor.check_memory(asr)
    assert check.status == "ok", check
    assert "(the service runs, holding 700 MiB of it already)" in check.detail

    service.write_text(f"Name:\tlistener\nVmRSS:\t{450 * MIB} kB\n")  # its recogniser still to grow
    check = doctor.check_memory(asr)
    assert check.status == "warn", check
    assert f"needs about {NEED_ASR_MIB} MiB (the service runs, holding 450 MiB of it already)" in check.detail

    service.unlink()  # its memory cannot be read: not blamed on other programs
    check = doctor.check_memory(asr)
    assert check.status == "ok", check
    assert check.detail.endswith("(the service runs; what it holds cannot be read here)")


def test_the_same_figures_without_the_service_running_warn(tmp_path: Path, proc: Path) -> None:
    board(proc, total_mib=1800, available_mib=300)
    check = doctor.check_memory(config(tmp_path, asr={"enabled": True}))
    assert check.status == "warn", check
    assert "the service runs" not in check.detail


def test_no_meminfo_is_said_not_checked(tmp_path: Path, proc: Path) -> None:
    check = doctor.check_memory(config(tmp_path, asr={"enabled": True}))
    assert check.status == "ok"
    assert check.detail == f"not checked: {proc / 'meminfo'} cannot be read here"
