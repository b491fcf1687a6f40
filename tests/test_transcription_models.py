"""`listener models fetch`: download, pinned SHA-256, unpack; offline and tampered downloads; missing model.

Downloads come from a real HTTP server on 127.0.0.1 serving a small zip laid out like a vosk
model: the tests never reach the internet.
"""

from __future__ import annotations

import errno
import hashlib
import http.server
import io
import os
import socket
import ssl
import struct
import threading
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from listener.cli import main
from listener.errors import ModelError
from listener.transcription.models import CHUNK_BYTES, MODELS, VoskModelSpec, fetch, is_model_dir

NAME = "vosk-model-tiny-test"


def model_zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


GOOD = model_zip({f"{NAME}/am/final.mdl": b"acoustic model", f"{NAME}/conf/model.conf": b"--beam=10\n"})


class Server:
    """Serves fixed bytes per path and counts the requests."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.hits = 0
        files, server = self.files, self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits += 1
                body = files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"


def serving(files: dict[str, bytes]) -> Iterator[Server]:
    """A running Server of ``files``, shut down after the test (a fixture's body)."""
    s = Server()
    s.files.update(files)
    s.thread.start()
    try:
        yield s
    finally:
        s.httpd.shutdown()
        s.httpd.server_close()


@pytest.fixture()
def server() -> Iterator[Server]:
    yield from serving({})


def spec_for(url: str, data: bytes) -> VoskModelSpec:
    return VoskModelSpec(
        key="en-small", name=NAME, url=url, sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data), language="en"
    )


def leftovers(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.iterdir()) if dest.exists() else []


def test_fetch_downloads_verifies_and_unpacks_once(server: Server, tmp_path: Path) -> None:
    server.files["/m.zip"] = GOOD
    dest = tmp_path / "models"
    seen: list[int] = []
    path = fetch(spec_for(server.url("/m.zip"), GOOD), dest, progress=seen.append)
    assert path == dest / NAME and is_model_dir(path)
    assert (path / "conf" / "model.conf").read_bytes() == b"--beam=10\n"
    assert seen[-1] == len(GOOD)
    assert leftovers(dest) == [NAME]  # no temporary files left behind
    assert fetch(spec_for(server.url("/m.zip"), GOOD), dest) == path
    assert server.hits == 1  # already installed: not downloaded again


def test_checksum_mismatch_is_refused_and_nothing_is_kept(server: Server, tmp_path: Path) -> None:
    tampered = model_zip({f"{NAME}/am/final.mdl": b"something else"})
    server.files["/m.zip"] = tampered
    dest = tmp_path / "models"
    with pytest.raises(ModelError, match=r"SHA-256 [0-9a-f]{64}, expected [0-9a-f]{64}.*discarded"):
        fetch(spec_for(server.url("/m.zip"), GOOD), dest)
    assert leftovers(dest) == []


def test_offline_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ModelError, match=r"offline.*listener models fetch en-small.*or copy an unzipped"):
        fetch(spec_for(f"http://127.0.0.1:{port}/m.zip", GOOD), tmp_path / "models", timeout_s=5.0)
    assert leftovers(tmp_path / "models") == []


def test_missing_file_url_is_a_clear_error(tmp_path: Path) -> None:
    missing = (tmp_path / "nowhere.zip").as_uri()
    with pytest.raises(ModelError, match="cannot download"):
        fetch(spec_for(missing, GOOD), tmp_path / "models")


def test_a_local_file_url_works(tmp_path: Path) -> None:
    archive = tmp_path / "m.zip"
    archive.write_bytes(GOOD)
    assert is_model_dir(fetch(spec_for(archive.as_uri(), GOOD), tmp_path / "models"))


@pytest.mark.parametrize(
    "members",
    [
        {"../evil/am/final.mdl": b"x"},  # outside the destination
        {"other-name/am/final.mdl": b"x"},  # not the model's folder
        {f"{NAME}/README": b"x"},  # no acoustic model
    ],
)
def test_archives_that_are_not_the_model_are_refused(server: Server, tmp_path: Path, members: dict[str, bytes]) -> None:
    data = model_zip(members)
    server.files["/m.zip"] = data
    with pytest.raises(ModelError, match=r"refusing|no vosk model"):
        fetch(spec_for(server.url("/m.zip"), data), tmp_path / "models")
    assert not (tmp_path / "evil").exists()
    assert leftovers(tmp_path / "models") == []


@pytest.mark.parametrize("outside", ["../evil.txt", "/etc/evil.conf", "beside-the-model.txt"])
def test_a_model_archive_with_anything_outside_its_folder_is_refused_whole(tmp_path: Path, outside: str) -> None:
    """The model itself is intact: the member beside it alone makes it no official model."""
    data = model_zip({f"{NAME}/am/final.mdl": b"acoustic model", outside: b"x"})
    archive = tmp_path / "m.zip"
    archive.write_bytes(data)
    with pytest.raises(ModelError, match=f"holds {outside!r} outside the folder {NAME}/: refusing to unpack it"):
        fetch(spec_for(archive.as_uri(), data), tmp_path / "models")
    assert leftovers(tmp_path / "models") == []


def test_not_a_zip_is_refused(server: Server, tmp_path: Path) -> None:
    server.files["/m.zip"] = b"<html>captive portal</html>"
    with pytest.raises(ModelError, match="not a zip"):
        fetch(spec_for(server.url("/m.zip"), b"<html>captive portal</html>"), tmp_path / "models")


def test_the_pinned_model_is_the_official_small_english_one() -> None:
    spec = MODELS["en-small"]
    assert spec.url == "https://alphacephei.com/vosk/models/vosk-model-small-en-us-0.15.zip"
    assert spec.name == "vosk-model-small-en-us-0.15" and spec.size_bytes == 41_205_931
    assert replace(spec, sha256=spec.sha256.lower()) == spec and len(bytes.fromhex(spec.sha256)) == 32


def test_cli_fetch_with_the_model_in_place_needs_no_network(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    installed = tmp_path / MODELS["en-small"].name / "am"
    installed.mkdir(parents=True)
    (installed / "final.mdl").write_bytes(b"model")
    assert main(["models", "fetch", "en-small", "--dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / MODELS["en-small"].name)


@pytest.mark.parametrize("where", ["--dir", "--config"])
def test_a_failed_fetch_says_to_run_again_the_command_that_was_run(
    server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    # "run `listener models fetch en-small` again" dropped --dir/--config: run as said, it unpacked into the
    # built-in state_dir's folder, not the one asked for
    server.files["/m.zip"] = b"changed upstream"
    monkeypatch.setitem(MODELS, "en-small", spec_for(server.url("/m.zip"), GOOD))
    cfg = tmp_path / "my conf.toml"
    cfg.write_text(f'[service]\nstate_dir = "{tmp_path / "state"}"\n')
    given = str(tmp_path / "models") if where == "--dir" else str(cfg)
    assert main(["models", "fetch", "en-small", where, given]) == 2
    err = capsys.readouterr().err
    assert "is corrupt or was changed upstream" in err
    quoted = f"'{given}'" if " " in given else given
    assert f"run `listener models fetch en-small {where} {quoted}` again" in err, err


def test_missing_model_stops_analyze_with_the_fix(
    dialogue_4ch: tuple[Path, list[dict[str, object]]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "asr.toml"
    cfg.write_text(f'[asr]\nenabled = true\n[service]\nstate_dir = "{tmp_path / "state"}"\n')
    assert main(["analyze", str(dialogue_4ch[0]), "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert f"no vosk model in {tmp_path / 'state' / 'models' / 'vosk-model-small-en-us-0.15'}" in err
    assert "[asr] enabled = false" in err
    # fetch without --config would unpack under /var/lib/listener: the command names this state_dir's folder
    assert f"listener models fetch en-small --dir {tmp_path / 'state' / 'models'}`" in err


def test_a_missing_model_on_the_server_is_not_called_offline(server: Server, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"answered HTTP 404.*check the URL") as err:
        fetch(spec_for(server.url("/gone.zip"), GOOD), tmp_path / "models")
    assert "offline" not in str(err.value)


def test_a_full_disk_is_a_clear_error(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    from listener.transcription import models

    server.files["/m.zip"] = GOOD

    def no_space(*args: object) -> None:  # what writing the archive raises on a full disk
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(models, "_download", no_space)
    with pytest.raises(ModelError, match=r"No space left on device.*free some space"):
        fetch(spec_for(server.url("/m.zip"), GOOD), tmp_path / "models")
    assert leftovers(tmp_path / "models") == []


def test_a_folder_that_cannot_be_one_says_so_not_free_space(server: Server, tmp_path: Path) -> None:
    server.files["/m.zip"] = GOOD
    (tmp_path / "file").write_text("")
    with pytest.raises(ModelError, match=r"\(.*file is a file, not a folder\): pass --dir with a folder") as info:
        fetch(spec_for(server.url("/m.zip"), GOOD), tmp_path / "file" / "models")
    assert "space" not in str(info.value)


def test_a_download_whose_body_breaks_off_is_discarded_and_says_to_run_again(tmp_path: Path) -> None:
    """A chunked answer (as a proxy sends one) that ends inside a chunk: the bytes read so far are named, nothing
    half-downloaded is kept, and the command to run again is given: not a traceback, nor a corrupt download."""
    whole = bytes(CHUNK_BYTES) + b"the rest of the model"
    sent = b"%x\r\n" % CHUNK_BYTES + whole[:CHUNK_BYTES] + b"\r\n" + b"%x\r\n" % 1000 + whole[CHUNK_BYTES:]
    listening, url = _answering(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + sent, "close")
    with listening, pytest.raises(ModelError) as err:
        fetch(spec_for(url, whole), tmp_path / "models", timeout_s=10.0)
    assert str(err.value) == (
        f"the download of {url} broke off after {len(whole)} bytes (IncompleteRead) and was discarded: run"
        " `listener models fetch en-small` again"
    )
    assert leftovers(tmp_path / "models") == []


def _answering(head_and_body: bytes, ending: str) -> tuple[socket.socket, str]:
    """A server that answers once with ``head_and_body`` and then closes (``close``), resets the connection
    (``reset``) or goes quiet (``stall``); returns its listening socket (close it) and the model's URL."""
    listening = socket.create_server(("127.0.0.1", 0))

    def answer() -> None:
        conn, _ = listening.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(head_and_body)
            if ending == "reset":  # SO_LINGER 0: the close sends RST, as a dropped Wi-Fi link's peer does
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            elif ending == "stall":
                threading.Event().wait(5.0)

    threading.Thread(target=answer, daemon=True).start()
    return listening, f"http://127.0.0.1:{listening.getsockname()[1]}/m.zip"


@pytest.mark.parametrize(
    ("ending", "why"),
    [
        ("close", "the connection closed early"),  # http.client's read returns b"", no IncompleteRead
        ("reset", "Connection reset by peer"),
        ("stall", "timed out"),
    ],
)
def test_a_download_cut_off_mid_body_is_said_to_have_broken_off_not_offline_or_corrupt(
    tmp_path: Path, ending: str, why: str
) -> None:
    """The server answered 200 with a Content-Length and sent 100 of its bytes: the download broke off (flaky
    Wi-Fi on a 41 MB model). It was said to be offline (the reset, the stall) or corrupt "or changed upstream,
    do not use that file" (the early close): both wrong, and the fix is to run it again."""
    body = GOOD
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)
    listening, url = _answering(head + body[:100], ending)
    with listening, pytest.raises(ModelError) as err:
        fetch(spec_for(url, body), tmp_path / "models", timeout_s=1.0)
    assert str(err.value) == (
        f"the download of {url} broke off after 100 of {len(body)} bytes ({why}) and was discarded: run"
        " `listener models fetch en-small` again"
    )
    assert leftovers(tmp_path / "models") == []


class _BreakingBody(io.BytesIO):
    """The body urlopen hands back, its network failing after the first bytes: what a TLS record garbled on the
    way (ssl.SSLError) or a route gone (ENETDOWN) raise from inside the read."""

    def __init__(self, body: bytes, failure: OSError) -> None:
        super().__init__(body)
        self.length: int | None = len(body)
        self.failure = failure

    def read1(self, size: int | None = -1) -> bytes:
        if self.tell() >= 100:
            raise self.failure
        return super().read1(100)


@pytest.mark.parametrize(
    ("failure", "why"),
    [
        (ssl.SSLError(1, "[SSL: DECRYPTION_FAILED_OR_BAD_RECORD_MAC] decryption failed"), "decryption failed"),
        (OSError(errno.ENETDOWN, os.strerror(errno.ENETDOWN)), "Network is down"),
    ],
)
def test_a_network_failure_inside_the_body_is_a_broken_download_not_an_unwritable_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: OSError, why: str
) -> None:
    """An OSError other than a reset or a timeout, raised while the body is read, reached fetch's handler for
    the disk: "cannot write the model into ...: pass --dir with a writable folder", for a folder that was fine."""
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: _BreakingBody(GOOD, failure))
    url = "https://models.example/m.zip"
    with pytest.raises(ModelError) as err:
        fetch(spec_for(url, GOOD), tmp_path / "models")
    assert str(err.value).startswith(f"the download of {url} broke off after 100 of {len(GOOD)} bytes ("), err.value
    assert why in str(err.value) and "writable" not in str(err.value), err.value
