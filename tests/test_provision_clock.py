"""firmware/provision.sh on a clock behind, as a fresh Raspberry Pi OS image boots where the network blocks NTP
(no battery clock; fake-hwclock starts it at the image's build date): apt refuses the archive's Release files as
"not valid yet" and curl and pip the servers' certificates."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.provision_root import require, script_function


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_failed_model_download_names_the_clock(pi_root: Path, tmp_path: Path) -> None:
    # a clock a few days behind passes the floor, and https still refuses the server's certificate: the
    # failure named only the network
    require("curl", "curl")
    url = f"https://127.0.0.1:{closed_port()}/vosk-model-small-en-us-0.15.zip"
    done = script_function(f"ROOT={pi_root}; TMPD={tmp_path}; VOSK_URL={url}; fetch_vosk_model /opt/listener/models/m")
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.splitlines()[-1] == (
        f"error: could not download {url}: check the network and the clock (`date`: apt and https refuse files "
        '"not valid yet" when it is behind), or pass --vosk-url with a reachable copy'
    )
