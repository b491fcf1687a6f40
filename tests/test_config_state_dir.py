"""A ``service.state_dir`` the service may not write is warned of: by check-config, and at the service's start.

listener.service's ProtectSystem=strict lets the service write only its StateDirectory=, /var/lib/listener
(and a drop-in's ReadWritePaths=). A state folder elsewhere passed check-config, and the service then stopped
at its start: "MQTT spool ... cannot be opened (Read-only file system)". Judged by the installed unit and its
drop-ins where there is one, else by the shipped unit's folder (a device's file checked on the installing host).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from listener.cli import main
from listener.config import service_unit
from listener.errors import SERVICE_STATE_DIR
from listener.service.runner import sample_conversation

SHIPPED_UNIT = Path(__file__).resolve().parents[1] / "systemd" / "listener.service"
STRICT = "[Service]\nStateDirectory=listener\nProtectSystem=strict\n"


@pytest.fixture
def unit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the installed unit goes, not installed: each test writes it, or leaves it out."""
    path = tmp_path / "system" / "listener.service"
    path.parent.mkdir()
    monkeypatch.setattr(service_unit, "SERVICE_UNIT_FILE", path)
    return path


def warnings_of(tmp_path: Path, capsys: pytest.CaptureFixture[str], state_dir: str | None) -> list[str]:
    config = tmp_path / "listener.toml"
    config.write_text(
        f'[service]\nstate_dir = "{state_dir}"\n' if state_dir is not None else "[leds]\nenabled = true\n"
    )
    assert main(["check-config", str(config)]) == 0
    out, err = capsys.readouterr()
    assert ": ok (" in out
    return [line for line in err.splitlines() if line.startswith("listener: warning at ")]


def test_a_state_dir_outside_the_units_folder_is_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], unit: Path
) -> None:
    state = tmp_path / "state"
    assert warnings_of(tmp_path, capsys, str(state)) == [
        f'listener: warning at service.state_dir = "{state}": the service (listener.service) may write only'
        f" /var/lib/listener, so {state} is read-only to it (with MQTT on the service stops at its start: its spool"
        " cannot be opened there); use /var/lib/listener (or a folder under it), or let the unit write it"
        f" (`sudo systemctl edit listener`: [Service] ReadWritePaths={state})"
    ]


@pytest.mark.parametrize("state_dir", [None, str(SERVICE_STATE_DIR), "/var/lib/listener/counter-3"])
def test_the_units_own_folder_says_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], unit: Path, state_dir: str | None
) -> None:
    assert warnings_of(tmp_path, capsys, state_dir) == []


def test_a_folder_above_it_is_outside(tmp_path: Path, capsys: pytest.CaptureFixture[str], unit: Path) -> None:
    (said,) = warnings_of(tmp_path, capsys, "/var/lib/listener/../listener-data")
    assert "so /var/lib/listener-data is read-only to it" in said, said


def test_the_installed_unit_and_its_drop_ins_are_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], unit: Path
) -> None:
    state = tmp_path / "state"
    unit.write_text(STRICT)
    assert len(warnings_of(tmp_path, capsys, str(state))) == 1
    # the fix the warning (and the spool's own error) names: a drop-in letting the unit write the folder
    drop_ins = unit.parent / "listener.service.d"
    drop_ins.mkdir()
    (drop_ins / "override.conf").write_text(f"[Service]\nReadWritePaths=-{state}\n")
    assert warnings_of(tmp_path, capsys, str(state)) == []
    (drop_ins / "zz-reset.conf").write_text("[Service]\nReadWritePaths=\n")  # an empty assignment clears the list
    assert len(warnings_of(tmp_path, capsys, str(state))) == 1
    unit.write_text("[Service]\nStateDirectory=listener\n")  # no ProtectSystem=strict: it may write any folder
    assert warnings_of(tmp_path, capsys, str(state)) == []


def test_writable_folders_add_up_across_the_unit_and_its_drop_ins(unit: Path) -> None:
    """StateDirectory= and ReadWritePaths= are lists that each line adds to, as systemd reads them: a drop-in
    letting the unit write one more folder keeps those the unit already wrote. Comment lines, a bare "#" among
    them, are no settings."""
    unit.write_text(f"#\n# ReadWritePaths=/etc\n{STRICT}ReadWritePaths=/srv/spool\n")
    drop_ins = unit.parent / "listener.service.d"
    drop_ins.mkdir()
    (drop_ins / "models.conf").write_text("[Service]\n;ReadWritePaths=/opt\nReadWritePaths=/srv/models /srv/cache\n")
    assert service_unit.writable_folders(unit) == (
        SERVICE_STATE_DIR,
        Path("/srv/spool"),
        Path("/srv/models"),
        Path("/srv/cache"),
    )


def test_the_shipped_unit_lets_the_service_write_its_state_folder_alone() -> None:
    """The folder assumed where no unit is installed is the shipped unit's, as it reads."""
    assert service_unit.writable_folders(SHIPPED_UNIT) == (SERVICE_STATE_DIR,)


def test_the_service_says_it_at_its_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, unit: Path
) -> None:
    config = tmp_path / "listener.toml"
    config.write_text(f'[leds]\nenabled = false\nbutton_pin = ""\n[service]\nstate_dir = "{tmp_path / "state"}"\n')
    run = ["run", "--config", str(config), "--input", str(sample_conversation()), "--fast"]
    monkeypatch.delenv("INVOCATION_ID", raising=False)
    with caplog.at_level(logging.WARNING):
        assert main(run) == 0
    assert "service.state_dir" not in caplog.text  # by hand: no unit, no sandbox
    caplog.clear()
    monkeypatch.setenv("INVOCATION_ID", "0123456789abcdef0123456789abcdef")  # as systemd starts the unit
    with caplog.at_level(logging.WARNING):
        assert main(run) == 0
    said = [r.getMessage() for r in caplog.records if "service.state_dir" in r.getMessage()]
    assert len(said) == 1 and said[0].startswith(f'config warning at service.state_dir = "{tmp_path / "state"}":')
