"""Where vosk models live, and ``listener models fetch``: download, verify, unpack.

The official models are zip files with one top-level folder. A download is
checked against a pinned SHA-256 before anything is unpacked, unpacked
into a temporary folder beside the target and moved into place last, so an
interrupted or tampered download never leaves a half model behind (nor an empty
folder where fetch made one).

The unpacked folder gets a stamp (STAMP): the zip's SHA-256 and each
file's. A later fetch checks the installed model against it and fetches
again when a file is missing or changed (a full SD card, a power cut while
copying); a model copied in by hand has no stamp and is left as it is.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import json
import logging
import os
import shlex
import ssl
import stat
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from listener.clock import TIME_FIX, judged_by_clock, refused_by_its_dates
from listener.config import Config
from listener.errors import ModelError, ModelFileError, dead_link, file_kind, looked_at, shown_path
from listener.tls_strict import STRICT_ONLY, located, refused_as_strict, strict_fix, url_chain

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
STAMP = ".listener-model.json"  # written by fetch into the model folder
STAMP_SCHEMA = "listener.model-stamp/1"
# one more handshake, for a certificate strict verification refused: which of the chain has the defect
CHAIN_TIMEOUT_S = 10.0
NEW_CA = "replace the old CA certificate in this device's CA store (or the file SSL_CERT_FILE names)"
NEW_INTERMEDIATE = "have the server send the new intermediate after its own certificate"


@dataclass(frozen=True, slots=True)
class VoskModelSpec:
    key: str  # what `listener models fetch` takes
    name: str  # the zip's top-level folder, and the folder under the models dir
    url: str
    sha256: str
    size_bytes: int
    language: str


# alphacephei publishes no checksums; this SHA-256 (and size) of the official
# vosk-model-small-en-us-0.15.zip is the one several independent projects pin.
MODELS: dict[str, VoskModelSpec] = {
    "en-small": VoskModelSpec(
        key="en-small",
        name="vosk-model-small-en-us-0.15",
        url="https://alphacephei.com/vosk/models/vosk-model-small-en-us-0.15.zip",
        sha256="30f26242c4eb449f948e42cb302dd7a686cb29a3423a8367f99ff41780942498",
        size_bytes=41_205_931,
        language="en",
    ),
}
DEFAULT_FOR_LANGUAGE = {"en": "en-small"}


def models_dir(config: Config) -> Path:
    return Path(config.service.state_dir) / "models"


def model_path(config: Config) -> Path:
    """``[asr] model_path``, or the default model of ``[asr] language`` under the models dir."""
    if config.asr.model_path:
        return Path(config.asr.model_path)  # '~' expanded and a relative path made absolute by the config loader
    key = DEFAULT_FOR_LANGUAGE.get(config.asr.language, "en-small")
    return models_dir(config) / MODELS[key].name


def missing_model_hint(path: Path, config: Config, config_file: Path | None = None) -> str:
    """How to put a model where ``path`` (the configured or default model folder) expects one.

    ``config_file``: the file ``config`` came from; fetch reads the same one to unpack where it expects.
    """
    key = DEFAULT_FOR_LANGUAGE.get(config.asr.language)
    rest = "set [asr] model_path to an unzipped vosk model folder, or set [asr] enabled = false"
    if key is None:
        return rest
    default = models_dir(config) / MODELS[key].name
    fetch = fetch_command(key, config_file, models_dir(config))
    if path == default:
        return f"run `{fetch}` while online (it unpacks into {models_dir(config)}), {rest}"
    if path.name == MODELS[key].name:  # a model_path fetch can fill: the same folder name elsewhere
        return f"run `{fetch_command(key, None, path.parent)}` while online, {rest}"
    return (
        f"run `{fetch}` while online and empty [asr] model_path (it unpacks into"
        f" {models_dir(config)}, not {path}), or {rest}"
    )


def fetch_command(key: str, config_file: Path | None, folder: Path) -> str:
    # without --config, fetch unpacks under the built-in state_dir, not the one this config names: where
    # the config's file is not known (the service's own message), the folder is named instead
    if config_file is not None:
        return f"listener models fetch {key} --config {shlex.quote(str(config_file))}"
    if folder != models_dir(Config()):
        return f"listener models fetch {key} --dir {shlex.quote(str(folder))}"
    return f"listener models fetch {key}"


def is_model_dir(path: Path) -> bool:
    return looked_at(Path.is_file, path / "am" / "final.mdl", ModelFileError, "the vosk model file")


def broken_model_hint(path: Path, config: Config, config_file: Path | None = None) -> str:
    """How to replace the model in ``path`` that vosk cannot load (``config_file`` as for missing_model_hint)."""
    key = DEFAULT_FOR_LANGUAGE.get(config.asr.language)
    if key is None or path != models_dir(config) / MODELS[key].name:
        return f"replace {path} with an unzipped vosk model folder, or point [asr] model_path at one"
    fetch = fetch_command(key, config_file, models_dir(config))
    if installed_problem(MODELS[key], path):
        return f"run `{fetch}` while online: it replaces the damaged model"
    # without a stamp (copied by hand), or intact as fetched yet unloadable: fetch would keep it
    return f"delete the folder {path}, then run `{fetch}` while online"


def installed_problem(spec: VoskModelSpec, target: Path) -> str | None:
    """What is wrong with ``spec`` as fetch installed it in ``target``: '' if nothing, None if it has no stamp."""
    try:
        stamp = json.loads((target / STAMP).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return f"its stamp {STAMP} is unreadable ({exc})"
    if not isinstance(stamp, dict) or stamp.get("schema") != STAMP_SCHEMA or stamp.get("zip_sha256") != spec.sha256:
        return f"its stamp {STAMP} is not that of {spec.url}"
    files = stamp.get("files")
    if not isinstance(files, dict) or not files:
        return f"its stamp {STAMP} lists no files"
    for name, digest in files.items():
        path = target / name
        if not path.is_file():
            return f"{name} is missing"
        try:
            changed = file_sha256(path) != digest
        except OSError as exc:  # a failing card, or a file this account may not read: what fetch replaces
            return f"{name} cannot be read ({exc.strerror or exc})"
        if changed:
            return f"{name} has changed since it was unpacked"
    return ""


def fetch(
    spec: VoskModelSpec,
    dest: Path,
    *,
    timeout_s: float = 60.0,
    progress: Callable[[int], None] | None = None,
    again: str | None = None,
) -> Path:
    """Download ``spec`` into ``dest``/``spec.name`` unless it is there intact already; returns that folder.

    ``again``: the command a failed download tells the user to run again (the one they ran: a bare
    ``listener models fetch KEY`` unpacks into the default folder, not the ``--dir`` or config's they gave)."""
    target = dest / spec.name
    if is_model_dir(target):
        problem = installed_problem(spec, target)
        if not problem:
            return target
        log.warning("the model in %s is damaged (%s): fetching it again", target, problem)
    made = _missing_folders(dest)
    try:
        dest.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f".{spec.name}.", dir=dest) as tmp:
            archive = Path(tmp) / "model.zip"
            _download(spec, archive, dest, timeout_s, progress, again or f"listener models fetch {spec.key}")
            _unpack(spec, archive, Path(tmp) / "unpacked", target)
    except BaseException as exc:  # nothing half-written is kept (the scratch folder goes), nor folders made for it
        _remove_empty(made)
        if not isinstance(exc, OSError):
            raise
        raise ModelFileError(
            f"cannot write the model into {shown_path(dest)} {_write_problem(dest, exc, spec)}"
        ) from None
    return target


def _missing_folders(dest: Path) -> list[Path]:
    """The folders mkdir would make for ``dest``, deepest first; none where a link, even a broken one, stands.
    A name below a '..' is left out: 'new/../models' names ./models, there before or not, not a folder in new."""
    missing = []
    for folder in (dest, *dest.parents):
        if os.path.lexists(folder):
            break
        missing.append(folder)
    return [folder for folder in missing if ".." not in folder.parts]


def _remove_empty(folders: list[Path]) -> None:
    # only empty ones: whatever someone put into a folder meanwhile stays, and so does the folder
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


def _write_problem(dest: Path, exc: OSError, spec: VoskModelSpec) -> str:
    """``(reason): fix``, or what stands where a folder on the way to ``dest`` belongs and its fix: mkdir
    says only "File exists" of a file, a device or a broken link there, and "Not a directory" below a file."""
    elsewhere = "pass --dir with a folder (or a name not yet taken) and point [asr] model_path at it"
    if exc.errno in (errno.EEXIST, errno.ENOTDIR, errno.ELOOP):
        for place in (*reversed(dest.parents), dest):
            try:
                mode = place.stat().st_mode
            except OSError as error:
                link = dead_link(place) if error.errno in (errno.ENOENT, errno.ELOOP) else None
                if link is None:
                    break  # a folder mkdir did not get to: nothing stands in its way
                fix = "replace it" if link.loops else "make that folder"
                return f"({_named(place, dest)} is {link.said()}): {fix}, or {elsewhere}"
            if not stat.S_ISDIR(mode):
                return f"({_named(place, dest)} is {file_kind(mode)}, not a folder): {elsewhere}"
    return f"({exc.strerror or exc}): {_write_fix(exc, spec)}"


def _named(place: Path, dest: Path) -> str:
    return "it" if place == dest else shown_path(place)


def _write_fix(exc: OSError, spec: VoskModelSpec) -> str:
    elsewhere = "pass --dir with a writable folder and point [asr] model_path at it"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        need_mb = 3 * spec.size_bytes // 1_000_000
        return f"free some space there (the model needs about {need_mb} MB while it is unpacked) or pass --dir"
    if isinstance(exc, PermissionError):
        return f"run as a user who may write there (e.g. with sudo), or {elsewhere}"
    return elsewhere


@dataclass
class _Transfer:
    """How far a download got: whether the server answered, the body's bytes read and the length it announced."""

    answered: bool = False
    received: int = 0
    announced: int | None = None  # Content-Length; None for a chunked body

    def broke_off(self, spec: VoskModelSpec, why: str, again: str) -> ModelError:
        of = f" of {self.announced}" if self.announced is not None else ""
        return ModelError(
            f"the download of {spec.url} broke off after {self.received}{of} bytes ({why}) and was discarded: run"
            f" `{again}` again"
        )


def _download(
    spec: VoskModelSpec, out: Path, dest: Path, timeout_s: float, progress: Callable[[int], None] | None, again: str
) -> None:
    digest = hashlib.sha256()
    got = _Transfer()
    try:
        with urllib.request.urlopen(spec.url, timeout=timeout_s) as response, out.open("wb") as fh:
            got.answered, got.announced = True, getattr(response, "length", None)  # none for a file: URL
            while chunk := _read(response, got, spec, again):
                fh.write(chunk)
                digest.update(chunk)
                got.received += len(chunk)
                if progress is not None:
                    progress(got.received)
    except http.client.HTTPException as exc:  # the body broke off (IncompleteRead) or came garbled
        got.received += len(getattr(exc, "partial", b""))  # what the read that failed had already taken in
        raise got.broke_off(spec, type(exc).__name__, again) from None
    except urllib.error.HTTPError as exc:  # the server answered: not an offline machine
        raise ModelError(
            f"{spec.url} answered HTTP {exc.code} ({exc.reason}): the model is not there; check the URL, or copy an"
            f" unzipped {spec.name} folder into {dest}"
        ) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        if got.answered:  # reset or stalled mid-body (flaky Wi-Fi): online, and worth another try
            raise got.broke_off(spec, getattr(exc, "strerror", None) or str(exc), again) from None
        raise _unreachable(spec, dest, getattr(exc, "reason", exc), again) from None
    if got.announced is not None and got.received < got.announced:  # http.client ends early, without IncompleteRead
        raise got.broke_off(spec, "the connection closed early", again)
    if digest.hexdigest() != spec.sha256:
        raise ModelError(
            f"the download of {spec.url} ({got.received} bytes) has SHA-256 {digest.hexdigest()}, expected"
            f" {spec.sha256} ({spec.size_bytes} bytes): it is corrupt or was changed upstream and was discarded; run"
            f" `{again}` again, and if it keeps failing do not use that file"
        )


def _read(response: Any, got: _Transfer, spec: VoskModelSpec, again: str) -> bytes:
    """The body's next bytes, what has come (a break names the bytes before it). Any OSError here is the
    network's (a TLS record garbled, the route gone), told apart from the write's, which fetch says of the disk."""
    try:
        return bytes(response.read1(CHUNK_BYTES))
    except (http.client.HTTPException, TimeoutError, ConnectionError):
        raise  # said by _download, with the bytes a broken chunk held
    except OSError as exc:
        raise got.broke_off(spec, exc.strerror or str(exc), again) from None


def _strict_refusal(
    spec: VoskModelSpec, reason: ssl.SSLCertVerificationError, again: str, instead: str
) -> ModelError | None:
    """The error for a certificate strict verification refuses and 3.11's accepts; None when that cannot be told of
    an "invalid CA certificate", which a handshake without the strict rules refuses too where an intermediate has it.
    The CA store is right, and a Debian 12 device fetches the same model: "add the proxy's CA" misled."""
    found = located(url_chain(spec.url, CHAIN_TIMEOUT_S), NEW_CA, NEW_INTERMEDIATE)
    if found is None and reason.verify_code not in STRICT_ONLY:
        return None
    where = f"; its chain has {found[0]}" if found else ""
    return ModelError(
        f"cannot download {spec.url} ({reason.verify_message}{where}): the server's TLS certificate, or the CA of"
        " a proxy that inspects HTTPS, breaks a rule of the strict X.509 verification that Python 3.13 (Debian 13)"
        f" applies and 3.11 did not: {found[1] if found else strict_fix(reason)} (a proxy's CA: by whoever runs"
        f" it); then run `{again}` again, {instead}"
    )


def _unreachable(spec: VoskModelSpec, dest: Path, reason: object, again: str) -> ModelError:
    """The error for a download that got no answer: offline, unless TLS refused the server's certificate."""
    instead = f"or copy an unzipped {spec.name} folder into {dest}"
    if refused_by_its_dates(reason):
        # a Pi with no network time (its image's date, or a store blocking NTP) is online all the same
        return ModelError(
            f"cannot download {spec.url} ({reason.verify_message}): {judged_by_clock()}: {TIME_FIX},"
            f" then run `{again}` again; {instead}"
        )
    strict = _strict_refusal(spec, reason, again, instead) if refused_as_strict(reason) else None
    if strict is not None:
        return strict
    if isinstance(reason, ssl.SSLCertVerificationError):
        return ModelError(
            f"cannot download {spec.url} ({reason.verify_message}): the server's TLS certificate is refused, which"
            " no network fault explains: a proxy that inspects HTTPS needs its CA certificate among the system's"
            " (`sudo update-ca-certificates`) or in the file SSL_CERT_FILE names, an old system needs"
            f" `sudo apt-get install ca-certificates`; then run `{again}` again, {instead}"
        )
    if isinstance(reason, ssl.SSLError):
        # something answered, but not in TLS as the server would: a machine that reaches it is not offline
        return ModelError(
            f"cannot download {spec.url} (TLS failed: {reason}): the network answers, but not as that server does:"
            " a captive portal (guest Wi-Fi waiting for a login in a browser) or a proxy that filters HTTPS is in the"
            f" way; let this device through it, then run `{again}` again, {instead}"
        )
    return ModelError(
        f"cannot download {spec.url} ({reason}): this machine seems to be offline; connect it to the internet"
        f" and run `{again}` again, {instead}"
    )


def _unpack(spec: VoskModelSpec, archive: Path, scratch: Path, target: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            for member in zf.namelist():
                parts = PurePosixPath(member).parts
                if member.startswith("/") or ".." in parts or not parts or parts[0] != spec.name:
                    raise ModelError(
                        f"{spec.url} holds {member!r} outside the folder {spec.name}/: refusing to unpack it;"
                        " check that the URL names an official vosk model"
                    )
            zf.extractall(scratch)
    except zipfile.BadZipFile:
        raise ModelError(f"{spec.url} is not a zip file: check the URL of model {spec.key}") from None
    unpacked = scratch / spec.name
    if not is_model_dir(unpacked):
        raise ModelError(f"{spec.url} holds no vosk model (no {spec.name}/am/final.mdl): check the URL")
    _write_stamp(spec, unpacked)
    if target.exists():  # a broken model: moved into the scratch folder, which is deleted with it
        target.rename(scratch.parent / "replaced")
    unpacked.rename(target)


def _write_stamp(spec: VoskModelSpec, folder: Path) -> None:
    files = {p.relative_to(folder).as_posix(): file_sha256(p) for p in sorted(folder.rglob("*")) if p.is_file()}
    stamp = {"schema": STAMP_SCHEMA, "url": spec.url, "zip_sha256": spec.sha256, "files": files}
    (folder / STAMP).write_text(json.dumps(stamp, indent=1) + "\n", encoding="utf-8")


def file_sha256(path: Path) -> str:
    """The SHA-256 of the file at ``path``, read in pieces (a model zip or a wheel need not fit in memory)."""
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()
