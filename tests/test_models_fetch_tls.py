"""`listener models fetch` over HTTPS from a server whose certificate this device refuses.

A Pi has no battery clock: a fresh image boots at its build date, and a store that blocks NTP never
sets it; the download server's certificate (renewed every few weeks) is then not yet valid, or expired
to a clock far ahead. That was reported as "this machine seems to be offline". The server here is
http.server behind real TLS, its certificate made and redated by the openssl CLI, trusted through
SSL_CERT_FILE as a system's CA store would be."""

from __future__ import annotations

import ssl
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from listener.cli import main
from listener.transcription.models import MODELS
from tests.cert_recipes import GOOD_CA, chain_certificates, recipe_certificates, self_signed, without
from tests.mqtt_broker import make_certificates, redate_certificate
from tests.test_doctor_clock import assert_reads_now
from tests.test_transcription_models import GOOD, NAME, Server, spec_for


@pytest.fixture()
def https(tmp_path: Path) -> Iterator[tuple[Server, Path]]:
    """A server of GOOD at /m.zip over TLS, not yet started, and its certificates' folder. urllib's opener is made
    anew: from Python 3.12 (Debian 13) the one urlopen keeps holds the TLS context of its first use, with the CA
    store SSL_CERT_FILE named then (another test's CA: "unable to get local issuer certificate"). The listener
    fetches once per process."""
    certs = tmp_path / "certs"
    make_certificates(certs)
    s = Server()
    s.files["/m.zip"] = GOOD
    urllib.request.install_opener(None)  # None: urlopen builds its default one again
    try:
        yield s, certs
    finally:
        if s.thread.is_alive():
            s.httpd.shutdown()
        s.httpd.server_close()


def serve(server: Server, certs: Path) -> str:
    """Start ``server`` with the server certificate in ``certs``; returns the model's https URL."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs / "server.crt", certs / "server.key")
    server.httpd.socket = context.wrap_socket(server.httpd.socket, server_side=True)
    server.thread.start()
    return server.url("/m.zip").replace("http://", "https://")


def fetch_err(url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> str:
    """`listener models fetch en-small` from ``url``: it fails with exit 2; returns its stderr."""
    monkeypatch.setitem(MODELS, "en-small", spec_for(url, GOOD))
    assert main(["models", "fetch", "en-small", "--dir", str(tmp_path / "models")]) == 2
    return capsys.readouterr().err


@pytest.mark.parametrize(
    ("start", "end", "why"),
    [("20990101000000Z", "20991231000000Z", "not yet valid"), ("20000101000000Z", "20001231000000Z", "expired")],
    ids=["not-yet-valid", "expired"],
)
def test_a_certificate_refused_by_its_dates_blames_the_clock_not_the_network(
    https: tuple[Server, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    start: str,
    end: str,
    why: str,
) -> None:
    server, certs = https
    redate_certificate(certs, start, end)
    monkeypatch.setenv("SSL_CERT_FILE", str(certs / "ca.crt"))
    err = fetch_err(serve(server, certs), tmp_path, capsys, monkeypatch)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "offline" not in err, err
    assert why in err and "judged by this device's clock, which reads" in err, err
    assert_reads_now(err)
    assert "fix the time first (NTP: `timedatectl`; `sudo timedatectl set-ntp true`)" in err, err
    assert "listener models fetch en-small --dir" in err and f"copy an unzipped {NAME} folder" in err, err


def test_an_untrusted_certificate_is_a_certificate_problem_not_offline(
    https: tuple[Server, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, certs = https
    other = make_certificates(tmp_path / "other")  # a CA that did not sign the server's certificate
    monkeypatch.setenv("SSL_CERT_FILE", str(other["ca"]))
    err = fetch_err(serve(server, certs), tmp_path, capsys, monkeypatch)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "offline" not in err and "clock" not in err, err
    assert "certificate" in err and "SSL_CERT_FILE" in err, err


def test_a_trusted_certificate_in_its_dates_downloads(
    https: tuple[Server, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, certs = https  # the setting of the two tests above, with nothing wrong: they fail for their reason only
    monkeypatch.setenv("SSL_CERT_FILE", str(certs / "ca.crt"))
    monkeypatch.setitem(MODELS, "en-small", spec_for(serve(server, certs), GOOD))
    assert main(["models", "fetch", "en-small", "--dir", str(tmp_path / "models")]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "models" / NAME)


def test_a_server_that_does_not_speak_tls_is_in_the_way_not_offline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Plain HTTP where HTTPS was asked for (as a captive portal or a filtering proxy answers): the TLS handshake
    fails with no certificate to judge. It was told "this machine seems to be offline", on a network that answers."""
    server = Server()
    server.files["/m.zip"] = GOOD
    server.thread.start()
    try:
        err = fetch_err(server.url("/m.zip").replace("http://", "https://"), tmp_path, capsys, monkeypatch)
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "offline" not in err and "clock" not in err, err
    assert "TLS failed" in err and "captive portal" in err and "listener models fetch en-small --dir" in err, err


def strict_as_313(monkeypatch: pytest.MonkeyPatch) -> None:
    """urlopen's context as strict as 3.13's ssl.create_default_context() makes it (this is 3.11)."""
    default = ssl.create_default_context

    def as_313(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        context = default(*args, **kwargs)
        context.verify_flags |= ssl.VERIFY_X509_STRICT | ssl.VERIFY_X509_PARTIAL_CHAIN  # as 3.13's sets them
        return context

    monkeypatch.setattr(ssl, "_create_default_https_context", as_313)  # what http.client calls for urlopen


def test_a_certificate_python_313_refuses_as_strict_is_named_with_the_fix(
    https: tuple[Server, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """urllib's context is ssl.create_default_context(), strict from Python 3.13 (Debian 13) on: a CA made as
    mosquitto's docs say (no keyUsage), a store proxy's made so, is refused there and accepted on 3.11. It was
    told to put the CA among the system's, where it was already."""
    server, certs = https
    recipe_certificates(certs, "mosquitto-docs")  # its server certificate names localhost
    monkeypatch.setenv("SSL_CERT_FILE", str(certs / "ca.crt"))
    strict_as_313(monkeypatch)
    err = fetch_err(serve(server, certs).replace("127.0.0.1", "localhost"), tmp_path, capsys, monkeypatch)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert (
        "(CA cert does not include key usage extension; its chain has 1 defect: CA cert does not include key"
        " usage extension in the root CA's certificate (depth 1, CN=Store CA))"
        in err
        and "Python 3.13" in err
    ), err
    assert "`-addext keyUsage=critical,keyCertSign,cRLSign`" in err and "update-ca-certificates" not in err, err
    assert "listener models fetch en-small --dir" in err and f"copy an unzipped {NAME} folder" in err, err


def test_a_strict_defect_in_an_intermediate_ca_names_that_certificate(
    https: tuple[Server, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server sends its certificate and an intermediate CA's without keyUsage: OpenSSL's words alone ("CA cert
    does not include key usage extension") sent the reader to remake the root CA in the store, which has it."""
    server, certs = https
    chain_certificates(certs, intermediate=without(GOOD_CA, "keyUsage"))
    monkeypatch.setenv("SSL_CERT_FILE", str(certs / "ca.crt"))
    strict_as_313(monkeypatch)
    err = fetch_err(serve(server, certs).replace("127.0.0.1", "localhost"), tmp_path, capsys, monkeypatch)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert (
        "its chain has 1 defect: CA cert does not include key usage extension in the intermediate CA's"
        " certificate (depth 1, O=Store, CN=Store Intermediate CA))" in err
    ), err
    resign = "sign the intermediate CA's certificate (O=Store, CN=Store Intermediate CA) again with `keyUsage="
    assert resign in err and "root CA" not in err, err
    assert "send the new intermediate after its own certificate" in err and "CA store" not in err, err


def test_a_root_ca_of_x509_v1_is_named_with_the_fix_that_makes_the_chain_again(
    https: tuple[Server, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A root made X.509 v1 (`openssl x509 -req -signkey`, no -extfile): strict verification refuses it as an
    "invalid CA certificate", after the intermediate's missing key id, which the root has none to give. The fix
    signed the intermediate again alone, which gives it none again: the root is made again first."""
    server, certs = https
    self_signed(certs, "ca", "/CN=Store Root CA", "")
    chain_certificates(certs, root=None)
    monkeypatch.setenv("SSL_CERT_FILE", str(certs / "ca.crt"))
    strict_as_313(monkeypatch)
    err = fetch_err(serve(server, certs).replace("127.0.0.1", "localhost"), tmp_path, capsys, monkeypatch)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert (
        "(Missing Authority Key Identifier; its chain has 2 defects: Missing Authority Key Identifier in the"
        " intermediate CA's certificate (depth 1, O=Store, CN=Store Intermediate CA), invalid CA certificate in the"
        " root CA's certificate (depth 2, CN=Store Root CA))" in err
    ), err
    assert (
        "make the root CA's certificate (CN=Store Root CA) again with `-addext basicConstraints=critical,CA:true` and"
        " `-addext keyUsage=critical,keyCertSign,cRLSign`, then sign the intermediate CA's certificate" in err
    ), err


def test_an_intermediate_ca_refused_without_the_strict_rules_too_is_not_blamed_on_them(
    https: tuple[Server, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An intermediate with keyUsage and no basicConstraints is an "invalid CA certificate" on 3.11 as well: the
    same code as a v1 root's under strict alone, so the chain decides, and it is not said to be 3.13's doing."""
    server, certs = https
    chain_certificates(certs, intermediate=without(GOOD_CA, "basicConstraints"))
    monkeypatch.setenv("SSL_CERT_FILE", str(certs / "ca.crt"))
    strict_as_313(monkeypatch)
    err = fetch_err(serve(server, certs).replace("127.0.0.1", "localhost"), tmp_path, capsys, monkeypatch)
    assert "(invalid CA certificate): the server's TLS certificate is refused, which no network fault" in err, err
    assert "Python 3.13" not in err, err
