"""What a file passed as the config is, when it is no text at all: said instead of "save it as UTF-8".

A compressed backup of the config, a program or a database passed by mistake failed with "byte 1 (0x8b)
is not UTF-8 text: save it as UTF-8", a fix that makes no sense for them.
"""

from __future__ import annotations

# the first bytes of the binary files most likely passed by mistake (a compressed backup, a program)
_MAGIC = {
    b"\x1f\x8b": "a gzip-compressed file (unpack it: gunzip)",
    b"\x7fELF": "a program (an ELF binary)",
    b"PK\x03\x04": "a zip archive",
    b"BZh": "a bzip2-compressed file",
    b"\xfd7zXZ\x00": "an xz-compressed file",
    b"\x28\xb5\x2f\xfd": "a zstd-compressed file",
    b"\x89PNG": "a PNG image",
    b"%PDF": "a PDF document",
    b"SQLite format 3\x00": "an SQLite database",
}
_BINARY_SHARE = 0.1  # of its first KiB in control bytes text never holds: binary, not a text file's stray NUL


def binary_kind(raw: bytes) -> str | None:
    """What binary file ``raw`` is, or None for text (UTF-16 included: its NULs are half its bytes)."""
    for magic, kind in _MAGIC.items():
        if raw.startswith(magic):
            return kind
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16's byte-order mark: text, said with its own fix
        return None
    head = raw[:1024]
    controls = sum(byte < 0x20 and byte not in b"\t\n\r\x0c" for byte in head)
    return "a binary file" if head and controls > _BINARY_SHARE * len(head) else None
