"""What the broker link logs in with, from the files it is in: the password (environment first, then
``password_file``, never the TOML) and the TLS files; checked before anything opens, so that a missing
file is the only line a run prints."""

from __future__ import annotations

import os
import re
import ssl
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from listener.config.mqtt_schema import MqttConfig
from listener.config.text_checks import MAX_MQTT_STRING_BYTES
from listener.config.unused_keys import PASSWORD_ENV
from listener.errors import OutputError, OutputFileError, looked_at, shown_path, why_no_file
from listener.small_files import read_small_file

__all__ = [
    "PASSWORD_ENV",
    "check_link_files",
    "check_tls_files",
    "configure",
    "login_refused",
    "password_comment",
    "read_password",
    "refused_login_hint",
    "tls_context",
]


def read_password(config: MqttConfig) -> str | None:
    """The broker password: the environment first, then ``password_file``; never the TOML."""
    from_env = os.environ.get(PASSWORD_ENV)
    if from_env:
        where = "(/etc/listener/secrets.env for the service)"
        alone = f"set it to mqtt.username's password alone {where}"
        if not (password := _first_line(from_env, OutputError, PASSWORD_ENV, alone)):
            raise OutputError(f"{PASSWORD_ENV} holds only line breaks: {alone}")
        return _sendable(password, PASSWORD_ENV, where)
    if not config.password_file:
        return None
    named = f"mqtt.password_file {shown_path(config.password_file)}"
    try:
        text = read_small_file(Path(config.password_file)).decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = f"({exc.strerror or type(exc).__name__})" if isinstance(exc, OSError) else "(not UTF-8 text)"
        raise OutputFileError(
            f"{named} cannot be read {reason}: check the path and that the listener user may read it, or set "
            f"{PASSWORD_ENV} instead"
        ) from None
    keep = f"keep only the password, on its first line, or set {PASSWORD_ENV} instead"
    password = _first_line(text, OutputFileError, named, keep)
    if not password:  # a file made but never filled in: logging in with no password would be refused as 'bad login'
        raise OutputFileError(
            f"{named} is empty: write mqtt.username's password into it (one line), or set {PASSWORD_ENV} instead"
        )
    return _sendable(password, named, "(one line)")


# paho's words for the CONNACKs of a login refused (MQTT 5's 0x86 and 0x87; 3.1.1's 4 and 5 are named alike)
LOGIN_REFUSED = ("Bad user name or password", "Not authorized")
_COMMENT = re.compile(r"\s#")


def login_refused(config: MqttConfig, reason: str) -> bool:
    """The broker refused the login (``reason``: paho's name of its CONNACK) of mqtt.username: the password sent
    may be why, and what it holds worth a look. Anonymous, no password was sent."""
    return reason in LOGIN_REFUSED and bool(config.username)


def refused_login_hint(config: MqttConfig, reason: str) -> str:
    """'; ' and what to look at, when the broker refused the login (``reason``: paho's name of it): why and the fix
    when the password sent holds a '#' after a space (password_comment); else, for one from the environment, that
    doctor names a secrets.env line systemd reads otherwise than written, which the service cannot: it may not read
    the file, and systemd leaves no trace of a dropped backslash in the value. '' otherwise."""
    if said := password_comment(config, reason):
        return f"; {said[0]}: {said[1]}"
    if login_refused(config, reason) and os.environ.get(PASSWORD_ENV):
        return (
            f"; where {PASSWORD_ENV} comes from /etc/listener/secrets.env, `sudo listener doctor` names a line there"
            " that systemd reads otherwise than written (a backslash at a line's end, a quote left open)"
        )
    return ""


def password_comment(config: MqttConfig, reason: str) -> tuple[str, str] | None:
    """What is wrong and the fix, when the broker refused the login (``reason``: paho's name of it) and the password
    sent holds a '#' after a space: a comment typed after it, which systemd's EnvironmentFile= keeps in the value
    and a password file sends whole (the broker says only "not authorized"). None otherwise. Never any of it."""
    if not login_refused(config, reason):
        return None
    try:
        password = read_password(config)
    except OutputError:  # said at the start; a file changed since is no comment of ours to find
        return None
    if password is None or not _COMMENT.search(password):
        return None
    if os.environ.get(PASSWORD_ENV):
        return (
            f"{PASSWORD_ENV} holds a '#' after a space, which systemd's EnvironmentFile= keeps in the value",
            "move a comment after the password in /etc/listener/secrets.env to a line of its own",
        )
    return (
        f"the password in mqtt.password_file {shown_path(config.password_file)} holds a '#' after a space, and all of"
        " its line is sent",
        "if a comment follows the password there, delete it",
    )


def _first_line(text: str, error: type[OutputError], source: str, fix: str) -> str:
    """The password ``text`` holds: its first line, the line break and blank lines after it dropped (an editor
    ends a file with one, LF or CRLF). Text on a later line, a note or an old password, was sent as part of the
    password, and the broker said only "not authorized": refused, naming ``source``, never what it holds."""
    first, *rest = _LINE_BREAK.split(text)
    if any(line.strip() for line in rest):
        raise error(f"{source} holds more than one line, all of which the broker would take for the password: {fix}")
    return first


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _sendable(password: str, source: str, where: str) -> str:
    """``password`` when MQTT can carry it, else the OutputError naming ``source`` (never the password): paho
    raised UnicodeEncodeError at the start on one that is not text, and one over MQTT's limit failed every
    connect as if the broker were unreachable, the metrics spooled for good."""
    fix = f"write mqtt.username's password there {where}"
    try:
        size = len(password.encode("utf-8"))
    except UnicodeEncodeError:  # bytes that are no UTF-8, as Python holds them from the environment
        raise OutputError(f"{source} is not UTF-8 text: {fix}, as UTF-8 text") from None
    if size > MAX_MQTT_STRING_BYTES:
        raise OutputError(f"{source} is {size} UTF-8 bytes long; at most {MAX_MQTT_STRING_BYTES}, MQTT's limit: {fix}")
    return password


def check_tls_files(config: MqttConfig) -> None:
    """OutputFileError naming the first configured TLS file that is not there."""
    for key in ("ca_file", "cert_file", "key_file"):
        path = getattr(config, key)
        if path and not looked_at(Path.is_file, Path(path), OutputFileError, f"mqtt.{key}"):
            # a pipe, a device or a link round in a loop was said not to exist
            raise OutputFileError(
                f"mqtt.{key} {path} {why_no_file(Path(path))}: point it at a PEM file, or set it to ''"
            )


def check_link_files(config: MqttConfig) -> None:
    """The OutputFileError opening the link would raise for the password or TLS files, raised now.

    Called before the spool opens, so that a fatal error in them is the only line a run prints."""
    configure(paho.Client(CallbackAPIVersion.VERSION2), config)


def configure(client: paho.Client, config: MqttConfig) -> None:
    """TLS and credentials, from the files they are in."""
    if config.tls:
        _set_tls(client, config)
    if config.username:
        client.username_pw_set(config.username, read_password(config))


# What Python 3.13 added to ssl.create_default_context() (VERIFY_X509_STRICT: RFC 5280's rules on extensions;
# VERIFY_X509_PARTIAL_CHAIN: any certificate in ca_file as a trust anchor), kept off whatever builds or starts the
# context, so that every device of a fleet accepts the same broker certificates on 3.11 (Debian 12) and 3.13 (Debian
# 13). Strict refuses certificates made as mosquitto's own docs say (a CA without keyUsage), by easy-rsa (its CA's
# basicConstraints not critical) or by OpenSSL 1.1 (no authorityKeyIdentifier), for no weakness of theirs: the chain,
# its signatures and dates, CA:TRUE on its CAs and the host name are checked all the same. `listener doctor` warns
# of such a certificate (doctor.strict_tls), other clients of the broker may refuse it.
NOT_ON_EVERY_PYTHON = ssl.VERIFY_X509_STRICT | ssl.VERIFY_X509_PARTIAL_CHAIN


def tls_context(cfg: MqttConfig) -> ssl.SSLContext:
    """The TLS context the broker link connects with: the broker's certificate and host name verified against
    ``ca_file`` (or the system's CAs), this device's client certificate when one is set; the same verification on
    every Python. Raises the ``OSError``, ``ValueError`` or ``ssl.SSLError`` of a file that cannot be used."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED, check_hostname: as paho's tls_set builds it
    if cfg.cert_file:
        # an encrypted key then fails, instead of OpenSSL asking for its passphrase on the terminal (and waiting
        # there for ever at the service's start); a key without one ignores it
        context.load_cert_chain(cfg.cert_file, cfg.key_file or None, password="")
    if cfg.ca_file:
        context.load_verify_locations(cfg.ca_file)
    else:
        context.load_default_certs()
    context.verify_flags &= ~NOT_ON_EVERY_PYTHON
    return context


def _set_tls(client: paho.Client, cfg: MqttConfig) -> None:
    check_tls_files(cfg)
    try:
        context = tls_context(cfg)
    except (OSError, ValueError, ssl.SSLError) as exc:
        raise OutputFileError(f"MQTT TLS files cannot be used ({exc}): {_which_tls_file(cfg)}") from None
    client.tls_set_context(context)
    if cfg.tls_insecure:
        client.tls_insecure_set(True)


def _which_tls_file(cfg: MqttConfig) -> str:
    """The fix naming the file that failed, found by loading each alone as tls_context does together."""
    context = ssl.create_default_context()
    if cfg.ca_file:
        try:
            context.load_verify_locations(cfg.ca_file)
        except (OSError, ValueError, ssl.SSLError):
            return f"mqtt.ca_file {cfg.ca_file} is no PEM certificate: point it at the broker's CA certificate"
    if cfg.cert_file:
        asked: list[bool] = []

        def ask() -> str:  # called only for an encrypted key
            asked.append(True)
            return ""

        try:
            context.load_cert_chain(cfg.cert_file, cfg.key_file or None, password=ask)
        except (OSError, ValueError, ssl.SSLError):
            if asked:
                return (
                    f"mqtt.key_file {cfg.key_file or cfg.cert_file} is protected by a passphrase, which a service "
                    "cannot type: store the key without one (`openssl pkey -in KEY -out KEY.plain`), readable by the "
                    "listener user alone, and point key_file at it"
                )
            return (
                f"mqtt.cert_file {cfg.cert_file} and key_file {cfg.key_file} are no PEM certificate and its key: "
                "point them at this device's client certificate and the key it was made with"
            )
    return "check mqtt.ca_file, cert_file, key_file"
