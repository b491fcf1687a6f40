"""systemd/listener.service, judged by systemd's own offline analyzers.

``systemd-analyze security --offline=true`` and ``systemd-analyze verify``
read unit files without a running systemd, so these run in a container too.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bench import unit_rehearsal
from listener.cli import _parser, cmd_leds_off
from listener.config import INSTALLED_CONFIG
from listener.config.rules import rule_of
from listener.config.schema import ArrayConfig, ServiceConfig
from listener.config.service_unit import RESTART_S
from listener.errors import (
    AS_SERVICE_USER,
    SERVICE_STATE_DIR,
    DriverWedgedError,
    ListenerError,
    ServiceDeferredError,
)

REPO = Path(__file__).resolve().parents[1]
UNIT = REPO / "systemd" / "listener.service"
MAX_EXPOSURE = 2.5
EXEC_START = f"/opt/listener/venv/bin/listener run --wait-for-array --config {INSTALLED_CONFIG}"  # doctor's default too
EXEC_STOP_POST = f"-/opt/listener/venv/bin/listener leds-off --config {INSTALLED_CONFIG}"


def systemd_analyze() -> str:
    path = shutil.which("systemd-analyze")
    if path is None:
        pytest.fail("systemd-analyze is missing: install the Debian package 'systemd' (scripts/setup --dev does)")
    version = subprocess.run([path, "--version"], capture_output=True, text=True, check=True).stdout
    number = int(re.match(r"systemd (\d+)", version).group(1))  # type: ignore[union-attr]
    if number < 250:
        pytest.fail(f"systemd-analyze {number} lacks 'security --offline': it needs systemd 250+ (Debian 12 has 252)")
    return path


def exposure(unit: Path) -> tuple[float, str]:
    done = subprocess.run(
        [systemd_analyze(), "security", "--offline=true", "--no-pager", str(unit)],
        capture_output=True,
        text=True,
        check=False,
    )
    found = re.search(rf"Overall exposure level for {re.escape(unit.name)}: (\d+(?:\.\d+)?)", done.stdout)
    assert found, f"no exposure figure in systemd-analyze's output:\n{done.stdout}\n{done.stderr}"
    return float(found.group(1)), done.stdout


def verify(unit: Path) -> list[str]:
    """systemd-analyze verify's complaints about ``unit`` (it exits 0 even for unknown keys)."""
    done = subprocess.run(
        [systemd_analyze(), "verify", "--man=no", "--generators=no", str(unit)],
        capture_output=True,
        text=True,
        check=False,
    )
    lines = (done.stdout + done.stderr).splitlines()
    complaints = [line for line in lines if unit.name in line or unit.stem in line]
    if done.returncode != 0:
        complaints.append(f"exit status {done.returncode}: {done.stderr.strip()}")
    return complaints


def runnable_copy(tmp_path: Path, text: str | None = None) -> Path:
    """The unit with ExecStart pointing at a binary that exists here, as verify demands."""
    text = UNIT.read_text() if text is None else text
    assert f"ExecStart={EXEC_START}\n" in text
    path = tmp_path / UNIT.name
    for key, command in (("ExecStart", EXEC_START), ("ExecStopPost", EXEC_STOP_POST)):
        program, args = command.split(" ", 1)
        text = text.replace(f"{key}={command}", f"{key}={'-' if program.startswith('-') else ''}/bin/true {args}")
    path.write_text(text)
    return path


def unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for raw in UNIT.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


def test_exposure_is_at_most_2_5() -> None:
    level, report = exposure(UNIT)
    print(f"listener.service exposure level: {level}")
    assert level <= MAX_EXPOSURE, report


def test_exposure_check_fails_an_unhardened_unit(tmp_path: Path) -> None:
    bare = tmp_path / "bare.service"
    bare.write_text(f"[Service]\nExecStart={EXEC_START}\n")
    level, _ = exposure(bare)
    assert level > MAX_EXPOSURE


def test_verify_finds_nothing_wrong(tmp_path: Path) -> None:
    assert verify(runnable_copy(tmp_path)) == []


def test_verify_catches_a_misspelt_directive(tmp_path: Path) -> None:
    text = UNIT.read_text().replace("ProtectSystem=strict", "ProtectSytem=strict")
    complaints = verify(runnable_copy(tmp_path, text))
    assert any("ProtectSytem" in line for line in complaints), complaints


def test_unit_has_the_service_contract() -> None:
    s = unit_settings()
    assert s["Type"] == ["notify"]
    assert s["ExecStart"] == [EXEC_START]
    # the lights go dark however the service stopped (a killed process leaves its pins driven)
    assert s["ExecStopPost"] == [EXEC_STOP_POST]
    assert _parser().parse_args(EXEC_STOP_POST.split()[1:]).func is cmd_leds_off
    assert s["Restart"] == ["on-failure"]
    # what a person must fix is not retried into the start limit; a wedged driver is restarted
    assert s["RestartPreventExitStatus"] == [str(ListenerError.exit_code)]
    assert DriverWedgedError.exit_code not in (0, ListenerError.exit_code)
    # and so is the service that found a run by hand on its folder: it takes over once that run ends
    assert ServiceDeferredError.exit_code not in (0, ListenerError.exit_code)
    # the device heals itself: systemd's start limit counts every start (the boot's, provision.sh's restart, each
    # `systemctl restart` by hand), and 5 in 10 minutes left it down after a crash until `systemctl reset-failed`
    assert s["StartLimitIntervalSec"] == ["0"] and "StartLimitBurst" not in s
    assert s["User"] == ["listener"]
    assert set(s["SupplementaryGroups"][0].split()) == {"audio", "gpio", "spi", "plugdev"}
    assert s["StateDirectory"] == ["listener"]
    assert ServiceConfig().state_dir == "/var/lib/listener"  # the folder systemd makes is the built-in state_dir
    # the folder doctor expects systemd to make at the first start, and the one advice runs commands in
    assert Path("/var/lib") / s["StateDirectory"][0] == SERVICE_STATE_DIR == Path(ServiceConfig().state_dir)
    assert s["WorkingDirectory"] == ["%S/listener"]
    assert s["EnvironmentFile"] == ["-/etc/listener/secrets.env"]
    assert set(s["RestrictAddressFamilies"][0].split()) == {"AF_UNIX", "AF_INET", "AF_INET6"}
    # privacy: the memory that holds audio and words is neither dumped nor swapped to the card
    assert s["LimitCORE"] == ["0"] and s["MemorySwapMax"] == ["0"]


def test_a_crash_loop_is_bounded_by_the_restart_delay_not_a_start_limit() -> None:
    # with no start limit, RestartSec alone paces a crash loop (each start loads the models): long enough to
    # keep the journal and the CPU in bounds, short enough that a watchdog restart is a short gap at the counter
    restart_s = int(unit_settings()["RestartSec"][0])
    assert 15 <= restart_s <= 30, restart_s
    readme = " ".join((REPO / "README.md").read_text().split())
    assert f"restarts the service after {restart_s} s, as often as it takes" in readme
    assert "reset-failed listener" not in readme  # nothing for a person to re-arm
    assert restart_s == unit_rehearsal.RESTART_S  # the rehearsal waits past one delay for restarts it must not see
    # a service refused by a run by hand says how soon it tries again (listener.service.instance)
    assert restart_s == RESTART_S


def test_advice_runs_commands_as_the_service_user_as_the_readme_does() -> None:
    # `sudo -u listener listener ...` from the installer's home (0700: the service user may not enter it) has
    # lgpio fail to make its FIFOs there on a Pi 5 (gpiozero#1106): the advice runs in the service's folder,
    # with README.md's systemd-run line for doctor, whole: without its groups and secrets, doctor failed the
    # audio group and the broker login that the service has
    readme = " ".join((REPO / "README.md").read_text().replace("\\\n", " ").split())
    line = readme[readme.index("sudo systemd-run") :].split(" doctor ")[0]
    assert line == f"{AS_SERVICE_USER} $L"
    assert f"-p WorkingDirectory={SERVICE_STATE_DIR} " in AS_SERVICE_USER


def test_the_watchdog_outlasts_the_longest_wait_to_reopen_the_array() -> None:
    # A lost array is retried every [array] reopen_interval_s, and each attempt feeds the watchdog. The
    # outage ticks (live.OUTAGE_TICK_S) now feed it more often, but the setting's limit is sized so the
    # attempts alone keep a service that waits for its array alive (a restart only loses the open session);
    # the margin covers the attempt itself (a device scan) on a busy Pi. A 45 s interval once had it killed.
    reopen_max_s = next(rule_of(f).high for f in dataclasses.fields(ArrayConfig) if f.name == "reopen_interval_s")
    assert reopen_max_s is not None
    watchdog_s = int(unit_settings()["WatchdogSec"][0])
    assert watchdog_s >= 1.5 * reopen_max_s, (watchdog_s, reopen_max_s)


def test_devices_stay_visible_to_the_service() -> None:
    s = unit_settings()
    # PrivateDevices=yes would hide /dev/snd, /dev/gpiochip* and /dev/spidev*.
    assert s.get("PrivateDevices", ["no"]) == ["no"]
    allowed = {value.split()[0] for value in s["DeviceAllow"]}
    assert {"char-alsa", "char-gpiochip", "char-spi"} <= allowed
    for setting in ("NoNewPrivileges", "ProtectHome", "PrivateTmp"):
        assert s[setting] == ["yes"], setting
    assert s["ProtectSystem"] == ["strict"]


def test_the_state_directory_is_the_only_folder_left_writable() -> None:
    """Each of systemd's exec directories is bind-mounted read-write, ProtectSystem=strict or not: with
    ConfigurationDirectory=listener the service could rewrite its broker password and TLS key files in
    /etc/listener, which firmware/README.md has the operator make the listener user's. It only reads there."""
    s = unit_settings()
    assert s["ProtectSystem"] == ["strict"] and s["StateDirectory"] == ["listener"]
    opened = ("ReadWritePaths", "ConfigurationDirectory", "RuntimeDirectory", "CacheDirectory", "LogsDirectory")
    assert [key for key in opened if key in s] == []


def test_the_readmes_doctor_line_runs_doctor_as_the_service_sees_the_device() -> None:
    """README.md's systemd-run line: a model_path, ca_file or password_file under /home or /tmp passed doctor
    there while the service (ProtectHome=yes, PrivateTmp=yes) could not see it."""
    readme = (REPO / "README.md").read_text().replace("\\\n", " ")
    (line,) = [line for line in readme.splitlines() if line.startswith("sudo systemd-run ") and " doctor " in line]
    given = dict(p.replace('"', "").split("=", 1) for p in re.findall(r'-p (\S+="[^"]*"|\S+)', line))
    s = unit_settings()
    assert s["WorkingDirectory"] == ["%S/listener"] and given.pop("WorkingDirectory") == "/var/lib/listener"
    for key in ("User", "SupplementaryGroups", "EnvironmentFile", "ProtectHome", "PrivateTmp"):
        assert key in given, key
    for key, value in given.items():
        assert s[key] == [value], key


def test_the_stop_budget_is_the_units_stop_timeout_less_a_margin(caplog: pytest.LogCaptureFixture) -> None:
    """Waits at a stop longer than systemd allows end in SIGKILL, before the open session's summary is out."""
    from listener.config import parse_config
    from listener.config.service_unit import STOP_BUDGET_S
    from listener.service import runner

    (timeout,) = unit_settings()["TimeoutStopSec"]
    assert float(timeout) - 5.0 == STOP_BUDGET_S
    with caplog.at_level("WARNING", logger="listener.service.runner"):
        runner._warn_of_a_long_stop(parse_config({"asr": {"enabled": True}, "mqtt": {"enabled": True}}))
        assert caplog.records == []  # the defaults, 30 + 2 s, fit
        long = {"asr": {"enabled": True, "finish_wait_s": 600.0}, "mqtt": {"enabled": True}}
        runner._warn_of_a_long_stop(parse_config(long))
    (record,) = caplog.records
    assert "= 602 s, more than the 40 s a stop may take" in record.getMessage()


# 38.4: 40.4 s was said as "40 s, more than the 40 s a stop may take", and so was 38.000001 with 6 digits
@pytest.mark.parametrize(
    ("finish_wait_s", "said"), [(30.0, False), (38.0, False), (38.4, True), (38.000001, True), (600.0, True)]
)
def test_check_config_says_a_stop_longer_than_the_unit_allows(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    finish_wait_s: float,
    said: bool,
) -> None:
    """The service said it at its start only: check-config passed the file without a word. A run by hand (no
    systemd, no TimeoutStopSec) still says nothing of it."""
    from listener.cli import main
    from listener.service import runner

    path = tmp_path / "listener.toml"
    path.write_text(f"[asr]\nenabled = true\nfinish_wait_s = {finish_wait_s}\n[mqtt]\nenabled = true\n")
    assert main(["check-config", str(path)]) == 0
    err = capsys.readouterr().err
    long = (
        "listener: warning at asr.finish_wait_s + mqtt.shutdown_drain_s = "
        f"{round(finish_wait_s + 2, 9):.10g} s, more than the 40 s a stop may take before systemd kills the service"
        " (TimeoutStopSec in listener.service): a stop while"
        " the recogniser lags could lose the open session's summary; lower them (defaults 30 and 2)\n"
    )
    assert err == (long if said else ""), err
    monkeypatch.delenv("INVOCATION_ID", raising=False)
    monkeypatch.setattr(runner, "run", lambda config, options: 0.0)
    with caplog.at_level("WARNING"):
        assert main(["run", "--config", str(path)]) == 0
    assert "a stop may take" not in caplog.text
