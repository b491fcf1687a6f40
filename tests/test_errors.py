"""The errors module's promise: each leaf error is also the built-in a plain Python caller would catch,
and an error's message stays one harmless line whatever the user's file holds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from listener.analytics.plot_checks import check_plot_path
from listener.audio.wav import open_wav
from listener.config import geometry, load_config, parse_config
from listener.errors import ListenerError, OutputError
from listener.outputs.mqtt.credentials import check_tls_files
from listener.service import doctor
from listener.transcription.stage import TranscriptionStage


def _check_config(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "listener", "check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_missing_file_is_a_file_not_found_error_wherever_it_is_named(tmp_path: Path) -> None:
    config = parse_config({"asr": {"model_path": str(tmp_path / "no-model")}})
    asr = TranscriptionStage(config, geometry(config))
    for missing in (
        lambda: load_config(tmp_path / "no.toml"),
        lambda: open_wav(tmp_path / "no.wav"),
        asr.open,
    ):
        with pytest.raises(ListenerError) as err:
            missing()
        assert isinstance(err.value, FileNotFoundError), err.value


def test_output_files_that_cannot_be_used_are_os_errors(tmp_path: Path) -> None:
    tls = parse_config({"mqtt": {"tls": True, "ca_file": str(tmp_path / "ca.pem")}}).mqtt
    with pytest.raises(OutputError, match=r"mqtt.ca_file .*ca.pem does not exist") as err:
        check_tls_files(tls)
    assert isinstance(err.value, OSError)
    with pytest.raises(OutputError, match="does not exist; create it") as err:
        check_plot_path(tmp_path / "no" / "x.png")
    assert isinstance(err.value, OSError)
    recording = tmp_path / "recording.wav"
    recording.write_bytes(b"RIFF")
    with pytest.raises(OutputError, match=r"recording\.wav is a file, not a folder; choose a path in a folder"):
        check_plot_path(recording / "x.png")  # "does not exist; create it" would send one to make it a folder


def test_doctor_names_a_missing_tls_file_as_a_config_fix_not_an_unreachable_broker(tmp_path: Path) -> None:
    pem = {"cert_file": str(tmp_path / "client.pem"), "key_file": str(tmp_path / "client.key")}
    config = parse_config({"mqtt": {"enabled": True, "tls": True, "port": 1, **pem}})
    check = doctor.check_mqtt(config)
    assert check.status == "FAIL"
    assert check.detail.endswith("client.pem does not exist")  # the fix apart, for a script reading --json
    assert "unreachable" not in check.detail and check.fix == "point it at a PEM file, or set it to ''"


def test_doctor_splits_a_tls_error_after_its_reason_whose_words_hold_a_colon(tmp_path: Path) -> None:
    # OpenSSL's "[X509: NO_CERTIFICATE_OR_CRL_FOUND]" was cut at its colon: half the reason went to the fix
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not a certificate\n")
    config = parse_config({"mqtt": {"enabled": True, "tls": True, "port": 1, "ca_file": str(bundle)}})
    check = doctor.check_mqtt(config)
    assert check.status == "FAIL", check.line()
    assert check.detail.startswith(
        "broker 127.0.0.1:1 (TLS): MQTT TLS files cannot be used ("
    ) and check.detail.endswith(")")
    # the fix names the file that failed (it named all three): each is loaded alone to find it
    assert check.fix == f"mqtt.ca_file {bundle} is no PEM certificate: point it at the broker's CA certificate"


@pytest.mark.parametrize(
    ("toml", "shown"),
    [
        ('[array]\ndevice = """USB\nArray"""\nbogus = 1\n', None),  # a valid value elsewhere: not printed
        ('[array]\npreset = "usb\x5cnarray\x5cu001b[31m"\n', r'array.preset = "usb\narray\u001b[31m"'),
        ('[array]\n"foo\x5cnbar" = 1\n', r'array."foo\nbar" = 1'),
        ('["ar\x5cu009bray"]\nx = 1\n', r'"ar\u009bray" = {x = 1}'),
        # a line separator, a right-to-left override, a zero-width space, an invisible tag character
        ('[asr]\nlanguage = "a\u2028b\u202ec\u200bd\U000e0041"\n', r'"a\u2028b\u202ec\u200bd\U000e0041"'),
    ],
)
def test_a_config_error_is_one_line_however_strange_the_value(tmp_path: Path, toml: str, shown: str | None) -> None:
    path = tmp_path / "listener.toml"
    path.write_text(toml, encoding="utf-8")
    result = _check_config(path)
    assert result.returncode == 2, result
    assert result.stderr.count("\n") == 1 and len(result.stderr.splitlines()) == 1, result.stderr
    assert "\x1b" not in result.stderr and "\x9b" not in result.stderr
    assert shown is None or shown in result.stderr, result.stderr


def test_a_tls_client_certificate_that_is_no_pem_is_named_in_the_fix(tmp_path: Path) -> None:
    # the system's CA store (ca_file unset) loads; the client certificate and key are what fails
    cert, key = tmp_path / "client.pem", tmp_path / "client.key"
    cert.write_text("not a certificate\n")
    key.write_text("not a key\n")
    mqtt = {"enabled": True, "tls": True, "port": 1, "cert_file": str(cert), "key_file": str(key)}
    check = doctor.check_mqtt(parse_config({"mqtt": mqtt}))
    assert check.status == "FAIL", check.line()
    assert check.fix.startswith(f"mqtt.cert_file {cert} and key_file {key} are no PEM certificate and its key"), check
