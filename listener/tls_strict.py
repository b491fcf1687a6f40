"""Certificates that strict X.509 verification refuses, and how to make them again so that it does not.

Python 3.13 (Debian 13, Raspberry Pi OS Trixie) sets ``ssl.VERIFY_X509_STRICT`` in
``ssl.create_default_context()``, the context urllib, ``listener models fetch`` and many other clients use;
3.11 (Debian 12, Bookworm) did not. OpenSSL then also applies RFC 5280's rules on a certificate's
extensions, which common recipes break without any weakness: mosquitto's own docs (``man mosquitto-tls``)
make a CA without keyUsage, easy-rsa 3.1 a CA whose basicConstraints is not critical, OpenSSL 1.1 a server
certificate without authorityKeyIdentifier. The broker link keeps the flag off (credentials.tls_context);
what is refused elsewhere, and what ``listener doctor`` warns of, is named here with the fix.

OpenSSL's refusal names one defect, not the certificate that has it: a chain with an intermediate CA has three
that could. :func:`chain_defects` reads the chain OpenSSL built (the server's certificates and those of the CA
file) and finds every defect of each certificate, so that the fix names the certificate to make again.
"""

from __future__ import annotations

import socket
import ssl
import urllib.parse
import urllib.request
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TypeGuard

from listener.x509_der import (
    AUTHORITY_KEY_ID,
    BASIC_CONSTRAINTS,
    KEY_USAGE,
    KU_CRL_SIGN,
    KU_KEY_CERT_SIGN,
    SUBJECT_ALT_NAME,
    SUBJECT_KEY_ID,
    Certificate,
    read_certificate,
)

REISSUE_DOC = "docs/integrations/mqtt.md, 'Certificates that Python 3.13 refuses'"
_CA_AGAIN = "then sign the certificates below it again with it"

# OpenSSL's X509_V_ERR_* codes that only VERIFY_X509_STRICT raises (x509_vfy.h, OpenSSL 3.0 to 3.5): the fix
# when the certificate that has the defect is not known (the chain could not be read)
STRICT_FIXES: dict[int, str] = {
    85: "sign the certificate that lacks it (the server's, or an intermediate CA's) again with"
    " `authorityKeyIdentifier=keyid,issuer` in the `openssl x509 -req -extfile` file (OpenSSL 1.1 added none unless"
    " asked; OpenSSL 3 adds it by itself)",
    86: "make the CA certificate that lacks it (the root's or an intermediate's) again with"
    f" `subjectKeyIdentifier=hash`, {_CA_AGAIN}",
    89: "make the CA certificate (the root's or an intermediate's) again with `basicConstraints=critical,CA:true`"
    f" (easy-rsa: the line `basicConstraints = critical,CA:true` in its x509-types/ca file), {_CA_AGAIN}",
    92: "make the CA certificate (the root's or an intermediate's) again with `keyUsage=critical,keyCertSign,cRLSign`"
    f" (`-extensions v3_ca`, as man mosquitto-tls has it, adds none), {_CA_AGAIN}",
    93: "sign the certificate again as X.509 v3 (any `-extfile` or `-addext` makes one)",
    90: "sign the certificate again with its authorityKeyIdentifier not marked critical",
    91: "sign the certificate again with its subjectKeyIdentifier not marked critical",
    87: "sign the certificate again with a subjectAltName that holds the server's host name or IP address",
    88: "sign the certificate again with a subject (`-subj /CN=...`)",
    83: "make the CA certificate again with a subject (`-subj /CN=...`)",
    84: "sign the certificate again with a subject (`-subj /CN=...`)",
    79: "if the root CA's certificate is X.509 v1 (`openssl x509 -req` without `-extfile` makes one) or has no"
    " basicConstraints, make it again with `-addext basicConstraints=critical,CA:true` and `-addext"
    f" keyUsage=critical,keyCertSign,cRLSign`, {_CA_AGAIN}; if the server's keyUsage holds keyCertSign, sign it again"
    " with `basicConstraints=CA:false` and `keyUsage=critical,digitalSignature,keyEncipherment`",
}
# the defects fixed by making a CA certificate again
CA_DEFECTS = frozenset({83, 86, 89, 92})
# X509_V_ERR_INVALID_CA: strict alone refuses a CA by OpenSSL's leniency only at the chain's ends (the server's
# certificate, the trust anchor); an intermediate so, or a CA that basicConstraints says is none, is refused without
# the flag too. Strict's when the chain is accepted without it, which the caller tells
STRICT_AT_THE_ENDS = frozenset({79})
# the rest of them (pathLenConstraint on no CA, keyCertSign on no CA, an inconsistent signature algorithm, explicit
# EC parameters): rare enough for one fix
STRICT_ONLY = frozenset({*STRICT_FIXES, 78, 80, 81, 82, 94} - STRICT_AT_THE_ENDS)
OTHER_FIX = "make it again to RFC 5280 (`openssl x509 -in FILE -noout -text` lists its extensions)"
# OpenSSL's words for them (X509_verify_cert_error_string), as verify_message has them
MESSAGES = {
    79: "invalid CA certificate",
    78: "cert info signature and signature algorithm mismatch",
    80: "Path length invalid for non-CA cert",
    81: "Path length given without key usage keyCertSign",
    82: "Key usage keyCertSign invalid for non-CA cert",
    83: "Issuer name empty",
    84: "Subject name empty",
    85: "Missing Authority Key Identifier",
    86: "Missing Subject Key Identifier",
    87: "Empty Subject Alternative Name extension",
    88: "Subject empty and Subject Alt Name extension not critical",
    89: "Basic Constraints of CA cert not marked critical",
    90: "Authority Key Identifier marked critical",
    91: "Subject Key Identifier marked critical",
    92: "CA cert does not include key usage extension",
    93: "Using cert extension requires at least X509v3",
}
SERVER, INTERMEDIATE, ROOT = "the server's", "the intermediate CA's", "the root CA's"
# what makes each defect go, as an extension line (`openssl x509 -req -extfile` file, `openssl req -addext`)
ADDITIONS = {
    80: "basicConstraints=CA:false",
    81: "keyUsage=critical,keyCertSign,cRLSign",
    82: "keyUsage=critical,digitalSignature,keyEncipherment",
    85: "authorityKeyIdentifier=keyid,issuer",
    86: "subjectKeyIdentifier=hash",
    87: "subjectAltName=DNS:<its host name>",
    89: "basicConstraints=critical,CA:true",
    90: "authorityKeyIdentifier=keyid,issuer",
    91: "subjectKeyIdentifier=hash",
    92: "keyUsage=critical,keyCertSign,cRLSign",
}
# for 79: the server's certificate says it is no CA (and, with 82, signs none); a CA says it is one, as strict wants
NO_CA = ("basicConstraints=CA:false",)
A_CA = ("basicConstraints=critical,CA:true", "keyUsage=critical,keyCertSign,cRLSign")
# ... or otherwise
CHANGES = {
    83: "its issuer given a subject (`-subj /CN=...`)",
    84: "a subject (`-subj /CN=...`)",
    88: "a subject (`-subj /CN=...`)",
    93: "as X.509 v3 (an `-extfile` makes one)",
    78: "one signature algorithm",
}
# why the recipe made it so
NOTES = {
    85: "OpenSSL 1.1 added no authorityKeyIdentifier unless asked; OpenSSL 3 adds it by itself",
    89: "easy-rsa: the line `basicConstraints = critical,CA:true` in its x509-types/ca file",
    92: "`-extensions v3_ca`, as man mosquitto-tls has it, adds no keyUsage",
    79: "a certificate without basicConstraints is a CA by OpenSSL's leniency alone, which strict ends: X.509 v1, as"
    " `openssl x509 -req` without `-extfile` makes it, or with keyUsage keyCertSign",
}


def refused_as_strict(exc: object) -> TypeGuard[ssl.SSLCertVerificationError]:
    """A certificate refused by a rule of strict verification alone: 3.11's default context accepts it. Or maybe
    so (STRICT_AT_THE_ENDS): the caller knows whether a handshake without the flag was accepted."""
    return isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_code in STRICT_ONLY | STRICT_AT_THE_ENDS


def strict_fix(exc: ssl.SSLCertVerificationError) -> str:
    """How to make the refused certificate again so that strict verification accepts it, when which one of the
    chain it is is not known."""
    return STRICT_FIXES.get(exc.verify_code, OTHER_FIX)


@dataclass(frozen=True)
class Link:
    """A certificate of the chain OpenSSL built, and the strict rules it breaks."""

    depth: int  # as OpenSSL counts it (`openssl verify`: "error 92 at 1 depth lookup"): 0 the server's certificate
    role: str  # SERVER, INTERMEDIATE or ROOT
    subject: str
    codes: tuple[int, ...]
    presented: bool  # sent by the server
    trusted: bool  # in the trust store (mqtt.ca_file, the system's CAs)

    def said(self) -> str:
        """'Missing Authority Key Identifier in the server's certificate (depth 0, CN=localhost)'."""
        defects = " and ".join(MESSAGES.get(code, f"X509_V_ERR {code}") for code in self.codes)
        return f"{defects} in {self.role} certificate (depth {self.depth}, {self.subject or 'no subject'})"


def strict_codes(cert: Certificate, depth: int, length: int) -> list[int]:
    """The strict rules ``cert`` breaks at ``depth`` of a chain of ``length``, in the order OpenSSL 3.0 to 3.5
    check them (check_extensions, under X509_V_FLAG_X509_STRICT): its refusal names the first. X509_check_ca's
    comes before the rest, and on a chain of one too (a self-signed certificate trusted as it is)."""
    invalid_ca = [79] if (depth == 0 or depth == length - 1) and _ca_by_leniency(cert) else []
    ca, usage, san = cert.is_ca, cert.key_usage, cert.has(SUBJECT_ALT_NAME)
    rules = [
        (80, cert.has_path_length and not ca),
        (81, cert.has_path_length and not usage & KU_KEY_CERT_SIGN),
        (89, ca and not cert.critical(BASIC_CONSTRAINTS)),
        (92, ca and not cert.has(KEY_USAGE)),
        (82, not ca and bool(usage & KU_KEY_CERT_SIGN)),
        (83, cert.issuer_entries == 0),
        (84, cert.subject_entries == 0 and (ca or bool(usage & KU_CRL_SIGN) or not san)),
        (88, cert.subject_entries == 0 and san and not cert.critical(SUBJECT_ALT_NAME)),
        (87, san and not cert.inner(SUBJECT_ALT_NAME)),
        (78, not cert.algorithms_agree),
        (90, cert.critical(AUTHORITY_KEY_ID)),
        (91, cert.critical(SUBJECT_KEY_ID)),
        # the chain's last certificate, its trust anchor, may lack it; OpenSSL 3.0 wants the key's id in it
        (85, cert.version >= 3 and depth + 1 < length and not cert.akid_has_key_id),
        (86, cert.version >= 3 and ca and not cert.has(SUBJECT_KEY_ID)),
        (93, cert.version < 3 and bool(cert.extensions)),
    ]
    return invalid_ca + ([code for code, broken in rules if broken] if length > 1 else [])


def _ca_by_leniency(cert: Certificate) -> bool:
    """Whether OpenSSL's X509_check_ca takes ``cert`` for a CA without its basicConstraints saying so: X.509 v1 and
    self-issued (its answer 3), keyUsage with keyCertSign (4). Its 5, a Netscape cert type, is not read here."""
    if cert.has(BASIC_CONSTRAINTS) or (cert.has(KEY_USAGE) and not cert.key_usage & KU_KEY_CERT_SIGN):
        return False
    return (cert.version == 1 and cert.self_issued) or cert.has(KEY_USAGE)


def chain_links(chain: Sequence[bytes], presented: Collection[bytes], trusted: Collection[bytes]) -> list[Link]:
    """Each certificate of ``chain`` (DER, the server's first, as OpenSSL built it) with the strict rules it
    breaks; ``presented``: the certificates the server sent, ``trusted``: those of the trust store. ValueError
    when one is no certificate."""
    certs = [read_certificate(der) for der in chain]
    last = len(certs) - 1
    return [
        Link(
            depth,
            SERVER if depth == 0 else ROOT if depth == last and cert.self_issued else INTERMEDIATE,
            cert.subject,
            tuple(strict_codes(cert, depth, len(certs))),
            cert.der in presented,
            cert.der in trusted,
        )
        for depth, cert in enumerate(certs)
    ]


def reissue(links: Sequence[Link], trusted_to: str, presented_to: str) -> str:
    """How to make the chain again: the highest certificate with a defect, with the openssl option each of its
    defects asks for, then each below it signed again with the new one (and its own); ``trusted_to`` and
    ``presented_to`` say where a new CA certificate goes: the trust store (a root always), the server's chain."""
    top = max((link.depth for link in links if link.codes), default=-1)
    steps = [_step(link, first=link.depth == top) for link in reversed(links[: top + 1])]
    new_cas = links[1 : top + 1]  # a broker may send its root too (mosquitto adds its cafile's): it is the store's
    ends = [trusted_to] if any(ca.trusted or ca.role == ROOT or not ca.presented for ca in new_cas) else []
    ends += [presented_to] if any(ca.presented and ca.role != ROOT for ca in new_cas) else []
    notes = sorted({NOTES[code] for link in links for code in link.codes if code in NOTES})
    return ", ".join(steps + [f"and {end}" for end in ends]) + (f" ({'; '.join(notes)})" if notes else "")


def _step(link: Link, first: bool) -> str:
    named = f"{link.role} certificate ({link.subject or 'no subject'})"
    lines = list(dict.fromkeys(line for code in link.codes for line in _additions(code, link.role)))
    changes = list(dict.fromkeys(CHANGES[code] for code in link.codes if code in CHANGES))
    if link.role == ROOT:
        added = [f"`-addext {line}`" for line in lines]
    else:
        added = [f"`{line}`" for line in lines]
        added[-1:] = [f"{added[-1]} in its `openssl x509 -req -extfile` file"] if added else []
    what = " and ".join(added + changes)
    if first:
        return f"{'make' if link.role == ROOT else 'sign'} {named} again with {what}"
    return f"then sign {named} again with it" + (f", adding {what}" if what else "")


def _additions(code: int, role: str) -> tuple[str, ...]:
    """The extension lines that make ``code`` go in a certificate of ``role``: a CA by leniency (79), or keyCertSign
    on no CA (82), is made a CA as strict wants one where a CA is meant, and the server's certificate no CA."""
    if role != SERVER and code in (79, 82):
        return A_CA
    if code == 79:
        return NO_CA
    return (ADDITIONS[code],) if code in ADDITIONS else ()


def located(links: Sequence[Link], trusted_to: str, presented_to: str) -> tuple[str, str] | None:
    """The defects of ``links`` and the certificates that have them ("4 defects: ... in the server's certificate
    (depth 0, CN=localhost), ..."), and how to make the chain again; None when none was found."""
    flawed = [link for link in links if link.codes]
    if not flawed:
        return None
    count = sum(len(link.codes) for link in flawed)
    said = f"{count} defect{'s' if count > 1 else ''}: " + ", ".join(link.said() for link in flawed)
    return said, reissue(links, trusted_to, presented_to)


def url_chain(url: str, timeout_s: float) -> list[Link]:
    """The chain of the HTTPS server of ``url`` as ``ssl.create_default_context()`` builds it, each certificate
    with its strict defects; [] when a proxy stands between (its tunnel is urllib's to make) or it cannot be read."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme != "https" or ("https" in urllib.request.getproxies() and not urllib.request.proxy_bypass(host)):
        return []
    try:
        return verified_chain(ssl.create_default_context(), host, parts.port or 443, timeout_s) or []
    except ValueError:  # a port that is no number
        return []


def verified_chain(context: ssl.SSLContext, host: str, port: int, timeout_s: float) -> list[Link] | None:
    """The chain ``context``, its strict rules taken off, builds for the server at ``host``:``port``, each
    certificate with the strict rules it breaks; None when the handshake fails or a certificate cannot be read.
    Python 3.13 names the chain's methods; 3.10 to 3.12 have them on the SSL object underneath."""
    context.verify_flags &= ~ssl.VERIFY_X509_STRICT  # 3.13's partial chains stay: the chain its strict rules judge
    try:
        with (
            socket.create_connection((host, port), timeout=timeout_s) as sock,
            context.wrap_socket(sock, server_hostname=host) as tls,
        ):
            built, sent = _ders(tls, "get_verified_chain"), _ders(tls, "get_unverified_chain")
        return chain_links(built, sent, context.get_ca_certs(binary_form=True))
    except (OSError, ValueError):
        return None


def _ders(tls: ssl.SSLSocket, method: str) -> list[bytes]:
    public = getattr(tls, method, None)
    if public is not None:
        return list(public())  # 3.13: DER bytes
    chain = getattr(getattr(tls, "_sslobj", None), method, lambda: None)() or []
    return [cert.public_bytes(ssl._ssl.ENCODING_DER) for cert in chain]  # type: ignore[attr-defined]
