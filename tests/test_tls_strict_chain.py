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
from tests.cert_recipes import GOOD_CA, GOOD_SERVER, RECIPES, chain_certificates, recipe_certificates, without

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


def openssl_strict(folder: Path, *untrusted: str) -> list[tuple[int, int]]:
    """(depth, code) of each error ``openssl verify -x509_strict`` prints for leaf.crt, in its order."""
    more = [arg for name in untrusted for arg in ("-untrusted", name)]
    run = subprocess.run(["openssl", "verify", "-x509_strict", "-CAfile", "ca.crt", *more, "leaf.crt"], cwd=folder,
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
