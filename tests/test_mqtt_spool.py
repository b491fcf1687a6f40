"""The MQTT spool: order, seq, overflow, and a spool the service cannot write (no broker needed). The device
identity and the [mqtt] rules: test_mqtt_settings.py."""

from __future__ import annotations

import json
import logging
import os
import pwd
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from listener.errors import OutputError
from listener.outputs.mqtt.spool import Spool, encode
from tests.forked import said_as
from tests.mqtt_feed import numbered


def test_spool_keeps_order_and_seq_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "spool.sqlite3"
    with Spool(path, max_messages=100) as spool:
        seqs = [spool.put("event", numbered(n)) for n in range(5)]
        assert seqs == sorted(seqs) and len(set(seqs)) == 5
        first = spool.after(0, 2)
        spool.delete([first[0].id])
        assert spool.depth == 4
    with Spool(path, max_messages=100) as spool:  # a process restart
        assert spool.depth == 4
        rows = spool.after(0, 100)
        assert [json.loads(r.payload)["n"] for r in rows] == [1, 2, 3, 4]
        assert [r.seq for r in rows] == seqs[1:]
        assert all(json.loads(r.payload)["seq"] == r.seq for r in rows)
        assert spool.put("event", numbered(5)) > seqs[-1]
        assert spool.next_seq() > seqs[-1] + 1


def test_a_new_spool_counts_on_above_a_lost_one(tmp_path: Path) -> None:
    """The device id outlives the spool (a fresh card image, a wiped state_dir), and consumers drop a seq
    they have seen per device: a new spool starts at the clock in milliseconds, above every earlier one."""
    path = tmp_path / "state" / "mqtt-spool.sqlite3"
    with Spool(path, max_messages=100) as spool:
        before = [spool.put("event", numbered(n)) for n in range(5)] + [spool.next_seq()]
    shutil.rmtree(path.parent)  # the spool, lost
    # A spool numbers fewer messages than the milliseconds it lives (a device sends a few a minute); these six
    # came within a millisecond or two, so let the clock pass them, as it has on a device long before.
    while time.time_ns() // 1_000_000 <= max(before):
        time.sleep(0.001)
    clock_ms = time.time_ns() // 1_000_000
    with Spool(path, max_messages=100) as spool:
        after = [spool.put("event", numbered(n)) for n in range(5)] + [spool.next_seq()]
        assert after == sorted(after) and len(set(after)) == 6  # on from there: by one, or to the clock (seq_after)
        in_memory = spool._connect(in_memory=True)  # the fallback when not even a fresh file can be written
        assert (in_memory.execute("SELECT value FROM counters WHERE name = 'seq'").fetchone() or (0,))[0] >= clock_ms
        in_memory.close()
    assert min(after) > clock_ms and min(after) > max(before)


def test_spool_commits_reach_the_disk_before_put_returns(tmp_path: Path) -> None:
    # a power cut must not roll back a message (or the seq counter) that may already have been sent
    with Spool(tmp_path / "spool.sqlite3", max_messages=10) as spool:
        assert spool.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert spool.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL: fsync at every commit


def test_spool_overflow_drops_oldest_and_counts(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with Spool(tmp_path / "s.sqlite3", max_messages=10) as spool:
        for n in range(25):
            spool.put("event", numbered(n))
        assert spool.depth == 10
        assert spool.dropped == 15
        assert [json.loads(r.payload)["n"] for r in spool.after(0, 100)] == list(range(15, 25))
    assert "spool full" in caplog.text


def test_a_spool_from_before_keeps_its_rows_but_not_their_device_id(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Rows used to hold the full topic: a device renamed (mqtt.device_id set, or a new default id)
    # sent its backlog under its old id, a phantom device. They are re-homed when the spool opens.
    path = tmp_path / "spool.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(
            "CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, payload BLOB NOT NULL,"
            " qos INTEGER NOT NULL, seq INTEGER NOT NULL);"
            "CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
            "INSERT INTO counters VALUES ('seq', 40);"
        )
        leaves = ["event", "metrics", "event", "session"]
        rows = [
            (f"listener/listener-0a1b2c3d/{leaf}", encode({**numbered(n), "seq": 37 + n}), 1, 37 + n)
            for n, leaf in enumerate(leaves)
        ]
        db.executemany("INSERT INTO outbox(topic, payload, qos, seq) VALUES (?, ?, ?, ?)", rows)
    with caplog.at_level(logging.INFO), Spool(path, max_messages=5) as spool:
        assert spool.depth == 4
        kept = spool.after(0, 100)
        assert [r.leaf for r in kept] == leaves
        assert [r.seq for r in kept] == [37, 38, 39, 40] and [json.loads(r.payload)["n"] for r in kept] == [0, 1, 2, 3]
        spool.put("event", numbered(4))
        spool.put("event", numbered(5))  # the bound still holds: the oldest goes
        assert [json.loads(r.payload)["n"] for r in spool.after(0, 100)] == [1, 2, 3, 4, 5]
    rehomed = "MQTT spool: 4 messages from before will be sent under the current device id"
    assert [r.getMessage() for r in caplog.records if "device id" in r.getMessage()] == [rehomed]
    caplog.clear()
    with caplog.at_level(logging.INFO), Spool(path, max_messages=5) as spool:  # again: nothing left to migrate
        assert [r.leaf for r in spool.after(0, 100)] == ["metrics", "event", "session", "event", "event"]
    assert not [r for r in caplog.records if "device id" in r.getMessage()]


def test_spool_in_unwritable_place_says_what_to_fix(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(OutputError, match="state_dir"):
        Spool(blocker / "spool.sqlite3", 10).open()


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A folder another user can reach (pytest's tmp_path sits in a folder only its owner may enter)."""
    folder = Path(tempfile.mkdtemp(prefix="listener-spool-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _started(path: Path) -> str:
    """What opening the spool at ``path`` says: its refusal, or "opened"."""
    try:
        Spool(path, max_messages=10).open()
    except OutputError as exc:
        return str(exc)
    return "opened"


def test_a_spool_the_service_user_may_not_write_stops_the_start_naming_the_owner(open_dir: Path) -> None:
    # `sudo listener run --input ...` once leaves a root-owned spool in the service's folder: sqlite
    # opens it read-only without a word, and every message was dropped with "free space" as the advice
    path = open_dir / "mqtt-spool.sqlite3"
    with Spool(path, max_messages=10) as spool:
        spool.put("event", numbered(0))

    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody").pw_uid
        os.chown(open_dir, nobody, -1)  # the folder is the service user's, the spool root's
        said = said_as(nobody, lambda: _started(path))
        assert f"{path} belongs to root, not to nobody that runs this" in said, said
        assert f"sudo chown -R nobody: {open_dir}" in said, said
    else:
        path.chmod(0o444)
        said = _started(path)
        assert f"{path} has mode 444" in said and "sudo chown -R" in said, said
    assert "readonly database" in said and "free space" not in said, said


def test_a_state_folder_its_owner_may_not_write_in_stops_the_start_naming_its_mode(open_dir: Path) -> None:
    # no spool yet, and sqlite cannot make one ("unable to open database file"): that is the folder's mode,
    # which a chown alone does not cure
    path = open_dir / "mqtt-spool.sqlite3"
    open_dir.chmod(0o555)

    if os.geteuid() == 0:  # root writes anyway: the service user's view
        user = "nobody"
        os.chown(open_dir, pwd.getpwnam(user).pw_uid, -1)
        said = said_as(pwd.getpwnam(user).pw_uid, lambda: _started(path))
    else:
        user, said = pwd.getpwuid(os.geteuid()).pw_name, _started(path)
    assert said == (
        f"MQTT spool {path} cannot be written (unable to open database file): {open_dir} has mode 555, which {user}"
        f" may not write; fix: `sudo chown -R {user}: {open_dir} && sudo chmod -R u+rwX {open_dir}`"
    )


def test_a_spool_that_turns_read_only_says_chown_not_free_space(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "mqtt-spool.sqlite3"
    with Spool(path, max_messages=10) as spool:
        spool.db.close()  # what a read-only spool gives at every write: SQLITE_READONLY
        spool._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
        assert spool.put("event", numbered(0)) > 0  # kept in memory (see spool_held), not dropped
        assert spool.held == 1 and spool.dropped == 0
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and "cannot be written" in r.getMessage()]
    assert len(errors) == 2, caplog.text  # the message waiting in memory, then its loss at the stop
    assert "1 messages wait in memory" in errors[0].getMessage() and "lost at this stop" in errors[1].getMessage()
    text = errors[0].getMessage()
    assert "attempt to write a readonly database" in text and "free " not in text, text
    if os.geteuid() == 0:  # root may write any file: no chown would help, and one would lock the service out
        assert "refuses writes even to root" in text and "chown" not in text, text
    else:
        assert f": {tmp_path}`" in text, text


def test_messages_the_broker_refused_while_the_spool_cannot_be_written_are_still_counted(tmp_path: Path) -> None:
    # the publisher counts a message the broker refused (ACL) in spool_dropped; with the disk full or read-only
    # at that moment the counter cannot be stored, and a loss left uncounted would read as none on the dashboard
    path = tmp_path / "mqtt-spool.sqlite3"
    with Spool(path, max_messages=10) as spool:
        spool.put("event", numbered(0))
        spool.count_dropped(2)  # stored: the file's counter
        spool.db.close()  # every write now fails, as on a full or read-only card
        spool._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
        spool.count_dropped(3)
        assert spool.dropped == 5 and spool.counter("dropped") == 2  # the 3 in memory, beside the file's 2
        assert spool.depth == 1  # the stored message is untouched


SPOOL_ON_A_PRIVATE_MOUNT = """
import logging, sys
from pathlib import Path
from listener.outputs.mqtt.spool import Spool
logging.basicConfig(stream=sys.stdout, format="%(message)s")  # what the spool says of its start, too
path = Path(sys.argv[2]) / "mqtt-spool.sqlite3"
if sys.argv[1] == "fill":
    with Spool(path, max_messages=10) as spool:
        spool.put("event", {"n": 0})
else:
    try:
        Spool(path, max_messages=10).open()
    except OSError as exc:
        print(exc)
"""


def _on_a_private_mount(folder: Path, steps: str, env: dict[str, str] | None = None, options: str = "") -> str:
    """What opening the spool in ``folder`` printed, with ``folder`` a 1 MB tmpfs (and mount ``options``) mounted
    in a private namespace and the shell's ``steps`` run there between the spool's making (one message) and its
    opening."""
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare (util-linux) to mount a file system in a private namespace")
    py = f"{sys.executable} -c '{SPOOL_ON_A_PRIVATE_MOUNT}'"
    mount = f"mount -t tmpfs -o size=1m{options} tmpfs {folder}"
    script = f"{mount} && {py} fill {folder} && {steps.format(folder=folder)} && {py} open {folder}"
    result = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, timeout=60, env=env)
    if "mount" in result.stderr and result.returncode != 0:
        pytest.skip(f"no private mounts here: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("service", [False, True], ids=["by-hand", "under-systemd"])
def test_a_spool_on_a_read_only_card_says_so_not_chown(tmp_path: Path, service: bool) -> None:
    # ext4 remounts a failing SD card read-only: the files are still the service's, so a chown is no fix;
    # but under systemd a folder outside /var/lib/listener is read-only by the unit's ProtectSystem=strict
    folder = tmp_path / "state"
    folder.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "INVOCATION_ID"} | ({"INVOCATION_ID": "1"} if service else {})
    said = _on_a_private_mount(folder, "mount -o remount,ro {folder}", env)
    assert "chown" not in said, said
    if service:
        assert "is read-only to the service: set [service] state_dir under /var/lib/listener" in said
        assert "ReadWritePaths=" in said and "card" not in said, said
    else:
        assert "is on a read-only file system" in said, said


def test_a_spool_on_a_full_card_says_free_space_not_replace_the_card(tmp_path: Path) -> None:
    """A start on a full card fails sizing the -shm file: sqlite says "disk I/O error", and the advice was the
    failing card's (`dmesg`, repair or replace it) for a card that is sound, only full. The device now runs on
    with the spool in memory (tests/test_mqtt_full_card.py), and says so in that one line."""
    folder = tmp_path / "state"
    folder.mkdir()
    said = _on_a_private_mount(folder, "(cat /dev/zero > {folder}/fill 2>/dev/null || true)")  # to the last byte
    spool = folder / "mqtt-spool.sqlite3"
    assert said.startswith(f"MQTT spool {spool} cannot be opened (disk I/O error): the card is full: "), said
    assert "the device runs on, its messages waiting in memory" in said and said.count("\n") == 1, said
    assert f"free at least 1 MB on it (`df -h {folder}`;" in said and "dmesg" not in said, said


def test_a_spool_on_a_card_out_of_inodes_says_so_not_lsattr_or_chown(tmp_path: Path) -> None:
    """No file can be made (no inode left): sqlite says "unable to open database file" of the -wal, and the advice
    was root's `mount`/`lsattr`, a user's chown, for a folder that is writable, only full of files."""
    folder = tmp_path / "state"
    folder.mkdir()
    make_files = "n=0; while touch {folder}/f$n 2>/dev/null; do n=$((n+1)); done"
    said = _on_a_private_mount(folder, make_files, options=",nr_inodes=16")
    assert f"{folder} is on a card with no free inodes (too many files on it): remove files (`df -i {folder}`)" in said
    assert "lsattr" not in said and "chown" not in said, said


def test_after_a_restart_seq_counts_on_from_the_spool_even_when_it_cannot_be_written(tmp_path: Path) -> None:
    """Subscribers drop a seq they have seen: a restarted device whose spool turned unwritable must
    count on from its last seq, not hand 1, 2, ... out again to new messages."""
    path = tmp_path / "mqtt-spool.sqlite3"
    with Spool(path, max_messages=100) as spool:
        last = max(spool.put("event", numbered(n)) for n in range(5))
    with Spool(path, max_messages=100) as spool:  # a restart
        spool.db.close()  # and now every write fails, as on a read-only or full disk
        spool._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
        assert spool.next_seq() > last


def test_an_unwritable_spool_is_told_once_then_every_hundredth_message_held_not_at_every_seq(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A full SD card with the broker away: each connection attempt stamps two seqs (online, the Last Will),
    and each failed stamp warned again while no message or only one had been dropped: about two lines a
    minute in the journal, on the full card."""
    caplog.set_level(logging.WARNING, logger="listener.outputs.mqtt.spool")
    with Spool(tmp_path / "mqtt-spool.sqlite3", max_messages=1000) as spool:
        spool.put("event", numbered(0))
        spool.db.execute("PRAGMA query_only = ON")  # every write fails now, as on a full disk
        for n in range(1, 151):
            spool.stamp({"state": "online"})
            spool.stamp({"state": "offline"})
            spool.set_counter("sessions_today", n)
            assert spool.put("event", numbered(n)) > 0  # kept in memory
    told = [r.getMessage() for r in caplog.records if "cannot be written" in r.getMessage()]
    # the first failure (a seq), the first message kept in memory, the 100th; then the stop's loss
    assert len(told) == 4, told
    assert "messages wait" not in told[0] and "): 1 messages wait in memory" in told[1], told
    assert "): 100 messages wait in memory" in told[2] and "150 messages waiting in memory are lost" in told[3]


def test_a_full_disk_says_free_space_not_chown(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="listener.outputs.mqtt.spool")
    with Spool(tmp_path / "mqtt-spool.sqlite3", max_messages=1000) as spool:
        # max_page_count: the file may not grow, as on a full card (sqlite's SQLITE_FULL either way)
        spool.db.execute(f"PRAGMA max_page_count = {spool.db.execute('PRAGMA page_count').fetchone()[0]}")
        puts = [spool.put("event", numbered(n)) for n in range(200)]
        assert -1 not in puts and spool.held > 0
    told = [r for r in caplog.records if "cannot be written" in r.getMessage()]
    assert told and told[0].levelno == logging.WARNING, caplog.text
    said = told[0].getMessage()
    assert "(database or disk is full)" in said and "chown" not in said, said
    assert said.endswith(f"the card is full: free at least 1 MB on it (`df -h {tmp_path}`; the journal's old files: "
                         "`sudo journalctl --vacuum-size=50M`)"), said  # fmt: skip


def test_seq_handed_out_while_the_spool_could_not_be_written_is_not_handed_out_again(tmp_path: Path) -> None:
    """While the disk is full, seq counts on in memory (retained state and status still go out); the file's
    counter stayed behind, so once it could be written again the next seqs were ones already sent."""
    path = tmp_path / "mqtt-spool.sqlite3"
    with Spool(path, max_messages=100) as spool:
        spool.put("event", numbered(0))
        spool.db.execute("PRAGMA query_only = ON")  # every write fails now, as on a full disk
        sent = [spool.next_seq() for _ in range(3)]
        held = spool.put("event", numbered(1))  # kept in memory, as on a full disk
        spool.db.execute("PRAGMA query_only = OFF")  # space again
        after = [spool.next_seq(), spool.put("event", numbered(2))]
    assert [*sent, held, *after] == sorted({*sent, held, *after})  # none again, none lower
    with Spool(path, max_messages=100) as spool:  # and the file remembers it, and the message kept in memory
        assert spool.counter("seq") == after[-1] and spool.next_seq() > after[-1]
        assert [json.loads(row.payload)["n"] for row in spool.after(0, 10)] == [0, 1, 2]


@pytest.mark.parametrize("below", ["", "sub"])  # the state folder itself, or a folder above the spool's
@pytest.mark.parametrize("kind", ["file", "link to nothing", "loop of links"])
def test_a_state_dir_that_is_a_file_or_a_link_to_nothing_is_named_as_one(tmp_path: Path, below: str, kind: str) -> None:
    """mkdir said "[Errno 17] File exists", and the fix "check that service.state_dir exists" misled: something
    does exist there, a file, or a link to a card's folder that is not mounted (or was deleted)."""
    state, target = tmp_path / "state", tmp_path / "card" / "listener"
    if kind == "file":
        state.write_text("")
    else:
        state.symlink_to(target if kind == "link to nothing" else state)
    spool = state / below / "mqtt-spool.sqlite3"
    with pytest.raises(OutputError) as err, Spool(spool, max_messages=10):
        pass
    dangling = f"is a link to {target}, which does not exist: make that folder (mount its card), or"
    loop = f"is a link to {state}, which leads round in a loop: replace it with a folder, or"
    what = {"file": "is a file, not a folder:", "link to nothing": dangling, "loop of links": loop}[kind]
    if kind == "loop of links" and below:  # mkdir meets the loop on its way: the kernel's words, and their fix
        assert str(err.value).endswith(
            "cannot be opened (Too many levels of symbolic links): fix the symbolic links in the path"
        )
        return
    assert str(err.value) == (
        f"MQTT spool {spool} cannot be made: {state} {what} point [service] state_dir at a folder (the service's is "
        "/var/lib/listener)"
    )


def test_a_full_spool_says_so_once_then_every_hundredth_drop_with_the_count(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # a warning per message dropped: 103 lines for one 8-minute recording with spool_max_messages = 10
    with caplog.at_level(logging.WARNING), Spool(tmp_path / "s.sqlite3", max_messages=10) as spool:
        for n in range(10 + 250):
            spool.put("event", numbered(n))
        told = [r.getMessage() for r in caplog.records if "spool full" in r.getMessage()]
        assert [t.split(", ")[1].split(" (")[0] for t in told] == [f"{k} dropped so far" for k in (1, 100, 200)]
        assert "raise mqtt.spool_max_messages" in told[0]
        spool.delete([row.id for row in spool.after(0, 100)])  # the backlog sent: a later overflow is news
        caplog.clear()
        for n in range(11):
            spool.put("event", numbered(n))
    told = [r.getMessage() for r in caplog.records if "spool full" in r.getMessage()]
    assert len(told) == 1 and "251 dropped so far" in told[0], told
