"""A store's broker certificate that Python 3.13's strict X.509 verification refuses, against a real mosquitto.

Python 3.13 (Debian 13, Raspberry Pi OS Trixie) sets ``VERIFY_X509_STRICT`` in ``ssl.create_default_context()``;
certificates made as mosquitto's docs, easy-rsa 3.1 or OpenSSL 1.1 make them fail it (tests.cert_recipes), and
3.11's context accepts them. The listener must accept the same ones on every Python, so that a newer OS image or a
paho that builds its context otherwise does not cut a device off a broker the rest of the fleet reaches; doctor
warns of such a certificate. CI runs 3.11: here every ``ssl.SSLContext`` starts with the flags 3.13's default
context has, which is what a listener on 3.13 would meet if its context were Python's default one.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest

from listener.config.mqtt_schema import MqttConfig
from listener.outputs.mqtt.credentials import tls_context
from listener.service import doctor
from tests.cert_recipes import GOOD_CA, GOOD_SERVER, RECIPES, chain_certificates, recipe_certificates, without
from tests.doctor_config import config
from tests.mqtt_broker import PASSWORD, Mosquitto

AS_313 = ssl.VERIFY_X509_STRICT | ssl.VERIFY_X509_PARTIAL_CHAIN  # what 3.13's create_default_context() adds
ROOT = "the root CA's certificate (depth 1, CN=Store CA)"
SERVER = "the server's certificate (depth 0, CN=localhost)"
DEFECTS = {  # OpenSSL's words, the certificate that has it, the fix's start
    "mosquitto-docs": (
        "CA cert does not include key usage extension",
        ROOT,
        "make the root CA's certificate (CN=Store CA) again with `-addext keyUsage=critical,keyCertSign,cRLSign`",
    ),
    "easy-rsa": (
        "Basic Constraints of CA cert not marked critical",
        ROOT,
        "make the root CA's certificate (CN=Store CA) again with `-addext basicConstraints=critical,CA:true`",
    ),
    "openssl-1.1": (
        "Missing Authority Key Identifier",
        SERVER,
        "sign the server's certificate (CN=localhost) again with `authorityKeyIdentifier=keyid,issuer`",
    ),
}
NEW_CA_FILE = "give every device the new CA file (mqtt.ca_file)"
INTERMEDIATE = "the intermediate CA's certificate (depth 1, O=Store, CN=Store Intermediate CA)"
RESIGN_INTERMEDIATE = "sign the intermediate CA's certificate (O=Store, CN=Store Intermediate CA) again with"
THEN_SERVER = "then sign the server's certificate (CN=localhost) again with it"
CERTFILE = "put the new intermediate after the server's certificate in the broker's certfile"
MESSAGES_BY_EXTENSION = {
    "keyUsage": "CA cert does not include key usage extension",
    "authorityKeyIdentifier": "Missing Authority Key Identifier",
    "subjectKeyIdentifier": "Missing Subject Key Identifier",
}


@pytest.fixture(autouse=True)
def _password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LISTENER_MQTT_PASSWORD", PASSWORD)  # the TLS broker takes no anonymous client


@pytest.fixture()
def strict_from_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every ``ssl.SSLContext`` made from now on starts as strict as 3.13's default one (paho's, urllib's, ours)."""
    made = ssl.SSLContext.__new__

    def strict(cls: type[ssl.SSLContext], *args: Any, **kwargs: Any) -> ssl.SSLContext:
        context = made(cls, *args, **kwargs)
        context.verify_flags |= AS_313
        return context

    monkeypatch.setattr(ssl.SSLContext, "__new__", strict)
    assert ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).verify_flags & AS_313 == AS_313


def broker_of(tmp_path: Path, recipe: str) -> Mosquitto:
    broker = Mosquitto(tmp_path / "broker", tls=True)
    recipe_certificates(broker.folder / "certs", recipe)  # over the ones its config names
    return broker


def test_a_broker_certificate_made_as_mosquittos_docs_say_connects_where_contexts_start_strict(
    tmp_path: Path, strict_from_the_start: None
) -> None:
    broker = broker_of(tmp_path, "mosquitto-docs")
    table = broker.mqtt_config(protocol="5", host="localhost")  # the certificate names the host in its CN only
    flags = tls_context(MqttConfig(**table)).verify_flags  # type: ignore[arg-type]
    with broker:
        checked = doctor.check_mqtt(config(tmp_path, mqtt=table))
    # else doctor (and the service's journal) says: "unreachable: [SSL: CERTIFICATE_VERIFY_FAILED] certificate
    # verify failed: CA cert does not include key usage extension"; fix: check mqtt.ca_file
    assert checked.status != "FAIL" and checked.detail.startswith("connected to localhost:"), checked
    assert not flags & AS_313, flags


@pytest.mark.parametrize("recipe", RECIPES)
def test_doctor_warns_of_a_certificate_strict_verification_refuses_naming_the_defect_and_the_fix(
    tmp_path: Path, recipe: str
) -> None:
    broker = broker_of(tmp_path, recipe)
    with broker:
        checked = doctor.check_mqtt(config(tmp_path, mqtt=broker.mqtt_config(protocol="5", host="localhost")))
    defect, where, fix = DEFECTS[recipe]
    assert checked.status == "warn" and checked.detail.startswith("connected to localhost:"), checked
    assert f"strict X.509 verification refuses the broker's TLS certificate ({defect})" in checked.detail, checked
    assert f"its chain has 1 defect: {defect} in {where}:" in checked.detail, checked
    # mosquitto sends its cafile's root after the server's certificate: it is still the devices' CA file's
    assert checked.fix.startswith(fix) and (NEW_CA_FILE in checked.fix) == (where == ROOT), checked
    assert CERTFILE not in checked.fix, checked
    assert len(checked.line().splitlines()) == 1, checked


def test_a_certificate_refused_for_another_reason_is_named_by_that_reason_as_before(
    tmp_path: Path, strict_from_the_start: None
) -> None:
    """A certificate that breaks strict's rules and does not name the host dialled (an IP address, where its CN
    names localhost) is refused by its name, with the advice it had."""
    broker = broker_of(tmp_path, "mosquitto-docs")
    with broker:
        checked = doctor.check_mqtt(config(tmp_path, mqtt=broker.mqtt_config(protocol="5")))
    assert checked.status == "FAIL", checked
    assert checked.detail.startswith(
        f"broker 127.0.0.1:{broker.port} (TLS) unreachable: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify"
        " failed: IP address mismatch, certificate is not valid for '127.0.0.1'."
    ), checked
    assert checked.fix == (
        "check mqtt.ca_file (the CA file that signed the broker's certificate; '' = the system's CAs) "
        "and that the certificate names mqtt.host (tls_insecure skips only that)"
    ), checked


def strict_look(tmp_path: Path, broker: Mosquitto, **mqtt: object) -> tuple[str, str]:
    """doctor's mqtt check of ``broker``, a warning on one line: its detail and its fix."""
    with broker:
        checked = doctor.check_mqtt(config(tmp_path, mqtt=broker.mqtt_config(protocol="5", host="localhost", **mqtt)))
    assert checked.status == "warn" and checked.detail.startswith("connected to localhost:"), checked
    assert len(checked.line().splitlines()) == 1, checked
    return checked.detail, checked.fix


@pytest.mark.parametrize(
    ("missing", "refused", "found", "added"),
    [
        # OpenSSL says "CA cert does not include key usage extension": it was the root CA, the devices' ca_file
        ("keyUsage", "CA cert does not include key usage extension", "", "`keyUsage=critical,keyCertSign,cRLSign`"),
        # "Missing Authority Key Identifier" was the server's certificate
        ("authorityKeyIdentifier", "Missing Authority Key Identifier", "", "`authorityKeyIdentifier=keyid,issuer`"),
        # OpenSSL names the server's certificate's missing key id first; the cause is the intermediate's, which has
        # no key id to name: signing the server's certificate again alone gives it none
        (
            "subjectKeyIdentifier",
            "Missing Authority Key Identifier",
            "Missing Authority Key Identifier in the server's certificate (depth 0, CN=localhost), ",
            "`subjectKeyIdentifier=hash`",
        ),
    ],
)
def test_doctor_names_the_intermediate_ca_that_has_the_defect_and_the_option_that_fixes_it(
    tmp_path: Path, missing: str, refused: str, found: str, added: str
) -> None:
    """A broker sending its certificate and an intermediate CA's (mqtt.ca_file: the root) whose certificate lacks
    what strict verification wants: the intermediate is made again, not the root in every device's CA file."""
    broker = Mosquitto(tmp_path / "broker", tls=True)
    chain_certificates(broker.folder / "certs", intermediate=without(GOOD_CA, missing))
    detail, fix = strict_look(tmp_path, broker)
    defect = MESSAGES_BY_EXTENSION[missing]
    assert f"refuses the broker's TLS certificate ({refused}), and its chain has" in detail, detail
    assert f": {found}{defect} in {INTERMEDIATE}:" in detail, detail
    assert fix.startswith(f"{RESIGN_INTERMEDIATE} {added} in its `openssl x509 -req -extfile` file, {THEN_SERVER}"), fix
    assert CERTFILE in fix and "mqtt.ca_file" not in fix and "root" not in fix, fix


def test_doctor_names_every_defect_of_the_chain_and_makes_it_again_from_the_root_down(tmp_path: Path) -> None:
    """A root CA without keyUsage (man mosquitto-tls), an intermediate without keyUsage nor authorityKeyIdentifier,
    a server certificate without authorityKeyIdentifier (OpenSSL 1.1): OpenSSL refuses the first, the server's;
    doctor names all four and the three certificates, and the fix makes each again with what it lacks."""
    broker = Mosquitto(tmp_path / "broker", tls=True)
    intermediate = without(GOOD_CA, "keyUsage", "authorityKeyIdentifier")
    server = without(GOOD_SERVER, "authorityKeyIdentifier")
    chain_certificates(broker.folder / "certs", intermediate, server, root="")  # root: -extensions v3_ca alone
    detail, fix = strict_look(tmp_path, broker)
    assert (
        "refuses the broker's TLS certificate (Missing Authority Key Identifier), and its chain has 4 defects:"
        " Missing Authority Key Identifier in the server's certificate (depth 0, CN=localhost), CA cert does not"
        f" include key usage extension and Missing Authority Key Identifier in {INTERMEDIATE}, CA cert does not"
        " include key usage extension in the root CA's certificate (depth 2, CN=Store Root CA):"
    ) in detail, detail
    assert fix.startswith(
        "make the root CA's certificate (CN=Store Root CA) again with `-addext keyUsage=critical,keyCertSign,cRLSign`,"
        " then sign the intermediate CA's certificate (O=Store, CN=Store Intermediate CA) again with it, adding"
        " `keyUsage=critical,keyCertSign,cRLSign` and `authorityKeyIdentifier=keyid,issuer` in its `openssl x509 -req"
        f" -extfile` file, {THEN_SERVER}, adding `authorityKeyIdentifier=keyid,issuer` in its `openssl x509 -req"
        f" -extfile` file, and {NEW_CA_FILE}, and {CERTFILE} ("
    ), fix


def test_an_intermediate_ca_from_the_ca_file_is_named_as_one_every_device_has(tmp_path: Path) -> None:
    """The broker sends its own certificate alone; mqtt.ca_file holds the root and the intermediate, which 3.13
    (VERIFY_X509_PARTIAL_CHAIN) trusts as it is: the new intermediate goes to every device, not to the broker."""
    broker = Mosquitto(tmp_path / "broker", tls=True)
    certs = broker.folder / "certs"
    chain_certificates(certs, intermediate=without(GOOD_CA, "keyUsage"))
    (certs / "server.crt").write_bytes((certs / "leaf.crt").read_bytes())
    (tmp_path / "cas.crt").write_bytes((certs / "ca.crt").read_bytes() + (certs / "intermediate.crt").read_bytes())
    detail, fix = strict_look(tmp_path, broker, ca_file=str(tmp_path / "cas.crt"))
    assert f"its chain has 1 defect: CA cert does not include key usage extension in {INTERMEDIATE}:" in detail, detail
    assert fix.startswith(f"{RESIGN_INTERMEDIATE} `keyUsage=critical,keyCertSign,cRLSign`"), fix
    assert NEW_CA_FILE in fix and CERTFILE not in fix, fix


def test_doctor_warns_of_a_server_certificate_that_could_sign_others_as_strict_refuses_it(tmp_path: Path) -> None:
    """keyUsage keyCertSign without basicConstraints makes the server's certificate a CA by OpenSSL's leniency, and
    strict verification refuses it as an "invalid CA certificate" (79): doctor did not count that code among the
    strict rules' and said nothing of it."""
    broker = Mosquitto(tmp_path / "broker", tls=True)
    chain_certificates(broker.folder / "certs", server=GOOD_SERVER + "keyUsage=critical,digitalSignature,keyCertSign\n")
    detail, fix = strict_look(tmp_path, broker)
    assert (
        "refuses the broker's TLS certificate (invalid CA certificate), and its chain has 2 defects: invalid CA"
        " certificate and Key usage keyCertSign invalid for non-CA cert in the server's certificate (depth 0,"
        " CN=localhost):"
    ) in detail, detail
    assert fix.startswith(
        "sign the server's certificate (CN=localhost) again with `basicConstraints=CA:false` and"
        " `keyUsage=critical,digitalSignature,keyEncipherment` in its `openssl x509 -req -extfile` file ("
    ), fix
    assert NEW_CA_FILE not in fix and CERTFILE not in fix, fix
