"""Certificates that strict X.509 verification refuses, and how to make them again so that it does not.

Python 3.13 (Debian 13, Raspberry Pi OS Trixie) sets ``ssl.VERIFY_X509_STRICT`` in
``ssl.create_default_context()``, the context urllib, ``listener models fetch`` and many other clients use;
3.11 (Debian 12, Bookworm) did not. OpenSSL then also applies RFC 5280's rules on a certificate's
extensions, which common recipes break without any weakness: mosquitto's own docs (``man mosquitto-tls``)
make a CA without keyUsage, easy-rsa 3.1 a CA whose basicConstraints is not critical, OpenSSL 1.1 a server
certificate without authorityKeyIdentifier. The broker link keeps the flag off (credentials.tls_context);
what is refused elsewhere, and what ``listener doctor`` warns of, is named here with the fix.
"""

from __future__ import annotations

import ssl
from typing import TypeGuard

REISSUE_DOC = "docs/integrations/mqtt.md, 'Certificates that Python 3.13 refuses'"
_CA_AGAIN = "then sign the server's certificate with it again"

# OpenSSL's X509_V_ERR_* codes that only VERIFY_X509_STRICT raises (x509_vfy.h, OpenSSL 3.0 to 3.5): the fix
STRICT_FIXES: dict[int, str] = {
    85: "sign the server's certificate again with `authorityKeyIdentifier=keyid,issuer` in the `openssl x509 -req"
    " -extfile` file (OpenSSL 1.1 added none unless asked; OpenSSL 3 adds it by itself)",
    86: f"make the CA certificate again with `-addext subjectKeyIdentifier=hash`, {_CA_AGAIN}",
    89: "make the CA certificate again with `-addext basicConstraints=critical,CA:true` (easy-rsa: the line"
    f" `basicConstraints = critical,CA:true` in its x509-types/ca file), {_CA_AGAIN}",
    92: "make the CA certificate again with `-addext keyUsage=critical,keyCertSign,cRLSign` (`-extensions v3_ca`, as"
    f" man mosquitto-tls has it, adds none), {_CA_AGAIN}",
    93: "sign the certificate again as X.509 v3 (any `-extfile` or `-addext` makes one)",
    90: "sign the certificate again with its authorityKeyIdentifier not marked critical",
    91: "sign the certificate again with its subjectKeyIdentifier not marked critical",
    87: "sign the certificate again with a subjectAltName that holds the server's host name or IP address",
    88: "sign the certificate again with a subject (`-subj /CN=...`)",
    83: "make the CA certificate again with a subject (`-subj /CN=...`)",
    84: "sign the certificate again with a subject (`-subj /CN=...`)",
}
# the defects fixed by making the CA certificate again
CA_DEFECTS = frozenset({83, 86, 89, 92})
# the rest of them (pathLenConstraint on no CA, keyCertSign on no CA, an inconsistent signature algorithm, explicit
# EC parameters): rare enough for one fix
STRICT_ONLY = frozenset({*STRICT_FIXES, 78, 80, 81, 82, 94})
OTHER_FIX = "make it again to RFC 5280 (`openssl x509 -in FILE -noout -text` lists its extensions)"


def refused_as_strict(exc: object) -> TypeGuard[ssl.SSLCertVerificationError]:
    """A certificate refused by a rule of strict verification alone: 3.11's default context accepts it."""
    return isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_code in STRICT_ONLY


def strict_fix(exc: ssl.SSLCertVerificationError) -> str:
    """How to make the refused certificate again so that strict verification accepts it."""
    return STRICT_FIXES.get(exc.verify_code, OTHER_FIX)
