"""x509_der on extension values it cannot read as DER: a ValueError, which the chain's readers catch, never
another exception (a traceback in `listener models fetch`) nor a value read wrong (a defect the certificate has not).

A certificate's extensions are read when the strict rules ask (tls_strict.strict_codes), after read_certificate
turned its own IndexError into ValueError; tls_strict.verified_chain catches ValueError alone.
"""

from __future__ import annotations

import pytest

from listener.tls_strict import strict_codes
from listener.x509_der import AUTHORITY_KEY_ID, KEY_USAGE, SUBJECT_ALT_NAME, Certificate, Extension

SAN_LOCALHOST = b"\x30\x0b\x82\x09localhost"  # GeneralNames: dNSName localhost, as DER has it


def certificate(oid: str, value: bytes) -> Certificate:
    """A v3 server certificate with a subject, its one extension ``oid`` holding ``value``."""
    return Certificate(
        der=b"",
        version=3,
        subject="CN=localhost",
        subject_entries=1,
        issuer_entries=1,
        self_issued=False,
        algorithms_agree=True,
        extensions={oid: Extension(critical=False, value=value)},
    )


def test_a_well_formed_subject_alt_name_is_no_defect() -> None:
    assert strict_codes(certificate(SUBJECT_ALT_NAME, SAN_LOCALHOST), 1, 2) == []


@pytest.mark.parametrize(
    ("oid", "value", "was"),
    [
        # BER's indefinite length (0x80), which OpenSSL's decoder takes: read as a length of 0, the name it holds
        # was left out and the certificate said to have an "Empty Subject Alternative Name extension"
        (SUBJECT_ALT_NAME, b"\x30\x80\x82\x09localhost\x00\x00", "87, a defect it has not"),
        # an element longer than the SEQUENCE that holds it: read past its end
        (AUTHORITY_KEY_ID, b"\x30\x03\x80\x05abcde", "read as holding a key id"),
        # an extension with nothing in it: IndexError, which no caller catches
        (KEY_USAGE, b"", "IndexError"),
        (KEY_USAGE, b"\x03", "IndexError"),
    ],
)
def test_an_extension_that_is_no_der_is_a_value_error(oid: str, value: bytes, was: str) -> None:
    with pytest.raises(ValueError, match=r"indefinite length|past the end|cut short"):
        strict_codes(certificate(oid, value), 0, 2)
