"""Which file system a folder is on, for ``listener doctor``'s disk check.

A state_dir such as ``/sys/listener`` cannot be made by anyone: sysfs, proc
and their kin hold what the kernel makes up, and a read-only mount takes no
files whoever owns it. A chown, the fix for an ordinary refusal, would be
advice that cannot work, so the disk check asks the mount table first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

MOUNTS = Path("/proc/self/mounts")
# file systems whose files the kernel makes up: nothing of ours can be stored there (tmpfs can, until a reboot)
VIRTUAL = frozenset(
    {
        "autofs", "binfmt_misc", "bpf", "cgroup", "cgroup2", "configfs", "debugfs", "devpts", "devtmpfs",
        "efivarfs", "fusectl", "hugetlbfs", "mqueue", "nsfs", "proc", "pstore", "rpc_pipefs", "securityfs",
        "selinuxfs", "sysfs", "tracefs",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Mount:
    point: Path
    fs_type: str
    read_only: bool


def mount_of(path: Path) -> Mount | None:
    """The mount ``path`` is on, as /proc/self/mounts lists it; None where the table cannot be read."""
    try:
        table = MOUNTS.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    target = path.resolve()
    found: Mount | None = None
    for line in table.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        point = Path(_unescape(fields[1]))
        # the longest mount point above the path; of equal ones the later, mounted over the earlier
        if (point == target or point in target.parents) and (
            found is None or len(point.parts) >= len(found.point.parts)
        ):
            found = Mount(point, fields[2], "ro" in fields[3].split(","))
    return found


def unfit_file_system(path: Path) -> tuple[str, bool]:
    """Why no folder can be kept on the file system ``path`` is on ('' when it can): 'on /sys (sysfs), ...';
    and whether that is because it is mounted read-only."""
    mount = mount_of(path)
    if mount is None:
        return "", False
    if mount.fs_type in VIRTUAL:
        return f"on {mount.point} ({mount.fs_type}), a virtual file system, which cannot hold it", False
    if mount.read_only:
        return f"on {mount.point} ({mount.fs_type}), a read-only file system, which cannot hold it", True
    return "", False


def _unescape(field: str) -> str:
    # the kernel writes a space, tab, newline or backslash in a mount point as an octal escape (\040)
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)
