"""Broker certificates as stores make them, by the openssl CLI: each recipe writes ca.crt, server.crt and server.key
for the host name ``localhost``, over those of :func:`tests.mqtt_broker.make_certificates` in the same folder.

- ``mosquitto-docs``: ``man mosquitto-tls``, word for word (its CA without keyUsage, its server certificate v1
  with the host in the CN only).
- ``easy-rsa``: what easy-rsa 3.1 (Debian 12's) makes: a CA whose basicConstraints is not critical.
- ``openssl-1.1``: a CA with keyUsage, a server certificate signed by OpenSSL 1.1 (Debian 10 and 11) with a
  subjectAltName, and so no authorityKeyIdentifier (OpenSSL 3 adds one unasked, ``none`` keeps it out).

Python 3.11's default TLS context accepts all three, 3.13's refuses them (VERIFY_X509_STRICT): measured with the
real recipes (easy-rsa's own script too) on OpenSSL 3.0.

:func:`chain_certificates` makes a chain with an intermediate CA (a store's own CA under a company root, an ACME-like
chain), each of its three certificates with its own extensions: ``server.crt`` then holds the server's certificate and
the intermediate's after it, as a broker's ``certfile`` sends them, and ``ca.crt`` the root alone.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

RECIPES = ("mosquitto-docs", "easy-rsa", "openssl-1.1")
EASY_RSA_CA = """[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = CA:true
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always,issuer:always
keyUsage = cRLSign, keyCertSign
"""


# extension files for `openssl x509 -req -extfile`: a CA and a server certificate as strict verification wants them,
# and each without one thing it wants
GOOD_CA = "basicConstraints=critical,CA:true\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n"
GOOD_CA += "authorityKeyIdentifier=keyid,issuer\n"
GOOD_ROOT = "keyUsage=critical,keyCertSign,cRLSign"  # `openssl req -addext`, beside -extensions v3_ca's
GOOD_SERVER = "subjectAltName=DNS:localhost\nauthorityKeyIdentifier=keyid,issuer\n"


def without(extensions: str, *names: str) -> str:
    """``extensions`` without the lines of ``names`` (a key identifier, which OpenSSL 3 adds unasked: set to none)."""
    kept = [line for line in extensions.splitlines() if line.split("=")[0] not in names]
    unasked = [f"{name}=none" for name in names if name.endswith("KeyIdentifier")]
    return "\n".join([*kept, *unasked]) + "\n"


def _run(*args: str, cwd: Path) -> None:
    subprocess.run(args, cwd=cwd, check=True, capture_output=True, timeout=60)


def recipe_certificates(folder: Path, recipe: str) -> None:
    """Write ``recipe``'s CA and server certificate (and key) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    ca = ["openssl", "req", "-new", "-x509", "-days", "2", "-nodes", "-subj", "/CN=Store CA"]
    ca += ["-keyout", "ca.key", "-out", "ca.crt"]
    server_ext: list[str] = []
    if recipe == "mosquitto-docs":
        _run(*ca, "-extensions", "v3_ca", cwd=folder)
    elif recipe == "easy-rsa":
        (folder / "easy-rsa-ca.cnf").write_text(EASY_RSA_CA)
        _run(*ca, "-config", "easy-rsa-ca.cnf", "-extensions", "ca", cwd=folder)
    elif recipe == "openssl-1.1":
        _run(*ca, "-extensions", "v3_ca", "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=folder)
        (folder / "san-1.1.cnf").write_text(
            "subjectAltName=DNS:localhost\nsubjectKeyIdentifier=none\nauthorityKeyIdentifier=none\n"
        )
        server_ext = ["-extfile", "san-1.1.cnf"]
    else:
        raise ValueError(f"no recipe {recipe!r}: one of {RECIPES}")
    _run("openssl", "genrsa", "-out", "server.key", "2048", cwd=folder)
    _run("openssl", "req", "-out", "server.csr", "-key", "server.key", "-new", "-subj", "/CN=localhost", cwd=folder)
    _run("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
         "-out", "server.crt", "-days", "2", *server_ext, cwd=folder)  # fmt: skip


def chain_certificates(
    folder: Path,
    intermediate: str = GOOD_CA,
    server: str = GOOD_SERVER,
    root: str | None = GOOD_ROOT,
    intermediate_subject: str = "/O=Store/CN=Store Intermediate CA",
) -> None:
    """A root CA (``root``: its ``openssl req -addext`` extensions; '' as man mosquitto-tls makes it, without
    keyUsage; None: ca.crt and ca.key are in ``folder`` already), an intermediate CA it signs with the extension
    file ``intermediate``, and a server certificate for ``localhost`` that signs with ``server``: ca.crt (the root),
    intermediate.crt, server.crt (the server's and the intermediate's, in that order) and server.key in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    extra = ["-addext", root] if root else []
    if root is not None:
        _run("openssl", "req", "-new", "-x509", "-days", "2", "-nodes", "-subj", "/CN=Store Root CA", "-extensions",
             "v3_ca", *extra, "-keyout", "ca.key", "-out", "ca.crt", cwd=folder)  # fmt: skip
    for name, subject, issuer, extensions in (
        ("intermediate", intermediate_subject, "ca", intermediate),
        ("leaf", "/CN=localhost", "intermediate", server),
    ):
        (folder / f"{name}.cnf").write_text(extensions)
        _run("openssl", "req", "-new", "-nodes", "-newkey", "rsa:2048", "-subj", subject, "-keyout", f"{name}.key",
             "-out", f"{name}.csr", cwd=folder)  # fmt: skip
        _run("openssl", "x509", "-req", "-in", f"{name}.csr", "-CA", f"{issuer}.crt", "-CAkey", f"{issuer}.key",
             "-CAcreateserial", "-days", "2", "-extfile", f"{name}.cnf", "-out", f"{name}.crt", cwd=folder)  # fmt: skip
    (folder / "server.key").write_bytes((folder / "leaf.key").read_bytes())
    (folder / "server.crt").write_bytes((folder / "leaf.crt").read_bytes() + (folder / "intermediate.crt").read_bytes())


def self_signed(folder: Path, name: str, subject: str, extensions: str) -> None:
    """``name``.crt and ``name``.key in ``folder``: a certificate ``openssl x509 -req -signkey`` signs with its own
    key, with the extension file ``extensions`` ('': none, and so X.509 v1, as a CA made so in old guides is)."""
    folder.mkdir(parents=True, exist_ok=True)
    _run("openssl", "req", "-new", "-nodes", "-newkey", "rsa:2048", "-subj", subject, "-keyout", f"{name}.key", "-out",
         f"{name}.csr", cwd=folder)  # fmt: skip
    extfile = ["-extfile", f"{name}.cnf"] if extensions else []
    (folder / f"{name}.cnf").write_text(extensions)
    _run("openssl", "x509", "-req", "-in", f"{name}.csr", "-signkey", f"{name}.key", "-days", "2", *extfile, "-out",
         f"{name}.crt", cwd=folder)  # fmt: skip
