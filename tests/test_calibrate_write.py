"""`listener calibrate --write`: the directions go into the config file, and nothing else in it changes."""

from __future__ import annotations

import errno
import os
import re
import stat
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from listener.cli import main
from listener.config import load_config
from listener.errors import CalibrationError, ConfigFileError
from listener.service.calibrate import edit_parties, write_parties
from listener.service.calibrate.write import write_channels
from tests import calibrate_cases
from tests.calibrate_cases import CONFIG_TEXT, REP_DEG, angle_error, printed
from tests.folders import folder_syncs

two_talkers = calibrate_cases.two_talkers  # fixture


def test_write_keeps_the_rest_of_the_file(
    two_talkers: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "listener.toml"
    path.write_text(CONFIG_TEXT)
    path.chmod(0o640)
    assert main(["calibrate", "--config", str(path), "--input", str(two_talkers), "--write"]) == 0
    found = printed(capsys.readouterr().out)
    text = path.read_text()
    expected = CONFIG_TEXT.replace("rep_azimuth_deg = 0.0", f"rep_azimuth_deg = {found['rep']:.1f}").replace(
        "customer_azimuth_deg = 180.0", f"customer_azimuth_deg = {found['customer']:.1f}"
    )
    assert text == expected  # comments, spacing, other keys and tables untouched
    assert path.stat().st_mode & 0o777 == 0o640
    config = load_config(path)
    assert config.parties.rep_azimuth_deg == found["rep"]
    assert config.parties.customer_azimuth_deg == found["customer"]
    assert config.parties.sector_half_width_deg == 50.0
    assert not [p for p in tmp_path.iterdir() if p.name != "listener.toml"]  # no temporary file left


@pytest.mark.parametrize("installed", ["absent", "a loop of links"])
def test_a_file_other_than_the_services_is_written_without_a_restart_to_do(
    two_talkers: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    installed: str,
) -> None:
    """ "restart the service" after writing a scratch file: the service does not read it. With the installed
    config's path a loop of links, the file was written and a traceback followed (Python 3.11's resolve)."""
    if installed == "a loop of links":
        import listener.config

        loop = tmp_path / "loop.toml"
        loop.symlink_to(loop)
        monkeypatch.setattr(listener.config, "INSTALLED_CONFIG", loop)
    path = tmp_path / "scratch.toml"
    path.write_text(CONFIG_TEXT)
    assert main(["calibrate", "--config", str(path), "--input", str(two_talkers), "--write"]) == 0
    out = capsys.readouterr().out
    assert f"written to [parties] in {path}\n" in out and "systemctl" not in out


@pytest.mark.parametrize("write", [True, False])
def test_a_config_name_that_is_not_utf8_is_shown_as_every_message_shows_it(
    two_talkers: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], write: bool
) -> None:
    path = Path(os.fsdecode(os.fsencode(tmp_path) + b"/\xffc.toml"))
    path.write_text(CONFIG_TEXT)
    assert main(["calibrate", "--config", str(path), "--input", str(two_talkers), *(["--write"] if write else [])]) == 0
    out = capsys.readouterr().out
    assert "\\xffc.toml" in out and "\udcff" not in out, out


def test_the_written_file_is_on_the_disk_under_its_name_before_a_power_cut(
    two_talkers: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the content was synced, its new name (the rename over the old file) left to ext4's commit
    path = tmp_path / "listener.toml"
    path.write_text(CONFIG_TEXT)
    synced = folder_syncs(monkeypatch, tmp_path)
    assert main(["calibrate", "--config", str(path), "--input", str(two_talkers), "--write"]) == 0
    assert len(synced) == 1


PARTIES_NOT_A_TABLE = {  # [parties] as TOML also allows it, with no [parties] line for the edit to find
    "inline table": "parties = { rep_azimuth_deg = 0.0, customer_azimuth_deg = 180.0 }\n",
    "dotted keys": "parties.rep_azimuth_deg = 0.0\nparties.customer_azimuth_deg = 180.0\n",
}


@pytest.mark.parametrize("form", PARTIES_NOT_A_TABLE)
def test_parties_written_without_a_table_line_is_left_alone_with_the_values_to_set_by_hand(
    two_talkers: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], form: str
) -> None:
    """The edit would add a [parties] table where it finds no [parties] line, which TOML refuses beside the inline
    table or the dotted keys: the file is not written, and the one line says why (it said "the edited file would
    not be valid TOML (Cannot declare ('parties',) twice (at line 5 ...", a line of no file the user has) and gives
    the measured values to set."""
    text = PARTIES_NOT_A_TABLE[form] + '[array]\npreset = "respeaker-4mic"\n'
    path = tmp_path / "listener.toml"
    path.write_text(text)
    assert main(["calibrate", "--config", str(path), "--input", str(two_talkers), "--write"]) == 2
    out, err = capsys.readouterr()
    found = printed(out)
    assert err.startswith(f"listener: {path}: [parties] is written as an inline table or dotted keys ("), err
    by_hand = f"set rep_azimuth_deg = {found['rep']:.1f} and customer_azimuth_deg = {found['customer']:.1f}"
    assert err.endswith(f"which calibrate does not edit; {by_hand} in [parties] by hand\n"), err
    assert err.count("\n") == 1, err
    assert path.read_text() == text


def test_write_needs_a_config_file(two_talkers: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # no installed config either (tests/conftest.py's no_installed_config)
    assert main(["calibrate", "--input", str(two_talkers), "--write"]) == 2
    assert "--write needs --config FILE" in capsys.readouterr().err


def test_on_a_device_it_calibrates_and_writes_the_installed_config(
    two_talkers: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`sudo listener calibrate --write` by hand on a device: the geometry and the file of its service, as
    doctor and leds-off read them, not the built-in 4-mic defaults with nowhere to write."""
    import listener.config

    installed = tmp_path / "listener.toml"
    installed.write_text(CONFIG_TEXT)
    monkeypatch.setattr(listener.config, "INSTALLED_CONFIG", installed)
    assert main(["calibrate", "--input", str(two_talkers), "--write"]) == 0
    out = capsys.readouterr().out
    assert f"written to [parties] in {installed}; restart the service: sudo systemctl restart listener" in out
    found = printed(out)
    assert load_config(installed).parties.rep_azimuth_deg == found["rep"]
    assert angle_error(found["rep"], REP_DEG) <= 10.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[array]\npreset = 'respeaker-4mic'\n", "[array]\npreset = 'respeaker-4mic'\n\n[parties]\n"
         "rep_azimuth_deg = 40.0\ncustomer_azimuth_deg = 220.0\n"),
        ("[parties]\nmode = 'doa'\n\n[leds]\nenabled = false\n", "[parties]\nmode = 'doa'\nrep_azimuth_deg = 40.0\n"
         "customer_azimuth_deg = 220.0\n\n[leds]\nenabled = false\n"),
        # a CRLF file (Notepad's) gets CRLF on every line added, or it ends up with mixed line endings
        ("[parties] # by the till\r\ncustomer_azimuth_deg=1 # x\r\n", "[parties] # by the till\r\n"
         "customer_azimuth_deg=220.0 # x\r\nrep_azimuth_deg = 40.0\r\n"),
        ("[parties]\r\nmode = 'doa'", "[parties]\r\nmode = 'doa'\r\nrep_azimuth_deg = 40.0\r\n"
         "customer_azimuth_deg = 220.0\r\n"),
        ("[array]\r\nblock_ms = 100\r\n", "[array]\r\nblock_ms = 100\r\n\r\n[parties]\r\n"
         "rep_azimuth_deg = 40.0\r\ncustomer_azimuth_deg = 220.0\r\n"),
        ("[array]\r\nblock_ms = 100", "[array]\r\nblock_ms = 100\r\n\r\n[parties]\r\n"
         "rep_azimuth_deg = 40.0\r\ncustomer_azimuth_deg = 220.0\r\n"),
        ("[parties]\nrep_azimuth_deg = 1.0", "[parties]\nrep_azimuth_deg = 40.0\ncustomer_azimuth_deg = 220.0\n"),
        ("[parties]\nmode = 'doa'", "[parties]\nmode = 'doa'\nrep_azimuth_deg = 40.0\ncustomer_azimuth_deg = 220.0\n"),
        # headers as TOML reads them: a quoted name is the table; a '[parties]' inside a string is not
        ('[ "parties" ]\nrep_azimuth_deg = 1.0\n', '[ "parties" ]\nrep_azimuth_deg = 40.0\n'
         "customer_azimuth_deg = 220.0\n"),
        ('[x]\nnote = """\n[parties]\n"""\n', '[x]\nnote = """\n[parties]\n"""\n\n[parties]\n'
         "rep_azimuth_deg = 40.0\ncustomer_azimuth_deg = 220.0\n"),
        # a quoted key is the same key: added again unquoted, the file held it twice and was refused as not TOML
        ('[parties]\n"rep_azimuth_deg" = 1.0\n\'customer_azimuth_deg\' = 2.0  # x\n', '[parties]\n'
         '"rep_azimuth_deg" = 40.0\n\'customer_azimuth_deg\' = 220.0  # x\n'),
    ],
)  # fmt: skip
def test_edit_parties(text: str, expected: str) -> None:
    edited = edit_parties(text, {"rep_azimuth_deg": 40.0, "customer_azimuth_deg": 220.0})
    assert edited == expected


# --- the file ---------------------------------------------------------------------------


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another owner needs root")
def test_write_keeps_owner_group_and_mode(two_talkers: Path, tmp_path: Path) -> None:
    path = tmp_path / "listener.toml"
    path.write_text(CONFIG_TEXT)
    os.chown(path, 0, 65534)  # root:nogroup, as provision.sh leaves /etc/listener/listener.toml readable
    path.chmod(0o640)
    assert main(["calibrate", "--config", str(path), "--input", str(two_talkers), "--write"]) == 0
    after = path.stat()
    assert (after.st_uid, after.st_gid, after.st_mode & 0o7777) == (0, 65534, 0o640)


def test_write_goes_through_a_symlink(two_talkers: Path, tmp_path: Path) -> None:
    real = tmp_path / "etc" / "listener.toml"
    real.parent.mkdir()
    real.write_text(CONFIG_TEXT)
    link = tmp_path / "listener.toml"
    link.symlink_to(real)
    assert main(["calibrate", "--config", str(link), "--input", str(two_talkers), "--write"]) == 0
    assert link.is_symlink() and link.resolve() == real
    assert angle_error(load_config(real).parties.rep_azimuth_deg, REP_DEG) <= 10.0
    assert sorted(p.name for p in real.parent.iterdir()) == ["listener.toml"]


NODES = {"device": stat.S_IFCHR, "pipe": stat.S_IFIFO, "socket": stat.S_IFSOCK}


def special_file(path: Path, kind: str) -> None:
    """A node of the test's own at ``path`` (never the machine's /dev/null): a null device, a pipe or a socket."""
    try:
        os.mknod(path, NODES[kind] | 0o666, os.makedev(1, 3))  # /dev/null's numbers: reads as empty, takes any write
    except PermissionError:
        pytest.skip("making a device node needs root")


@pytest.mark.parametrize(("kind", "linked"), [("device", False), ("device", True), ("pipe", False), ("socket", False)])
@pytest.mark.parametrize(
    ("write", "values"), [(write_parties, (40.0, 220.0)), (write_channels, (1, 0))], ids=["parties", "channels"]
)
def test_write_refuses_a_target_that_is_not_a_file(
    tmp_path: Path,
    kind: str,
    linked: bool,
    write: Callable[[Path, Any, Any], None],
    values: tuple[float, float],
) -> None:
    """The edited copy renamed over a device replaced it (as root, /dev/null became a file for every program).
    The CLI refuses one before listening; write_parties and write_channels refuse it for every other caller,
    a symlink judged by where it points; a pipe is refused at once, not after the config loader's wait."""
    node = tmp_path / "node.toml"
    special_file(node, kind)
    path = node
    if linked:
        path = tmp_path / "listener.toml"
        path.symlink_to(node)
    with pytest.raises(CalibrationError, match=rf"^{re.escape(str(path))} is a {kind}, not a file: .* by hand$"):
        write(path, *values)
    assert stat.S_IFMT(node.stat().st_mode) == NODES[kind]  # still the node it was
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted({node.name, path.name})  # no copy left behind


def test_write_keeps_a_byte_order_mark_and_crlf(two_talkers: Path, tmp_path: Path) -> None:
    # Notepad saves UTF-8 with a byte-order mark and CRLF line ends; the loader reads it, so must --write
    path = tmp_path / "listener.toml"
    original = b"\xef\xbb\xbf" + CONFIG_TEXT.replace("\n", "\r\n").encode()
    path.write_bytes(original)
    assert main(["calibrate", "--config", str(path), "--input", str(two_talkers), "--write"]) == 0
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf# counter 3, front door side\r\n")
    assert data.count(b"\r\n") == original.count(b"\r\n") and b"\n" not in data.replace(b"\r\n", b"")
    assert angle_error(load_config(path).parties.rep_azimuth_deg, REP_DEG) <= 10.0


def test_write_leaves_one_byte_order_mark_of_two(two_talkers: Path, tmp_path: Path) -> None:
    # the loader reads a file converted twice; --write read the second mark as part of the first line
    path = tmp_path / "listener.toml"
    path.write_bytes(b"\xef\xbb\xbf\xef\xbb\xbf" + CONFIG_TEXT.encode())
    assert main(["calibrate", "--config", str(path), "--input", str(two_talkers), "--write"]) == 0
    assert path.read_bytes().startswith(b"\xef\xbb\xbf# counter 3, front door side\n")
    assert angle_error(load_config(path).parties.rep_azimuth_deg, REP_DEG) <= 10.0


def test_write_adds_a_missing_key_with_the_files_crlf(two_talkers: Path, tmp_path: Path) -> None:
    # a key the [parties] table lacks is added with CRLF too: no bare LF among a Notepad file's CRLFs
    path = tmp_path / "listener.toml"
    text = CONFIG_TEXT.replace("customer_azimuth_deg = 180.0\n", "").replace("\n", "\r\n")
    path.write_bytes(text.encode())
    assert main(["calibrate", "--config", str(path), "--input", str(two_talkers), "--write"]) == 0
    data = path.read_bytes()
    assert b"\n" not in data.replace(b"\r\n", b"") and data.count(b"\r\n") == text.count("\r\n") + 1
    assert b"\r\ncustomer_azimuth_deg = " in data
    assert angle_error(load_config(path).parties.rep_azimuth_deg, REP_DEG) <= 10.0


NOTE = "user.listener.note"  # a user.* attribute: set without root wherever the file system has them
ACL = "system.posix_acl_access"
UNDEFINED_ID = 0xFFFFFFFF


def service_may_read_acl(uid: int) -> bytes:
    """The kernel's form of `setfacl -m u:UID:r`: owner rw, user UID r, group r, mask r, others none."""
    entries = [(0x01, 6, UNDEFINED_ID), (0x02, 4, uid), (0x04, 4, UNDEFINED_ID), (0x10, 4, UNDEFINED_ID)]
    entries.append((0x20, 0, UNDEFINED_ID))
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *entry) for entry in entries)


def with_attributes(path: Path) -> bool:
    """Give ``path`` a user.* attribute (skip the test where the file system has none) and, where it takes
    one, an ACL letting user 65534 read it: True when the ACL was set."""
    path.write_text(CONFIG_TEXT)
    path.chmod(0o640)
    try:
        os.setxattr(path, NOTE, b"counter 3")
    except OSError as exc:
        if exc.errno in (errno.ENOTSUP, errno.ENOSYS):
            pytest.skip(f"the file system of {path.parent} has no extended attributes")
        raise
    try:
        os.setxattr(path, ACL, service_may_read_acl(65534))
    except OSError:
        return False
    return True


def test_write_keeps_extended_attributes_and_the_acl(tmp_path: Path) -> None:
    path = tmp_path / "listener.toml"
    has_acl = with_attributes(path)
    write_parties(path, 40.0, 220.0)
    assert load_config(path).parties.rep_azimuth_deg == 40.0
    assert os.getxattr(path, NOTE) == b"counter 3"
    if has_acl:  # the service user's read access, given by the ACL, survives the rewrite
        assert os.getxattr(path, ACL) == service_may_read_acl(65534)
        assert path.stat().st_mode & 0o777 == 0o640


def test_an_attribute_that_cannot_be_kept_refuses_the_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "listener.toml"
    with_attributes(path)

    def refused(*args: object) -> None:
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "setxattr", refused)
    with pytest.raises(ConfigFileError, match=rf"carries the extended attribute {NOTE}.*by hand"):
        write_parties(path, 40.0, 220.0)
    assert path.read_text() == CONFIG_TEXT
    assert [p.name for p in tmp_path.iterdir()] == ["listener.toml"]  # no temporary copy left behind
