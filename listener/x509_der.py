"""What strict X.509 verification looks at in a certificate, read from its DER bytes.

Python's ssl module names a refused certificate's defect (``verify_message``) but not which certificate of the
chain has it, and reads no extensions; the ``cryptography`` package would, at the weight of a wheel for a dozen
fields. DER is regular enough to read them here: bytes that are no certificate raise ``ValueError``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

_SHORT_NAMES = {
    "2.5.4.3": "CN",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "1.2.840.113549.1.9.1": "emailAddress",
}
BASIC_CONSTRAINTS, KEY_USAGE, SUBJECT_ALT_NAME = "2.5.29.19", "2.5.29.15", "2.5.29.17"
SUBJECT_KEY_ID, AUTHORITY_KEY_ID = "2.5.29.14", "2.5.29.35"
# keyUsage's first byte as OpenSSL keeps it (ex_kusage): bit 5 keyCertSign, bit 6 cRLSign
KU_KEY_CERT_SIGN, KU_CRL_SIGN = 0x04, 0x02
_BOOLEAN, _INTEGER, _T61_STRING, _BMP_STRING = 0x01, 0x02, 0x14, 0x1E
_VERSION, _EXTENSIONS, _KEY_ID = 0xA0, 0xA3, 0x80  # [0] and [3] EXPLICIT in the TBS; AKID's [0] IMPLICIT


class _Node(NamedTuple):
    tag: int
    head: int  # where its tag is
    start: int  # where its value is
    end: int


@dataclass(frozen=True)
class Extension:
    critical: bool
    value: bytes  # the DER inside extnValue's OCTET STRING


@dataclass(frozen=True)
class Certificate:
    """The fields of one certificate that RFC 5280's rules (OpenSSL's X509_V_FLAG_X509_STRICT) judge."""

    der: bytes
    version: int  # 1 to 3, as named in X.509 (OpenSSL counts from 0)
    subject: str  # "O=Store, CN=Store CA": the certificate's names in its order
    subject_entries: int
    issuer_entries: int
    self_issued: bool  # subject and issuer the same name: a root CA
    algorithms_agree: bool  # the signature's algorithm as the signed part names it
    extensions: dict[str, Extension]

    def has(self, oid: str) -> bool:
        return oid in self.extensions

    def critical(self, oid: str) -> bool:
        return oid in self.extensions and self.extensions[oid].critical

    def inner(self, oid: str) -> list[tuple[int, bytes]]:
        """The elements (tag, value) of the SEQUENCE extension ``oid`` holds; [] without it."""
        if oid not in self.extensions:
            return []
        value = self.extensions[oid].value
        return [(node.tag, value[node.start : node.end]) for node in _children(value, _node(value, 0))]

    @property
    def is_ca(self) -> bool:
        """basicConstraints says cA: what OpenSSL's EXFLAG_CA, and its strict rules for CAs, go by."""
        fields = self.inner(BASIC_CONSTRAINTS)
        return bool(fields) and fields[0][0] == _BOOLEAN and fields[0][1] != b"\x00"

    @property
    def has_path_length(self) -> bool:
        return any(tag == _INTEGER for tag, _ in self.inner(BASIC_CONSTRAINTS))

    @property
    def key_usage(self) -> int:
        """keyUsage's first byte; 0 without the extension, as OpenSSL keeps it."""
        if not self.has(KEY_USAGE):
            return 0
        value = self.extensions[KEY_USAGE].value
        node = _node(value, 0)
        return value[node.start + 1] if node.end - node.start > 1 else 0  # past the count of unused bits

    @property
    def akid_has_key_id(self) -> bool:
        return any(tag == _KEY_ID for tag, _ in self.inner(AUTHORITY_KEY_ID))


def read_certificate(der: bytes) -> Certificate:
    """The certificate ``der`` holds; ValueError when it is none."""
    try:
        return _read(der)
    except (IndexError, ValueError) as exc:
        raise ValueError(f"not a DER certificate ({exc})") from None


def _read(der: bytes) -> Certificate:
    tbs, outer_algorithm, _ = _children(der, _node(der, 0))
    fields = _children(der, tbs)
    version = 1
    if fields[0].tag == _VERSION:  # absent for v1
        number = _node(der, fields[0].start, fields[0].end)
        version = int.from_bytes(der[number.start : number.end], "big") + 1
        fields = fields[1:]
    _, inner_algorithm, issuer, _, subject = fields[:5]
    extensions: dict[str, Extension] = {}
    for field in fields[5:]:
        if field.tag == _EXTENSIONS:
            for extension in _children(der, _node(der, field.start, field.end)):
                oid, *flag, value = (der[part.start : part.end] for part in _children(der, extension))
                extensions[_oid(oid)] = Extension(bool(flag) and flag[0] != b"\x00", value)
    names = _names(der, subject)
    return Certificate(
        der=der,
        version=version,
        subject=", ".join(f"{key}={text}" for key, text in names),
        subject_entries=len(names),
        issuer_entries=len(_names(der, issuer)),
        self_issued=_whole(der, subject) == _whole(der, issuer),
        algorithms_agree=_whole(der, inner_algorithm) == _whole(der, outer_algorithm),
        extensions=extensions,
    )


def _node(data: bytes, at: int, end: int | None = None) -> _Node:
    """The element at ``at``, which must end by ``end`` (its parent's end; the data's by default)."""
    end = len(data) if end is None else end
    if at + 2 > end:
        raise ValueError("cut short")  # not IndexError: the lazy readers of extensions raise what callers catch
    tag, length, start = data[at], data[at + 1], at + 2
    if length == 0x80:  # BER's indefinite length: read as 0, its contents became its parent's next elements
        raise ValueError("an indefinite length, which DER does not allow")
    if length & 0x80:  # long form: the next (length & 0x7F) bytes hold the length
        count = length & 0x7F
        length, start = int.from_bytes(data[start : start + count], "big"), start + count
    if start + length > end:
        raise ValueError("a length past the end of what holds it")
    return _Node(tag, at, start, start + length)


def _children(data: bytes, parent: _Node) -> list[_Node]:
    children, at = [], parent.start
    while at < parent.end:
        children.append(_node(data, at, parent.end))
        at = children[-1].end
    return children


def _whole(data: bytes, node: _Node) -> bytes:
    return data[node.head : node.end]


def _oid(body: bytes) -> str:
    arcs, number = [], 0
    for byte in body:
        number = (number << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(number)
            number = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(arc) for arc in (first, arcs[0] - 40 * first, *arcs[1:]))


def _names(data: bytes, name: _Node) -> list[tuple[str, str]]:
    """A Name's attributes in order, each as (short name, text)."""
    names = []
    for rdn in _children(data, name):
        for attribute in _children(data, rdn):
            kind, text = _children(data, attribute)
            oid = _oid(data[kind.start : kind.end])
            names.append((_SHORT_NAMES.get(oid, oid), _text(text.tag, data[text.start : text.end])))
    return names


def _text(tag: int, body: bytes) -> str:
    if tag == _BMP_STRING:
        return body.decode("utf-16-be", "replace")
    return body.decode("latin-1" if tag == _T61_STRING else "utf-8", "replace")
