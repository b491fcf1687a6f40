"""``listener doctor``'s look at the broker's certificate as Python 3.13's default TLS context judges it.

The service accepts the same broker certificates on every Python (credentials.tls_context keeps 3.13's
``VERIFY_X509_STRICT`` off), so a certificate that breaks strict X.509's rules connects, and the check
stays a warning: but other clients of the broker on 3.13 (urllib, and anything built on
``ssl.create_default_context()``) refuse it, and the installer who can reissue it is the one reading
doctor. One more TLS handshake to the broker, closed without an MQTT CONNECT (its log shows a client
that closed its connection), after the probe connected; when it is refused, one more without the strict
rules, whose chain (the broker's certificates and mqtt.ca_file's) is read for every defect and the certificate
that has it: OpenSSL names only the first defect, and not where it is.
"""

from __future__ import annotations

import socket
import ssl

from listener.config.mqtt_schema import MqttConfig
from listener.service.doctor import MQTT_TIMEOUT_S, Check, Status
from listener.tls_strict import (
    CA_DEFECTS,
    REISSUE_DOC,
    Link,
    located,
    refused_as_strict,
    strict_fix,
    verified_chain,
)

NEW_CA_FILE = "give every device the new CA file (mqtt.ca_file)"
NEW_CERTFILE = "put the new intermediate after the server's certificate in the broker's certfile"


def _context(cfg: MqttConfig) -> ssl.SSLContext:
    """The service's context, with the flags 3.13's ssl.create_default_context() sets."""
    from listener.outputs.mqtt.credentials import NOT_ON_EVERY_PYTHON, tls_context

    context = tls_context(cfg)
    context.check_hostname = not cfg.tls_insecure  # as the service's connection checks it
    context.verify_flags |= NOT_ON_EVERY_PYTHON
    return context


def strict_refusal(cfg: MqttConfig) -> ssl.SSLCertVerificationError | None:
    """What strict verification refuses in the broker's certificate (None: nothing, or it could not be told)."""
    try:
        with (
            socket.create_connection((cfg.host, cfg.port), timeout=MQTT_TIMEOUT_S) as sock,
            _context(cfg).wrap_socket(sock, server_hostname=cfg.host),
        ):
            return None
    except ssl.SSLCertVerificationError as exc:
        return exc if refused_as_strict(exc) else None
    except (OSError, ValueError):
        return None  # the probe connected a moment ago: a failure now says nothing of the certificate


def broker_chain(cfg: MqttConfig) -> list[Link]:
    """Each certificate of the chain strict verification judges, with its defects; [] when it cannot be read."""
    try:
        return verified_chain(_context(cfg), cfg.host, cfg.port, MQTT_TIMEOUT_S) or []
    except (OSError, ValueError):  # the CA file gone since the probe read it
        return []


def with_strict_look(cfg: MqttConfig, check: Check) -> Check:
    """``check`` of a broker the probe connected to, with a warning when strict verification refuses its
    certificate: each defect, the certificate that has it, and how to make the chain again."""
    refused = strict_refusal(cfg) if cfg.tls else None
    if refused is None:
        return check
    found = located(broker_chain(cfg), NEW_CA_FILE, NEW_CERTFILE)
    said = (
        f"but strict X.509 verification refuses the broker's TLS certificate ({refused.verify_message})"
        f"{f', and its chain has {found[0]}' if found else ''}: the listener accepts it on every Python, Python"
        " 3.13's default TLS context (Debian 13, Raspberry Pi OS Trixie) refuses it, as other clients of the broker"
        " on 3.13 may"
    )
    if found:
        fix = f"{found[1]} ({REISSUE_DOC})"
    else:  # a defect these rules do not know: OpenSSL's words, without the certificate
        new_ca = f", and {NEW_CA_FILE}" if refused.verify_code in CA_DEFECTS else ""
        fix = f"{strict_fix(refused)}{new_ca} ({REISSUE_DOC})"
    status: Status = "FAIL" if check.status == "FAIL" else "warn"
    return Check(check.name, status, f"{check.detail}; {said}", f"{check.fix}; {fix}" if check.fix else fix)
