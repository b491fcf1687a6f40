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
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from listener.config import geometry, load_config
from listener.service.calibrate_write import edit_parties

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "firmware" / "provision.sh"
PRESETS = {  # preset -> (ALSA card name, overlay in config.txt or None)
    "respeaker-2mic-v1": ("wm8960soundcard", "wm8960-soundcard"),
    "respeaker-2mic-v2": ("seeed2micvoicec", "respeaker-2mic-v2_0-overlay"),
    "respeaker-4mic": ("seeed4micvoicec", "seeed-4mic-voicecard"),
    "respeaker-6mic": ("seeed8micvoicec", "seeed-8mic-voicecard"),
    "respeaker-usb-v2": ("ArrayUAC10", None),
}
PI_CONFIG_TXT = "# For more options and information see\n# http://rptl.io/configtxt\ndtparam=audio=on\n\n[cm4]\notg_mode=1\n\n[all]\n"
FILES_ONLY = ["--no-apt", "--no-pip"]


def require(tool: str, package: str) -> None:
    if shutil.which(tool) is None:
        pytest.fail(f"{tool} is missing: install the Debian package '{package}'")


def provision(
    root: Path, *args: str, check: bool = True, env: dict[str, str] | None = None, umask: str = ""
) -> subprocess.CompletedProcess[str]:
    """``umask``: run the script under it, as sudo would from a shell that set it."""
    require("bash", "bash")
    env = {**os.environ, "LC_ALL": "C", **(env or {})}
    command = ["bash", str(SCRIPT), "--root", str(root), *args]
    if umask:
        command = ["bash", "-c", f'umask {umask} && exec "$@"', "bash", *command]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if check:
        assert done.returncode == 0, f"provision.sh failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done


def snapshot(root: Path) -> dict[str, tuple[object, ...]]:
    """Every file, directory and link under ``root`` with its mode, mtime and content digest."""
    seen: dict[str, tuple[object, ...]] = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        if path.is_symlink():
            seen[str(path.relative_to(root))] = ("link", str(path.readlink()))
        elif path.is_dir():
            seen[str(path.relative_to(root))] = ("dir", st.st_mode)
        else:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            seen[str(path.relative_to(root))] = ("file", st.st_mode, st.st_mtime_ns, digest)
    return seen


@pytest.fixture
def pi_root(tmp_path: Path) -> Path:
    """A root file system with what provisioning reads: accounts and the boot config."""
    require("useradd", "passwd")
    require("systemctl", "systemd")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (root / "etc/shadow").write_text("root:*:19000:0:99999:7:::\n")
    (root / "etc/group").write_text("root:x:0:\naudio:x:29:pi\nplugdev:x:46:pi\n")
    (root / "etc/gshadow").write_text("root:*::\naudio:*::pi\nplugdev:*::pi\n")
    (root / "boot/firmware").mkdir(parents=True)
    (root / "boot/firmware/config.txt").write_text(PI_CONFIG_TXT)
    return root


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
    done = provision(root, "--dry-run", "--preset", "respeaker-4mic", "--vosk-model", "en-small")
    out = done.stdout
    for planned in (
        "would: apt-get install ",
        "would: create system group gpio",
        "would: create system user listener",
        "would: add listener to group spi",
        "would: create venv /opt/listener/venv (--system-site-packages",
        f"would: pip install {REPO} into /opt/listener/venv",
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


def test_real_run_then_second_run_changes_nothing(pi_root: Path, tmp_path: Path) -> None:
    first = provision(pi_root, "--preset", "respeaker-4mic", *FILES_ONLY)
    assert "change: create /etc/systemd/system/listener.service" in first.stdout
    assert first.stdout.rstrip().endswith("changes made")

    unit = (pi_root / "etc/systemd/system/listener.service").read_bytes()
    assert unit == (REPO / "systemd/listener.service").read_bytes()
    wants = pi_root / "etc/systemd/system/multi-user.target.wants/listener.service"
    assert str(wants.readlink()) == "/etc/systemd/system/listener.service"
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
    toml = (pi_root / "etc/listener/listener.toml").read_text()
    switched = provision(pi_root, "--preset", "respeaker-2mic-v1", *FILES_ONLY)

    config_txt = (pi_root / "boot/firmware/config.txt").read_text()
    assert "seeed-8mic-voicecard" not in config_txt
    assert config_txt.count("dtoverlay=") == 1 and "\ndtoverlay=wm8960-soundcard\n" in config_txt
    assert (pi_root / "etc/listener/listener.toml").read_text() == toml
    assert "array.preset is 'respeaker-6mic', not 'respeaker-2mic'" in switched.stderr

    provision(pi_root, "--preset", "respeaker-usb-v2", "--force-config", *FILES_ONLY)
    assert (pi_root / "boot/firmware/config.txt").read_text() == PI_CONFIG_TXT
    assert load_config(pi_root / "etc/listener/listener.toml").array.preset == "respeaker-usb-v2"


def make_model_zip(tmp_path: Path) -> tuple[Path, str]:
    archive = tmp_path / "vosk-model-tiny-test.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("vosk-model-tiny-test/am/final.mdl", b"not a real model")
        z.writestr("vosk-model-tiny-test/conf/model.conf", b"--sample-frequency=16000\n")
    return archive, hashlib.sha256(archive.read_bytes()).hexdigest()


def test_an_unmounted_boot_partition_is_refused_not_written_over(pi_root: Path) -> None:
    (pi_root / "boot/firmware/config.txt").unlink()  # the mount point, with nothing mounted on it
    done = provision(pi_root, "--no-apt", "--no-pip", "--no-systemctl", check=False)
    assert done.returncode != 0 and "mount the boot partition" in done.stderr
    assert not (pi_root / "boot/firmware/config.txt").exists()


def test_vosk_model_is_installed_only_with_the_pinned_checksum(pi_root: Path, tmp_path: Path) -> None:
    require("curl", "curl")
    archive, digest = make_model_zip(tmp_path)
    model_dir = pi_root / "opt/listener/models/vosk-model-tiny-test"
    url = ["--vosk-url", archive.as_uri()]

    bad = provision(pi_root, *url, "--vosk-sha256", "0" * 64, *FILES_ONLY, check=False)
    assert bad.returncode == 1
    assert f"has SHA-256 {digest}, expected {'0' * 64}" in bad.stderr
    assert not model_dir.exists()

    provision(pi_root, *url, "--vosk-sha256", digest, *FILES_ONLY)
    assert (model_dir / "am/final.mdl").read_bytes() == b"not a real model"
    config = load_config(pi_root / "etc/listener/listener.toml")
    assert config.asr.enabled is True
    assert config.asr.model_path == "/opt/listener/models/vosk-model-tiny-test"

    again = provision(pi_root, *url, "--vosk-sha256", digest, *FILES_ONLY)
    assert again.stdout.rstrip().endswith("no changes"), again.stdout


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
    scripts = sorted(str(p) for p in (REPO / "firmware").glob("*.sh"))
    done = subprocess.run(["shellcheck", *scripts], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_kept_config_is_read_as_toml_whatever_its_quoting(pi_root: Path) -> None:
    provision(pi_root, *FILES_ONLY)
    toml = pi_root / "etc/listener/listener.toml"
    text = toml.read_text().replace("[array]", "[array]  # the HAT")
    toml.write_text(text.replace('preset = "respeaker-4mic"', "preset = 'respeaker-4mic'"))
    again = provision(pi_root, *FILES_ONLY)
    assert "array.preset" not in again.stderr and "kept: /etc/listener/listener.toml" in again.stdout, again.stderr


def test_per_device_configs_are_installed_checked_and_never_lost(pi_root: Path, tmp_path: Path) -> None:
    mine = tmp_path / "counter-3.toml"
    mine.write_text('[mqtt]\nenabled = true\nhost = "192.0.2.10"\ndevice_id = "counter-3"\n')
    provision(pi_root, "--config", str(mine), *FILES_ONLY)
    installed = pi_root / "etc/listener/listener.toml"
    assert installed.read_text() == mine.read_text() and load_config(installed).mqtt.device_id == "counter-3"
    replaced = provision(pi_root, "--force-config", *FILES_ONLY)  # back to the template: the old one is kept
    assert (pi_root / "etc/listener/listener.toml.bak").read_text() == mine.read_text()
    assert "listener.toml.bak" in replaced.stdout
    broken = tmp_path / "broken.toml"
    broken.write_text("[mqtt\nhost = 1\n")
    refused = provision(pi_root, "--config", str(broken), *FILES_ONLY, check=False)
    assert refused.returncode == 2 and "cannot be read as TOML" in refused.stderr


def with_listener() -> dict[str, str]:
    """PATH with this test's Python first: one that imports listener and its dependencies, as a checkout's venv."""
    return {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}


@pytest.mark.parametrize(
    ("config_preset", "preset", "fix"),
    [
        ("respeaker-6mic", "respeaker-4mic", "pass --preset respeaker-6mic,"),
        ("respeaker-2mic", "respeaker-4mic", "pass --preset respeaker-2mic-v1 or --preset respeaker-2mic-v2,"),
        ("respeaker-4mic", "respeaker-2mic-v2", "pass --preset respeaker-4mic,"),
    ],
)
def test_a_config_for_another_array_than_the_preset_is_refused_before_any_change(
    pi_root: Path, tmp_path: Path, config_preset: str, preset: str, fix: str
) -> None:
    # a 6-mic config over the 4-channel ALSA device fails only once the service runs
    fleet = tmp_path / "fleet.toml"
    fleet.write_text(f'[array]\npreset = "{config_preset}"\ndevice = "listener_array"\n')
    before = snapshot(pi_root)
    done = provision(pi_root, "--preset", preset, "--config", str(fleet), *FILES_ONLY, check=False)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f'has array.preset = "{config_preset}", but --preset {preset} sets up' in done.stderr, done.stderr
    assert fix in done.stderr, done.stderr
    assert snapshot(pi_root) == before


def test_under_root_the_config_is_checked_by_the_sources_listener(pi_root: Path, tmp_path: Path) -> None:
    # no listener is installed in a --root to run check-config afterwards: the source's own checks it first
    fleet = tmp_path / "fleet.toml"
    fleet.write_text('[array]\npreset = "respeaker-4mic"\nbogus_key = 1\n')
    before = snapshot(pi_root)
    done = provision(pi_root, "--config", str(fleet), *FILES_ONLY, check=False, env=with_listener())
    assert done.returncode == 2, done.stdout + done.stderr
    assert "array.bogus_key = 1: unknown key" in done.stderr and f"{fleet} is not valid" in done.stderr
    assert snapshot(pi_root) == before
    fleet.write_text('[array]\npreset = "respeaker-4mic"\n')
    provision(pi_root, "--config", str(fleet), *FILES_ONLY, env=with_listener())
    kept = pi_root / "etc/listener/listener.toml"
    kept.write_text(kept.read_text() + "[leds]\nbogus_key = 1\n")  # an operator's edit an upgrade rejects
    again = provision(pi_root, *FILES_ONLY, check=False, env=with_listener())
    assert again.returncode == 2 and "leds.bogus_key" in again.stderr, again.stderr


READABLE_DIRS = ("etc/listener", "etc/alsa", "etc/alsa/conf.d", "etc/udev", "etc/udev/rules.d", "etc/systemd/system")


def test_a_strict_umask_leaves_everything_readable_to_the_service_user(pi_root: Path) -> None:
    # sudo keeps a umask of 077: /etc/listener was drwx------, and the service could not read its config
    provision(pi_root, *FILES_ONLY, umask="077")
    for folder in READABLE_DIRS:
        assert (pi_root / folder).stat().st_mode & 0o777 == 0o755, folder
    for name in (
        "etc/listener/listener.toml",
        "etc/alsa/conf.d/60-listener.conf",
        "etc/udev/rules.d/99-listener.rules",
    ):
        assert (pi_root / name).stat().st_mode & 0o777 == 0o644, name
    assert (pi_root / "etc/listener/secrets.env").stat().st_mode & 0o777 == 0o600

    (pi_root / "etc/listener").chmod(0o700)  # what an earlier run under that umask left
    repaired = provision(pi_root, *FILES_ONLY, umask="077")
    assert "change: chmod go+rx /etc/listener" in repaired.stdout, repaired.stdout
    assert (pi_root / "etc/listener").stat().st_mode & 0o777 == 0o755
    assert provision(pi_root, *FILES_ONLY).stdout.rstrip().endswith("no changes")


def closed_tree(prefix: Path) -> dict[str, int]:
    """What python -m venv, pip and unzip leave under umask 077, with the modes the service user needs."""
    opened: dict[str, int] = {}
    for folder in ("venv/bin", "venv/lib/python3.11/site-packages/listener", "models/vosk-model-tiny-test/am"):
        (prefix / folder).mkdir(parents=True, exist_ok=True)
    for name, mode in (
        ("venv/bin/listener", 0o755),  # pip's console script: the unit's ExecStart
        ("venv/pyvenv.cfg", 0o644),
        ("venv/lib/python3.11/site-packages/listener/__init__.py", 0o644),
        ("models/vosk-model-tiny-test/am/final.mdl", 0o644),
        (".source-sha256", 0o644),
    ):
        (prefix / name).write_text("x\n")
        (prefix / name).chmod(mode & 0o700)
        opened[name] = mode
    (prefix / "venv/bin/python").symlink_to("listener")  # a venv's links: never followed, never changed
    for path in sorted({p for p in prefix.rglob("*") if p.is_dir() and not p.is_symlink()} | {prefix}, reverse=True):
        path.chmod(0o700)
        opened[str(path.relative_to(prefix))] = 0o755
    return opened


def test_a_strict_umask_venv_and_models_are_reopened_though_nothing_is_reinstalled(pi_root: Path) -> None:
    # the source digest is unchanged, so pip never runs again: only the repair can reopen the venv
    provision(pi_root, *FILES_ONLY, umask="077")
    prefix = pi_root / "opt/listener"
    opened = closed_tree(prefix)

    dry = provision(pi_root, "--dry-run", *FILES_ONLY)
    assert "would: chmod -R go+rX /opt/listener (a strict umask" in dry.stdout, dry.stdout
    assert dry.stdout.rstrip().endswith("1 change planned; dry run, nothing written"), dry.stdout
    assert (prefix / "venv/bin").stat().st_mode & 0o777 == 0o700

    repaired = provision(pi_root, *FILES_ONLY, umask="077")
    assert "change: chmod -R go+rX /opt/listener" in repaired.stdout, repaired.stdout
    assert repaired.stdout.rstrip().endswith("1 change made"), repaired.stdout
    for name, mode in opened.items():
        assert (prefix / name).stat().st_mode & 0o777 == mode, name
    assert (prefix / "venv/bin/python").is_symlink()
    assert (pi_root / "etc/listener/secrets.env").stat().st_mode & 0o777 == 0o600
    assert provision(pi_root, *FILES_ONLY).stdout.rstrip().endswith("no changes")


def test_a_config_given_over_a_different_installed_one_is_refused_not_ignored(pi_root: Path, tmp_path: Path) -> None:
    # a warning and then "no changes", exit 0: a fleet script never noticed the device kept its old config
    first, second = tmp_path / "counter-3.toml", tmp_path / "counter-3-new.toml"
    first.write_text('[mqtt]\nenabled = true\nhost = "192.0.2.10"\ndevice_id = "counter-3"\n')
    second.write_text('[mqtt]\nenabled = true\nhost = "192.0.2.20"\ndevice_id = "counter-3"\n')
    provision(pi_root, "--config", str(first), *FILES_ONLY)
    installed = pi_root / "etc/listener/listener.toml"

    before = snapshot(pi_root)
    refused = provision(pi_root, "--config", str(second), *FILES_ONLY, check=False)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert f"--config {second} differs from the installed /etc/listener/listener.toml" in refused.stderr
    assert "add --force-config" in refused.stderr and "listener.toml.bak" in refused.stderr
    assert snapshot(pi_root) == before

    same = provision(pi_root, "--config", str(first), *FILES_ONLY)
    assert same.stdout.rstrip().endswith("no changes") and "the same as --config" in same.stdout, same.stdout
    provision(pi_root, "--config", str(second), "--force-config", *FILES_ONLY)
    assert installed.read_text() == second.read_text()
    assert (pi_root / "etc/listener/listener.toml.bak").read_text() == first.read_text()


FLEET_PARTIES = '[parties]\n# measure: listener calibrate --write\nrep_azimuth_deg = 0.0  # the rep\nmode = "doa"\n'


@pytest.mark.parametrize("parties", [FLEET_PARTIES, ""], ids=["with-parties", "calibrate-adds-parties"])
def test_a_calibrated_config_is_kept_when_provisioned_again_with_the_same_config(
    pi_root: Path, tmp_path: Path, parties: str
) -> None:
    # README step 2 runs listener calibrate --write on the installed file: the next package upgrade with
    # the fleet's same --config was refused, and --force-config would have thrown the calibration away
    fleet = tmp_path / "counter-3.toml"
    fleet.write_text(f'[array]\npreset = "respeaker-4mic"\n\n{parties}\n[mqtt]\nhost = "192.0.2.10"\n')
    provision(pi_root, "--config", str(fleet), *FILES_ONLY)
    installed = pi_root / "etc/listener/listener.toml"
    calibrated = edit_parties(installed.read_text(), {"rep_azimuth_deg": 42.5, "customer_azimuth_deg": 221.0})
    installed.write_text(calibrated)  # as calibrate writes it: only the two azimuths change

    before = snapshot(pi_root)
    again = provision(pi_root, "--config", str(fleet), *FILES_ONLY)
    kept = "kept: /etc/listener/listener.toml, which differs from --config"
    assert kept in again.stdout and "only in the calibrated [parties] azimuths" in again.stdout, again.stdout
    assert again.stdout.rstrip().endswith("no changes"), again.stdout
    assert snapshot(pi_root) == before and installed.read_text() == calibrated
    parties_now = load_config(installed).parties
    assert (parties_now.rep_azimuth_deg, parties_now.customer_azimuth_deg) == (42.5, 221.0)

    moved = tmp_path / "counter-3-new.toml"
    moved.write_text(fleet.read_text().replace("192.0.2.10", "192.0.2.20"))  # a difference outside [parties]
    refused = provision(pi_root, "--config", str(moved), *FILES_ONLY, check=False)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "in more than the calibrated [parties] azimuths" in refused.stderr, refused.stderr
    assert "a calibration is kept only without --force-config" in refused.stderr, refused.stderr
    if parties:  # only the two azimuths are calibrate's: another key of [parties] is the fleet's
        moved.write_text(fleet.read_text().replace('mode = "doa"', 'mode = "channels"'))
        refused = provision(pi_root, "--config", str(moved), *FILES_ONLY, check=False)
        assert refused.returncode == 2 and "in more than the calibrated" in refused.stderr, refused.stderr
    assert snapshot(pi_root) == before
