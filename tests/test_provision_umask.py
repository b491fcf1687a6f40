"""firmware/provision.sh under a strict umask: a umask of 077 (sudo's) still leaves the config, the ALSA and
udev files, the venv and the models readable to the service user, and a tree an earlier run left closed is
reopened."""

from __future__ import annotations

from pathlib import Path

from tests.provision_root import FILES_ONLY, provision

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
