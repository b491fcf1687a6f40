"""The [mqtt] TLS keys do what docs/config.md says, against a real mosquitto: ``tls_insecure`` skips the
check of the broker certificate's host name (and only that), ``cert_file`` / ``key_file`` are the client
certificate of mutual TLS. Judged through doctor's broker check, which connects as the service does."""

from __future__ import annotations

import datetime
import ssl
from pathlib import Path
from typing import Any

import pytest

from listener.service import doctor
from tests.doctor_config import config
from tests.mqtt_broker import PASSWORD, Mosquitto, client_certificate, redate_certificate


@pytest.fixture(autouse=True)
def _password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LISTENER_MQTT_PASSWORD", PASSWORD)  # the TLS broker takes no anonymous client


def _stamp(days: int) -> str:
    return (datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=days)).strftime("%Y%m%d%H%M%SZ")


def test_tls_insecure_connects_to_a_broker_whose_certificate_names_another_host(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "broker", tls=True)
    certs = broker.folder / "certs"
    (certs / "san.cnf").write_text("subjectAltName=DNS:elsewhere.invalid\n")  # not 127.0.0.1, which we dial
    redate_certificate(certs, _stamp(-1), _stamp(2))
    with broker:
        checked = doctor.check_mqtt(config(tmp_path, mqtt=broker.mqtt_config(protocol="5")))
        insecure = doctor.check_mqtt(config(tmp_path, mqtt=broker.mqtt_config(protocol="5", tls_insecure=True)))
    assert checked.status == "FAIL" and "CERTIFICATE_VERIFY_FAILED" in checked.detail, checked
    assert insecure.status == "ok", insecure


def test_the_client_certificate_is_presented_to_a_broker_that_requires_one(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "broker", tls=True)
    # it hangs up on a client without one (test_mqtt_link): accepted, the certificate was presented
    broker.conf.write_text(broker.conf.read_text() + "require_certificate true\n")
    cert, key = client_certificate(broker.folder / "certs", "counter-3")
    mutual = {"cert_file": str(cert), "key_file": str(key)}
    with broker:
        presented = doctor.check_mqtt(config(tmp_path, mqtt=broker.mqtt_config(protocol="5", **mutual)))
    assert presented.status == "ok", presented


def test_a_client_key_protected_by_a_passphrase_is_named_and_never_prompted_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OpenSSL asked "Enter PEM pass phrase:" on the terminal (a start that waited for ever under a terminal,
    three prompts in the journal under systemd), then the error blamed a certificate that was fine."""
    broker = Mosquitto(tmp_path / "broker", tls=True)
    cert, key = client_certificate(broker.folder / "certs", "counter-4", passphrase="secret")
    mutual = {"cert_file": str(cert), "key_file": str(key)}
    passwords: list[object] = []
    load_cert_chain = ssl.SSLContext.load_cert_chain

    def spied(context: ssl.SSLContext, *args: Any, **kwargs: Any) -> None:
        passwords.append(kwargs.get("password"))
        load_cert_chain(context, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_cert_chain", spied)
    checked = doctor.check_mqtt(config(tmp_path, mqtt=broker.mqtt_config(protocol="5", **mutual)))
    # without a terminal OpenSSL's prompt fails at once, as "" does: that a passphrase is given is what keeps it off
    # (the second load is the one that names the file, with a callback that notes being asked)
    assert passwords[0] == "", passwords
    assert checked.status == "FAIL", checked
    assert f"mqtt.key_file {key} is protected by a passphrase, which a service cannot type" in checked.line(), checked
