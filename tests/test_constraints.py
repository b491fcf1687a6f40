"""The pinned versions: every package a device runs is pinned in firmware/constraints.txt, everything the
tests add in scripts/constraints-dev.txt, nothing else is, and this environment (made by scripts/setup)
holds exactly those versions, so what the tests passed with is what provision.sh installs."""

import re
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
RUNTIME = REPO / "firmware" / "constraints.txt"
DEV = REPO / "scripts" / "constraints-dev.txt"
# every venv brings its own (colorzero asks for setuptools, torch for a newer one); pip freeze leaves them out
INSTALLERS = {"pip", "setuptools", "wheel"}


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, Version]:
    found: dict[str, Version] = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert name and version, f"{path.name}: {line!r} is not name==version"
            found[normal(name)] = Version(version)
    return found


def closure(extras: set[str]) -> set[str]:
    """The distributions pip installs for listener with these extras, by their installed metadata."""
    seen: set[str] = set()
    todo = [(req, extras) for req in metadata.requires("listener") or []]
    while todo:
        text, asked = todo.pop()
        req = Requirement(text)
        if req.marker is not None and not any(req.marker.evaluate({"extra": e}) for e in asked | {""}):
            continue
        name = normal(req.name)
        todo += [(r, set(req.extras)) for r in metadata.requires(name) or [] if req.extras]
        if name not in seen:
            seen.add(name)
            todo += [(r, set()) for r in metadata.requires(name) or []]
    return seen - INSTALLERS


def test_every_package_a_device_runs_is_pinned_and_nothing_else() -> None:
    assert set(pins(RUNTIME)) == closure(set())


def test_every_package_the_tests_add_is_pinned_apart_from_the_runtime() -> None:
    runtime = closure(set())
    assert set(pins(DEV)) == closure({"dev"}) - runtime
    assert not set(pins(DEV)) & set(pins(RUNTIME))


@pytest.mark.parametrize("path", [RUNTIME, DEV], ids=["runtime", "dev"])
def test_this_environment_holds_exactly_the_pinned_versions(path: Path) -> None:
    wrong = {
        name: (str(pinned), metadata.version(name))
        for name, pinned in pins(path).items()
        if Version(metadata.version(name)).public != str(pinned)  # torch's wheel is 2.13.0+cpu
    }
    assert not wrong, f"installed versions differ from {path.name} (pinned, installed): {wrong}"


def test_pyaudio_is_the_version_debian_12_ships() -> None:
    # a device takes PyAudio from apt (python3-pyaudio 0.2.13), so it needs no compiler; the tests run the same
    assert pins(RUNTIME)["pyaudio"] == Version("0.2.13")


@pytest.mark.parametrize("path", [RUNTIME, DEV])
def test_each_files_header_is_the_one_its_generator_writes(path: Path) -> None:
    # a hand edit of the header (or a generator changed without rerunning it) said every pin had an aarch64
    # wheel, PyAudio included, which a device takes from apt
    script = (REPO / "scripts" / "update-constraints").read_text()
    written = re.findall(r'^\techo "(#[^"]*)"$', script, re.MULTILINE)
    header = [line for line in path.read_text().splitlines() if line.startswith("#")]
    assert header and all(line in written for line in header), (header, written)
