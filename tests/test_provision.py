"""firmware/provision.sh against temporary root file systems.

Real runs use --no-apt --no-pip: they write files, create the service user
with useradd --prefix and enable the unit with systemctl --root, all inside
the temporary root. The generated files are then read by the real consumers:
listener's config loader and alsa-lib (through arecord).
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import zipfile
from pathlib import Path

import pytest

from listener.config import geometry, load_config
from listener.config.service_unit import SERVICE_UNIT_FILE
from tests.provision_root import (
    FILES_ONLY,
    PI_CONFIG_TXT,
    REPO,
    install_overlays,
    provision,
    require,
    script_function,
    snapshot,
)

PRESETS = {  # preset -> (ALSA card name, overlay in config.txt or None)
    "respeaker-2mic-v1": ("wm8960soundcard", "wm8960-soundcard"),
    "respeaker-2mic-v2": ("seeed2micvoicec", "respeaker-2mic-v2_0-overlay"),
    "respeaker-4mic": ("seeed4micvoicec", "seeed-4mic-voicecard"),
    "respeaker-6mic": ("seeed8micvoicec", "seeed-8mic-voicecard"),
    "respeaker-usb-v2": ("ArrayUAC10", None),
}


def alsa_open_error(conf: Path, tmp_path: Path) -> str:
    """What alsa-lib says when arecord opens listener_array as ``conf`` defines it."""
    require("arecord", "alsa-utils")
    top = tmp_path / "alsa-top.conf"
    top.write_text(f"</usr/share/alsa/alsa.conf>\n<{conf}>\n")
    env = {**os.environ, "ALSA_CONFIG_PATH": str(top), "LC_ALL": "C"}
    listed = subprocess.run(["arecord", "-L"], capture_output=True, text=True, env=env, check=False)
    assert "listener_array\n" in listed.stdout, listed.stdout + listed.stderr
    opened = subprocess.run(
        ["arecord", "-D", "listener_array", "-d", "1", "-f", "S16_LE", "/dev/null"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=30,
    )
    return opened.stderr


def test_dry_run_prints_every_change_and_writes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "empty"
    root.mkdir()
    done = provision(root, "--dry-run", "--preset", "respeaker-4mic", "--vosk-model", "en-small", check=False)
    out = done.stdout
    assert done.returncode == 3 and "not finished, the array cannot work" in done.stderr  # no driver in an empty root
    for planned in (
        "would: apt-get install ",
        "would: create system group gpio",
        "would: create system user listener",
        "would: add listener to group spi",
        "would: create venv /opt/listener/venv (--system-site-packages",
        "would: link /usr/local/bin/listener to /opt/listener/venv/bin/listener",
        f"would: pip install {REPO} into /opt/listener/venv, versions from {REPO}/firmware/constraints.txt",
        "would: download https://alphacephei.com/vosk/models/vosk-model-small-en-us-0.15.zip, check SHA-256 "
        "30f26242c4eb449f948e42cb302dd7a686cb29a3423a8367f99ff41780942498",
        "would: create /boot/firmware/config.txt",
        "+dtoverlay=seeed-4mic-voicecard",
        "would: create /etc/alsa/conf.d/60-listener.conf (mode 0644)",
        "would: create /etc/udev/rules.d/99-listener.rules (mode 0644)",
        "would: create /etc/listener/listener.toml (mode 0644)",
        "would: create /etc/listener/secrets.env (mode 0600)",
        "would: create /etc/systemd/system/listener.service (mode 0644)",
        "would: enable listener.service",
        "dry run, nothing written",
    ):
        assert planned in out, f"{planned!r} missing from:\n{out}"
    assert "change:" not in out
    assert list(root.iterdir()) == []


def test_a_venv_cut_short_is_made_again(tmp_path: Path) -> None:
    # Ctrl-C or a power cut while ensurepip ran leaves python and no pip: every later run then failed (127)
    root = tmp_path / "root"
    python = root / "opt/listener/venv/bin/python"
    python.parent.mkdir(parents=True)
    python.write_text("#!/bin/sh\n")
    python.chmod(0o755)
    done = provision(root, "--dry-run", "--no-apt", check=False)
    assert done.returncode == 3, done.stderr  # no 4-mic driver in this root: all else would be done
    out = done.stdout
    assert "would: create venv /opt/listener/venv" in out, out
    assert "would: pip install" in out, out


def test_real_run_then_second_run_changes_nothing(pi_root: Path, tmp_path: Path) -> None:
    first = provision(pi_root, "--preset", "respeaker-4mic", *FILES_ONLY)
    assert "change: create /etc/systemd/system/listener.service" in first.stdout
    assert first.stdout.rstrip().endswith("changes made")

    # where doctor looks for it, to know that systemd makes the state folder at the first start
    unit = (pi_root / SERVICE_UNIT_FILE.relative_to("/")).read_bytes()
    assert unit == (REPO / "systemd/listener.service").read_bytes()
    wants = pi_root / "etc/systemd/system/multi-user.target.wants/listener.service"
    assert str(wants.readlink()) == "/etc/systemd/system/listener.service"
    # the listener's advice says `listener ...` (and `sudo systemd-run ... listener ...`): on sudo's path
    assert str((pi_root / "usr/local/bin/listener").readlink()) == "/opt/listener/venv/bin/listener"
    config_txt = (pi_root / "boot/firmware/config.txt").read_text()
    assert config_txt.startswith(PI_CONFIG_TXT), "the lines already in config.txt must stay"
    assert "\ndtoverlay=seeed-4mic-voicecard\n" in config_txt and "\ndtparam=spi=on\n" in config_txt
    passwd = (pi_root / "etc/passwd").read_text()
    assert re.search(r"^listener:x:\d+:\d+:[^:]*:/var/lib/listener:/usr/sbin/nologin$", passwd, re.M), passwd
    groups = {line.split(":")[0]: line.split(":")[3].split(",") for line in (pi_root / "etc/group").read_text().split()}
    for group in ("audio", "gpio", "spi", "plugdev"):
        assert "listener" in groups[group], group
    assert groups["audio"] == ["pi", "listener"]
    assert (pi_root / "etc/listener/secrets.env").stat().st_mode & 0o777 == 0o600
    rules = (pi_root / "etc/udev/rules.d/99-listener.rules").read_text()
    assert 'ATTR{idVendor}=="2886", ATTR{idProduct}=="0018"' in rules

    before = snapshot(pi_root)
    second = provision(pi_root, "--preset", "respeaker-4mic", *FILES_ONLY)
    assert second.stdout.rstrip().endswith("no changes"), second.stdout
    assert "change:" not in second.stdout
    assert snapshot(pi_root) == before
    dry = provision(pi_root, "--preset", "respeaker-4mic", "--dry-run", *FILES_ONLY)
    assert dry.stdout.rstrip().endswith("no changes"), dry.stdout


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_each_preset_gives_a_loadable_config_and_an_alsa_device_by_card_name(
    preset: str, pi_root: Path, tmp_path: Path
) -> None:
    card, overlay = PRESETS[preset]
    provision(pi_root, "--preset", preset, *FILES_ONLY)

    config = load_config(pi_root / "etc/listener/listener.toml")
    geo = geometry(config)
    assert config.array.device == "listener_array"
    assert config.asr.enabled is False
    alsa_conf = pi_root / "etc/alsa/conf.d/60-listener.conf"
    text = alsa_conf.read_text()
    assert f"channels {geo.capture_channels}\n" in text, "the ALSA device must capture every channel the preset reads"
    assert f'card "{card}"' in text

    # alsa-lib parses the file and resolves the device to the card by name.
    assert f"Cannot get card index for {card}" in alsa_open_error(alsa_conf, tmp_path)

    config_txt = (pi_root / "boot/firmware/config.txt").read_text()
    if overlay is None:
        assert "listener" not in config_txt and config_txt == PI_CONFIG_TXT
    else:
        assert f"\ndtoverlay={overlay}\n" in config_txt


def test_switching_preset_replaces_the_boot_block_and_keeps_the_config(pi_root: Path) -> None:
    provision(pi_root, "--preset", "respeaker-6mic", *FILES_ONLY)
    installed = pi_root / "etc/listener/listener.toml"
    # a kept config for another board: the boot overlay and the ALSA device were rewritten under it with only a
    # warning, exit 0, and the --force-config it advised installs the bare template (device_id, broker and
    # calibration lost); refused now before any change, as the same mismatch through --config is
    before = snapshot(pi_root)
    refused = provision(pi_root, "--preset", "respeaker-2mic-v1", *FILES_ONLY, check=False)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert refused.stderr.splitlines() == [
        'error: the installed /etc/listener/listener.toml has array.preset = "respeaker-6mic", but --preset '
        "respeaker-2mic-v1 sets up respeaker-2mic; nothing was changed: to switch this device's board, set preset = "
        '"respeaker-2mic" under [array] in /etc/listener/listener.toml (its device_id, broker and calibration stay), '
        "or pass the fleet's file for this board with --config FILE --force-config; otherwise pass this board's "
        "--preset (see --help)"
    ]
    assert snapshot(pi_root) == before

    installed.write_text(installed.read_text().replace('preset = "respeaker-6mic"', 'preset = "respeaker-2mic"'))
    toml = installed.read_text()
    switched = provision(pi_root, "--preset", "respeaker-2mic-v1", *FILES_ONLY)
    config_txt = (pi_root / "boot/firmware/config.txt").read_text()
    assert "seeed-8mic-voicecard" not in config_txt
    assert config_txt.count("dtoverlay=") == 1 and "\ndtoverlay=wm8960-soundcard\n" in config_txt
    assert installed.read_text() == toml and "kept: /etc/listener/listener.toml" in switched.stdout

    provision(pi_root, "--preset", "respeaker-usb-v2", "--force-config", *FILES_ONLY)
    assert (pi_root / "boot/firmware/config.txt").read_text() == PI_CONFIG_TXT
    assert load_config(pi_root / "etc/listener/listener.toml").array.preset == "respeaker-usb-v2"


def make_model_zip(tmp_path: Path, name: str = "vosk-model-tiny-test.zip") -> tuple[Path, str]:
    archive = tmp_path / name
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("vosk-model-tiny-test/am/final.mdl", b"not a real model")
        z.writestr("vosk-model-tiny-test/conf/model.conf", b"--sample-frequency=16000\n")
    return archive, hashlib.sha256(archive.read_bytes()).hexdigest()


def test_an_unmounted_boot_partition_is_refused_not_written_over(pi_root: Path) -> None:
    (pi_root / "boot/firmware/config.txt").unlink()  # the mount point, with nothing mounted on it
    before = snapshot(pi_root)
    done = provision(pi_root, "--no-apt", "--no-pip", "--no-systemctl", check=False)
    assert done.returncode == 1 and "mount the boot partition" in done.stderr, done.stderr
    assert not (pi_root / "boot/firmware/config.txt").exists()
    # refused before any change: the groups and the user came first once
    assert "change:" not in done.stdout and snapshot(pi_root) == before


def test_vosk_model_is_installed_only_with_the_pinned_checksum(pi_root: Path, tmp_path: Path) -> None:
    require("curl", "curl")
    archive, digest = make_model_zip(tmp_path)
    model_dir = pi_root / "opt/listener/models/vosk-model-tiny-test"
    url = ["--vosk-url", archive.as_uri()]

    # a local zip is checked while the options are read, before any change
    before = snapshot(pi_root)
    bad = provision(pi_root, *url, "--vosk-sha256", "0" * 64, *FILES_ONLY, check=False)
    assert bad.returncode == 2
    assert f"has SHA-256 {digest}, not the --vosk-sha256 given ({'0' * 64}): check the digest" in bad.stderr
    assert snapshot(pi_root) == before and not model_dir.exists()
    # a download only once it is fetched: nothing is unpacked from one that does not match
    setup = f"ROOT={pi_root}; TMPD={tmp_path}; VOSK_URL={archive.as_uri()}; VOSK_SHA256={'0' * 64}"
    fetched = script_function(f"{setup}; fetch_vosk_model /opt/listener/models/vosk-model-tiny-test")
    assert fetched.returncode == 1 and f"has SHA-256 {digest}, expected {'0' * 64}" in fetched.stderr
    assert not model_dir.exists()

    provision(pi_root, *url, "--vosk-sha256", digest, *FILES_ONLY)
    assert (model_dir / "am/final.mdl").read_bytes() == b"not a real model"
    config = load_config(pi_root / "etc/listener/listener.toml")
    assert config.asr.enabled is True
    assert config.asr.model_path == "/opt/listener/models/vosk-model-tiny-test"

    again = provision(pi_root, *url, "--vosk-sha256", digest, *FILES_ONLY)
    assert again.stdout.rstrip().endswith("no changes"), again.stdout
    assert "does not use the vosk model" not in again.stderr

    # a fleet's --config that leaves [asr] off: the model is downloaded, and the installer told it is unused
    fleet = tmp_path / "fleet.toml"
    fleet.write_text('[mqtt]\ndevice_id = "counter-9"\n')
    done = provision(pi_root, *url, "--vosk-sha256", digest, "--config", str(fleet), "--force-config", *FILES_ONLY)
    assert "/etc/listener/listener.toml does not use the vosk model installed in /opt/listener/models/" in done.stderr
    assert 'model_path = "/opt/listener/models/vosk-model-tiny-test"' in done.stderr


def test_a_local_vosk_zip_is_named_by_its_model_folder_not_its_file_name(pi_root: Path, tmp_path: Path) -> None:
    """The help's own example, --vosk-url file:///srv/model.zip, took the name 'model' from the file and died
    after the user, the venv and pip: the zip holds vosk-model-tiny-test/, not model/."""
    require("curl", "curl")
    archive, digest = make_model_zip(tmp_path, "model.zip")
    provision(pi_root, "--vosk-url", archive.as_uri(), "--vosk-sha256", digest, *FILES_ONLY)
    assert (pi_root / "opt/listener/models/vosk-model-tiny-test/am/final.mdl").read_bytes() == b"not a real model"
    assert (
        load_config(pi_root / "etc/listener/listener.toml").asr.model_path
        == "/opt/listener/models/vosk-model-tiny-test"
    )
    # a download (https) is named by its URL before it is fetched: its folder is installed under that name
    setup = f"ROOT={pi_root}; TMPD={tmp_path}; VOSK_URL={archive.as_uri()}; VOSK_SHA256={digest}"
    done = script_function(f"{setup}; fetch_vosk_model /opt/listener/models/model")
    assert done.returncode == 0, done.stderr
    assert (pi_root / "opt/listener/models/model/am/final.mdl").read_bytes() == b"not a real model"


def test_a_downloaded_vosk_zip_is_hashed_once(pi_root: Path, tmp_path: Path) -> None:
    """fetch_vosk_model checks the download with sha256sum; zip_folder, asked only for the folder's name
    after it, hashed the whole zip again (41 MB on a Pi) and threw the digest away."""
    require("curl", "curl")
    archive, digest = make_model_zip(tmp_path)
    spy, hashed = tmp_path / "spy", tmp_path / "hashed"
    spy.mkdir()
    sha256sum = spy / "sha256sum"
    sha256sum.write_text(f'#!/bin/sh\necho sha256sum >>"{hashed}"\nexec "$(command -v -p sha256sum)" "$@"\n')
    sha256sum.chmod(0o755)
    # zip_folder's python3 hashes with hashlib.file_digest: counted through a sitecustomize it imports
    (spy / "sitecustomize.py").write_text(
        "import hashlib\n"
        "_file_digest = hashlib.file_digest\n"
        "def file_digest(*args, **kwargs):\n"
        f"    with open({str(hashed)!r}, 'a') as log:\n"
        "        log.write('file_digest\\n')\n"
        "    return _file_digest(*args, **kwargs)\n"
        "hashlib.file_digest = file_digest\n"
    )
    setup = f"ROOT={pi_root}; TMPD={tmp_path}; VOSK_URL={archive.as_uri()}; VOSK_SHA256={digest}"
    done = script_function(
        f'{setup}; PATH="{spy}:$PATH"; export PYTHONPATH={spy}; fetch_vosk_model /opt/listener/models/model'
    )
    assert done.returncode == 0, done.stderr
    assert (pi_root / "opt/listener/models/model/am/final.mdl").read_bytes() == b"not a real model"
    assert hashed.read_text().split() == ["sha256sum"]


def test_bad_options_are_refused_with_a_reason(tmp_path: Path) -> None:
    done = provision(tmp_path, "--preset", "respeaker-9mic", "--dry-run", check=False)
    assert done.returncode == 2
    assert f"--preset respeaker-9mic is unknown; the presets are: {', '.join(sorted(PRESETS))}" in done.stderr
    # listener.toml's name for the 2-mic HAT is not provision's, which names the board revision
    done = provision(tmp_path, "--preset", "respeaker-2mic", "--dry-run", check=False)
    assert done.returncode == 2
    assert "that is listener.toml's array.preset name" in done.stderr, done.stderr
    assert "--preset respeaker-2mic-v1 for the ReSpeaker 2-Mics Pi HAT v1 (WM8960), or --preset respeaker-2mic-v2" in (
        done.stderr
    )
    done = provision(tmp_path, "--vosk-url", "https://example.invalid/m.zip", "--dry-run", check=False)
    assert done.returncode == 2
    assert "--vosk-sha256" in done.stderr


def test_shellcheck_is_clean() -> None:
    require("shellcheck", "shellcheck")
    # provision.d's steps too: shellcheck reports only on the files it is given, even those it follows
    shell = [*(REPO / "firmware").glob("*.sh"), *(REPO / "firmware" / "provision.d").glob("*.sh"), REPO / ".ci" / "run"]
    shell += [p for p in (REPO / "scripts").iterdir() if p.read_text().startswith("#!/usr/bin/env bash")]
    scripts = sorted(str(p) for p in shell)
    done = subprocess.run(["shellcheck", *scripts], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_raspberry_pi_os_swap_file_is_turned_off_so_memory_never_reaches_the_card(pi_root: Path) -> None:
    """dphys-swapfile puts a swap file on the SD card: audio and words in the listener's memory could be
    written there. Provisioning disables it and removes the file; a second run finds nothing to do."""
    units = pi_root / "lib/systemd/system"
    units.mkdir(parents=True)
    (units / "dphys-swapfile.service").write_text(
        "[Unit]\nDescription=dphys-swapfile\n[Service]\nType=oneshot\nExecStart=/sbin/dphys-swapfile setup\n"
        "[Install]\nWantedBy=multi-user.target\n"
    )
    wants = pi_root / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True)
    (wants / "dphys-swapfile.service").symlink_to("/lib/systemd/system/dphys-swapfile.service")
    (pi_root / "var").mkdir(exist_ok=True)
    (pi_root / "var/swap").write_bytes(b"\0" * 4096)
    (pi_root / "etc/fstab").write_text("proc /proc proc defaults 0 0\n/dev/zram0 none swap sw 0 0\n")

    first = provision(pi_root, "--preset", "respeaker-4mic", *FILES_ONLY)
    assert "change: disable dphys-swapfile.service" in first.stdout, first.stdout
    assert "change: remove the swap file /var/swap" in first.stdout
    assert not (wants / "dphys-swapfile.service").exists() and not (pi_root / "var/swap").exists()
    assert "swap" not in first.stderr  # swap in RAM (zram) is not disk: no warning
    second = provision(pi_root, "--preset", "respeaker-4mic", *FILES_ONLY)
    assert second.stdout.rstrip().endswith("no changes"), second.stdout

    (pi_root / "etc/fstab").write_text("/dev/mmcblk0p3 none swap sw 0 0\n")
    third = provision(pi_root, "--preset", "respeaker-4mic", *FILES_ONLY)
    assert "warning: /etc/fstab turns on swap on disk: remove that line" in third.stderr, third.stderr


def test_a_board_whose_driver_is_missing_is_installed_but_not_counted_done(pi_root: Path) -> None:
    """The 4-mic board's overlay comes with the seeed-voicecard driver, not with the OS: without it the
    rest is installed, but the run says what is missing and exits 3, so a fleet script notices."""
    (pi_root / "boot/firmware/overlays/seeed-4mic-voicecard.dtbo").unlink()
    for dry_run in (["--dry-run"], []):
        done = provision(pi_root, "--preset", "respeaker-4mic", *FILES_ONLY, *dry_run, check=False)
        assert done.returncode == 3, done.stdout + done.stderr
        assert "warning: not finished, the array cannot work: /boot/firmware/overlays/seeed-4mic-voicecard.dtbo" in (
            done.stderr
        )
        assert "install the seeed-voicecard driver" in done.stderr
    assert (pi_root / "etc/listener/listener.toml").exists()  # the rest is in place
    install_overlays(pi_root, ["seeed-4mic-voicecard"])  # the driver
    again = provision(pi_root, "--preset", "respeaker-4mic", *FILES_ONLY)
    assert again.stdout.rstrip().endswith("no changes") and "not finished" not in again.stderr


@pytest.mark.parametrize("arch", ["armhf", "arm64"])
def test_a_32_bit_userland_is_refused_though_its_kernel_is_64_bit(pi_root: Path, arch: str) -> None:
    """32-bit Raspberry Pi OS on a Pi 4 or 5 boots a 64-bit kernel (uname: aarch64); its packages are armhf,
    for which onnxruntime has no wheel: refused before any change, whatever uname says."""
    status = pi_root / "var/lib/dpkg/status"
    status.parent.mkdir(parents=True)
    status.write_text(f"Package: bash\nArchitecture: {arch}\n\nPackage: dpkg\nStatus: install ok installed\n"
                      f"Architecture: {arch}\nVersion: 1.21.22\n")  # fmt: skip
    done = provision(pi_root, "--preset", "respeaker-4mic", *FILES_ONLY, check=False)
    if arch == "armhf":
        assert done.returncode == 1 and "this is a 32-bit system (armhf)" in done.stderr, done.stderr
        assert not (pi_root / "etc/listener").exists()
    else:
        assert done.returncode == 0, done.stderr
