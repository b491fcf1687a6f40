"""tls_strict's reading of a chain against OpenSSL's own strict verification, certificate by certificate.

``openssl verify -x509_strict`` goes on past a defect and prints each with its depth; Python's handshake names the
first alone, and neither the certificate. Each chain here is made by the openssl CLI (tests.cert_recipes), a root,
an intermediate and a server certificate each made with or without what RFC 5280 wants, and tls_strict must find
the same defects at the same depths, in the same order (the handshake refuses the first).
"""

from __future__ import annotations

import re
import ssl
import subprocess
from pathlib import Path

import pytest

from listener.tls_strict import INTERMEDIATE, ROOT, SERVER, chain_links
from tests.cert_recipes import (
    GOOD_CA,
    GOOD_ROOT,
    GOOD_SERVER,
    RECIPES,
    chain_certificates,
    recipe_certificates,
    self_signed,
    without,
)

CHAINS: dict[str, dict[str, str]] = {  # chain_certificates' arguments
    "as strict verification wants it": {},
    "intermediate without keyUsage": {"intermediate": without(GOOD_CA, "keyUsage")},
    "intermediate without subjectKeyIdentifier": {"intermediate": without(GOOD_CA, "subjectKeyIdentifier")},
    "intermediate without authorityKeyIdentifier": {"intermediate": without(GOOD_CA, "authorityKeyIdentifier")},
    "intermediate's basicConstraints not critical": {
        "intermediate": without(GOOD_CA, "basicConstraints") + "basicConstraints=CA:true\n"
    },
    "every level without something": {
        "root": "",
        "intermediate": without(GOOD_CA, "keyUsage", "authorityKeyIdentifier"),
        "server": without(GOOD_SERVER, "authorityKeyIdentifier"),
    },
}


def openssl_strict(folder: Path, *untrusted: str, strict: bool = True) -> list[tuple[int, int]]:
    """(depth, code) of each error ``openssl verify -x509_strict`` (without it: not ``strict``) prints for leaf.crt,
    in its order."""
    more = [arg for name in untrusted for arg in ("-untrusted", name)]
    flag = ["-x509_strict"] if strict else []
    run = subprocess.run(["openssl", "verify", *flag, "-CAfile", "ca.crt", *more, "leaf.crt"], cwd=folder,
                         capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    return [
        (int(depth), int(code)) for code, depth in re.findall(r"error (\d+) at (\d+) depth", run.stderr + run.stdout)
    ]


def ders(folder: Path, *names: str) -> list[bytes]:
    return [ssl.PEM_cert_to_DER_cert((folder / name).read_text()) for name in names]


@pytest.mark.parametrize("chain", CHAINS)
def test_the_defects_found_in_a_chain_with_an_intermediate_ca_are_openssls(tmp_path: Path, chain: str) -> None:
    chain_certificates(tmp_path, **CHAINS[chain])
    built = ders(tmp_path, "leaf.crt", "intermediate.crt", "ca.crt")
    links = chain_links(built, built[:2], built[2:])
    found = [(link.depth, code) for link in links for code in link.codes]
    assert found == openssl_strict(tmp_path, "intermediate.crt"), links
    assert bool(found) == (chain != "as strict verification wants it"), found
    assert [link.role for link in links] == [SERVER, INTERMEDIATE, ROOT]
    assert [link.subject for link in links] == ["CN=localhost", "O=Store, CN=Store Intermediate CA", "CN=Store Root CA"]
    assert [(link.presented, link.trusted) for link in links] == [(True, False), (True, False), (False, True)]


@pytest.mark.parametrize("recipe", RECIPES)
def test_the_defects_found_in_a_stores_recipe_are_openssls(tmp_path: Path, recipe: str) -> None:
    recipe_certificates(tmp_path, recipe)
    (tmp_path / "leaf.crt").write_bytes((tmp_path / "server.crt").read_bytes())
    built = ders(tmp_path, "leaf.crt", "ca.crt")
    links = chain_links(built, built[:1], built[1:])
    found = [(link.depth, code) for link in links for code in link.codes]
    assert found and found == openssl_strict(tmp_path), links
    assert [link.role for link in links] == [SERVER, ROOT]


KEY_CERT_SIGN = "keyUsage=critical,digitalSignature,keyCertSign\n"  # a server's certificate that could sign others
CA_SAN = "subjectAltName=DNS:ca.example\n"
# a CA by OpenSSL's leniency, not by basicConstraints (X.509 v1, or keyUsage keyCertSign): X509_check_ca's 'maybe',
# refused as "invalid CA certificate" (79), before the strict block, by strict verification alone at the chain's ends
# (the server's certificate, the trust anchor). And an empty subject: OpenSSL names both of its rules (84, 88) for
# a CA whose subjectAltName is not critical
# each: the root's extension file for `openssl x509 -req -signkey` ('': X.509 v1; None: chain_certificates' root),
# chain_certificates' arguments, and (depth, code) of each defect, in OpenSSL's order
AT_THE_ENDS: dict[str, tuple[str | None, dict[str, str], list[tuple[int, int]]]] = {
    "server's keyUsage keyCertSign without basicConstraints": (
        None,
        {"server": GOOD_SERVER + KEY_CERT_SIGN},
        [(0, 79), (0, 82)],
    ),
    # its intermediate's authorityKeyIdentifier can hold no key id: a v1 root has none
    "root X.509 v1": ("", {}, [(1, 85), (2, 79)]),
    "root with keyUsage without basicConstraints": (
        "keyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n",
        {},
        [(2, 79), (2, 82)],
    ),
    "intermediate without a subject, its subjectAltName not critical": (
        None,
        {"intermediate": GOOD_CA + CA_SAN, "intermediate_subject": "/"},
        [(0, 83), (1, 84), (1, 88)],
    ),
    "intermediate without a subject, its subjectAltName critical": (
        None,
        {"intermediate": GOOD_CA + "subjectAltName=critical,DNS:ca.example\n", "intermediate_subject": "/"},
        [(0, 83), (1, 84)],
    ),
}


@pytest.mark.parametrize("chain", AT_THE_ENDS)
def test_a_ca_by_openssls_leniency_at_the_chains_ends_and_an_empty_subject_are_found_as_openssl_finds_them(
    tmp_path: Path, chain: str
) -> None:
    root, arguments, expected = AT_THE_ENDS[chain]
    if root is not None:
        self_signed(tmp_path, "ca", "/CN=Store Root CA", root)
    chain_certificates(tmp_path, **arguments, root=None if root is not None else GOOD_ROOT)
    built = ders(tmp_path, "leaf.crt", "intermediate.crt", "ca.crt")
    links = chain_links(built, built[:2], built[2:])
    assert [(link.depth, code) for link in links for code in link.codes] == expected, links
    assert openssl_strict(tmp_path, "intermediate.crt") == expected
    assert openssl_strict(tmp_path, "intermediate.crt", strict=False) == []  # the rules of strict alone


@pytest.mark.parametrize(
    "extensions", ["", "subjectAltName=DNS:localhost\n" + KEY_CERT_SIGN], ids=["v1", "keyCertSign"]
)
def test_a_self_signed_certificate_trusted_as_it_is_is_an_invalid_ca_under_strict_alone(
    tmp_path: Path, extensions: str
) -> None:
    """A chain of one: OpenSSL's strict block (every rule but X509_check_ca's) is for longer chains."""
    self_signed(tmp_path, "ca", "/CN=localhost", extensions)
    (tmp_path / "leaf.crt").write_bytes((tmp_path / "ca.crt").read_bytes())
    links = chain_links(ders(tmp_path, "ca.crt"), [], [])
    assert [(link.depth, code) for link in links for code in link.codes] == [(0, 79)] == openssl_strict(tmp_path)
    assert openssl_strict(tmp_path, strict=False) == []
