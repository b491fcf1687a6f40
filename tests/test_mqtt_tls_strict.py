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
from tests.cert_recipes import RECIPES, recipe_certificates
from tests.doctor_config import config
from tests.mqtt_broker import PASSWORD, Mosquitto

AS_313 = ssl.VERIFY_X509_STRICT | ssl.VERIFY_X509_PARTIAL_CHAIN  # what 3.13's create_default_context() adds
DEFECTS = {
    "mosquitto-docs": ("CA cert does not include key usage extension", "keyUsage=critical,keyCertSign,cRLSign"),
    "easy-rsa": ("Basic Constraints of CA cert not marked critical", "basicConstraints=critical,CA:true"),
    "openssl-1.1": ("Missing Authority Key Identifier", "authorityKeyIdentifier=keyid,issuer"),
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
    defect, extension = DEFECTS[recipe]
    assert checked.status == "warn" and checked.detail.startswith("connected to localhost:"), checked
    assert f"strict X.509 verification refuses the broker's TLS certificate ({defect})" in checked.detail, checked
    assert extension in checked.fix, checked
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
