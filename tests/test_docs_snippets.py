"""What the user-facing documents show to be copied: every ``listener`` command line parses as the CLI reads it,
every ``firmware/provision.sh`` line gives options the script reads, and every listener.toml passes
``listener check-config`` with no warning.

A reader types these as they stand. Options and combinations move (``--fast`` came to need ``--input``), and a
renamed option or key in a document is found only by the installer it fails for. ``bench/README.md`` is left
out: its notes name options in passing (``run --input --fast``), for developers who read the code anyway.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import re
import shlex
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from listener.cli import _parser, main
from listener.cli_parsing import check_combinations, command_parser, parse
from listener.config import Config

REPO = Path(__file__).resolve().parents[1]
DOCS = [
    REPO / "README.md",
    *sorted((REPO / "docs").glob("*.md")),
    *sorted((REPO / "docs" / "integrations").glob("*.md")),
    REPO / "firmware" / "README.md",
    REPO / "models" / "README.md",
]
COMMANDS = {"analyze", "run", "devices", "doctor", "calibrate", "leds-off", "check-config", "models", "--version"}
LISTENER = re.compile(r"(?:^|(?<=[\s/\"'(]))listener(?=\s)")  # the program, not /opt/listener or `-u listener`
DEMO = re.compile(r"(?:^|(?<=[\s/]))scripts/demo(?=\s)")  # its arguments go to `listener run --demo-fallback`
ENDS = set("|&;<>)`")  # outside [optional parts], the shell's: the command line ends there
SHELL_NAMES = {"$L": "listener", "$C": "/etc/listener/listener.toml"}  # README's install steps
CONFIG_TABLES = set(Config.__dataclass_fields__)
OTHER_TOML = {"inputs"}  # telegraf-grafana.md's telegraf.conf


def _name(path: Path) -> str:
    return str(path.relative_to(REPO))


def _shell_lines(text: str) -> Iterator[str]:
    for block in re.findall(r"```(?:sh|bash)\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.split(r"(?:^|\s)#", line, maxsplit=1)[0]  # a comment
            for name, value in SHELL_NAMES.items():
                line = line.replace(name, value)
            yield line


def _inline_commands(text: str) -> Iterator[str]:
    """Spans written as a command (`listener run --input FILE --fast`), not a name (`listener models fetch`)."""
    for span in re.findall(r"`([^`\n]+)`", text):
        named = re.fullmatch(r"(?:sudo )?(?:\S*/)?listener((?: [\w-]+)*)", span)
        if named and set(named.group(1).split()) <= COMMANDS | {"fetch"}:
            continue
        if re.match(r"(?:sudo )?(?:\S*/)?(?:listener|scripts/demo)\s", span):
            # a span that ends in an option taking a value names the option: `listener run --input` in real time
            yield span + " X" if re.search(r"\s--(input|config|plot|seconds|dir)$", span) else span


def _rest(line: str, start: int) -> str:
    depth, kept = 0, []
    for ch in line[start:]:
        depth += (ch == "[") - (ch == "]")
        if depth == 0 and ch in ENDS:
            break
        kept.append(ch)
    return "".join(kept)


def _readings(words: str) -> list[str]:
    """Each way to type the [optional] parts: none of them, and every one with its first, second, ...
    alternative (``[--input FILE | --seconds 10]``); nested ones (``[--write [--force]]``) alike."""
    most = 1

    def choose(text: str, pick: int | None) -> str:
        nonlocal most
        while found := re.search(r"\[([^\[\]]*)\]", text):
            options = [o.strip() for o in found.group(1).split(" | ")]
            most = max(most, len(options))
            chosen = "" if pick is None else options[min(pick, len(options) - 1)]
            text = text[: found.start()] + chosen + text[found.end() :]
        return text

    readings = [choose(words, None), choose(words, 0)]
    readings += [choose(words, i) for i in range(1, most)]
    return list(dict.fromkeys(readings))


def _commands(line: str) -> Iterator[list[str]]:
    found: list[tuple[int, list[str]]] = [(m.end(), []) for m in LISTENER.finditer(line)]
    found += [(m.end(), ["run", "--demo-fallback"]) for m in DEMO.finditer(line)]
    for end, before in found:
        for reading in _readings(_rest(line, end).replace("...", " ").replace("…", " ")):
            words = before + shlex.split(reading)
            if words and words[0] in COMMANDS:
                yield words


def command_lines() -> list[tuple[str, list[str]]]:
    """(document, the words after ``listener``) of every command line the documents show."""
    found: dict[tuple[str, str], list[str]] = {}
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for line in (*_shell_lines(text), *_inline_commands(text)):
            for words in _commands(line):
                found.setdefault((_name(doc), " ".join(words)), words)
    return [(doc, words) for (doc, _), words in found.items()]


def toml_blocks() -> list[tuple[str, str]]:
    """(where, text) of every TOML block of the documents, telegraf.conf's and the listener's."""
    return [
        (f"{_name(doc)}#{n}", block)
        for doc in DOCS
        for n, block in enumerate(re.findall(r"```toml\n(.*?)```", doc.read_text(encoding="utf-8"), re.S))
    ]


COMMAND_LINES = command_lines()
PROVISION = re.compile(r"(?:^|(?<=[\s/]))provision\.sh(?=\s)")
PROVISION_OPTIONS = REPO / "firmware" / "provision.d" / "options.sh"


def provision_lines() -> list[tuple[str, list[str]]]:
    """(document, the words after ``provision.sh``) of every firmware/provision.sh command line shown."""
    found: dict[tuple[str, str], list[str]] = {}
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        spans = [span for span in re.findall(r"`([^`\n]+)`", text) if re.match(r"(?:sudo )?\S*provision\.sh -", span)]
        for line in (*_shell_lines(text), *spans):
            for m in PROVISION.finditer(line):
                for reading in _readings(_rest(line, m.end())):
                    words = shlex.split(reading)
                    found.setdefault((_name(doc), " ".join(words)), words)
    return [(doc, words) for (doc, _), words in found.items()]


PROVISION_LINES = provision_lines()
CONFIGS = [(where, block) for where, block in toml_blocks() if not set(tomllib.loads(block)) <= OTHER_TOML]


def test_the_documents_commands_and_configs_are_found() -> None:
    """The README's everyday commands alone are over 25 readings: a reader that stopped finding them would
    pass every command below by finding none. A TOML block is the listener's or telegraf's, none left unread."""
    readme = {" ".join(words) for doc, words in COMMAND_LINES if doc == "README.md"}
    assert len(readme) > 25, readme
    expected = "calibrate --config listener.toml --input recording.wav --write --force"
    assert {expected, "run --demo-fallback --config my.toml", "doctor --config /etc/listener/listener.toml"} <= readme
    for where, block in CONFIGS:
        assert set(tomllib.loads(block)) <= CONFIG_TABLES, f"{where}: neither listener.toml nor telegraf.conf"
    assert {"README.md#0", "README.md#1", "docs/integrations/mqtt.md#0"} <= {where for where, _ in CONFIGS}
    provisions = {(doc, " ".join(words)) for doc, words in PROVISION_LINES}
    assert ("README.md", "--preset respeaker-4mic --vosk-model en-small") in provisions, provisions
    assert {doc for doc, _ in provisions} >= {"README.md", "firmware/README.md", "docs/fleet.md"}


@pytest.mark.parametrize(("doc", "words"), COMMAND_LINES, ids=[f"{d}: {' '.join(w)}" for d, w in COMMAND_LINES])
def test_every_command_a_document_shows_parses(doc: str, words: list[str]) -> None:
    parser, said = _parser(), io.StringIO()
    try:
        with contextlib.redirect_stderr(said), contextlib.redirect_stdout(io.StringIO()):
            args = parse(parser, words)
            check_combinations(command_parser(parser, args), args)
    except SystemExit as exc:
        assert exc.code in (0, None), f"{doc}: listener {' '.join(words)}: {said.getvalue().strip()}"


@pytest.mark.parametrize(("doc", "words"), PROVISION_LINES, ids=[f"{d}: {' '.join(w)}" for d, w in PROVISION_LINES])
def test_every_provision_command_a_document_shows_is_read_by_the_script(doc: str, words: list[str]) -> None:
    """Its options as the script reads them (each known, with its value), before it looks at the machine: a root
    that is not there stops it next, with nothing changed. The --preset named is one it sets up."""
    said = subprocess.run(
        ["bash", str(REPO / "firmware" / "provision.sh"), *words, "--root", "/nonexistent/root"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert said.stderr.startswith("error: --root /nonexistent/root is not a directory"), f"{doc}: {said.stderr}"
    presets = re.search(r"^PROVISION_PRESETS=\(([^)]*)\)", PROVISION_OPTIONS.read_text(encoding="utf-8"), re.M)
    assert presets is not None
    named = [value for option, value in itertools.pairwise(words) if option == "--preset"]
    assert set(named) <= set(presets.group(1).split()), f"{doc}: --preset {named}; the script knows {presets.group(1)}"


@pytest.mark.parametrize(("where", "block"), CONFIGS, ids=[where for where, _ in CONFIGS])
def test_every_listener_toml_a_document_shows_passes_check_config_unwarned(
    where: str, block: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "listener.toml"
    path.write_text(block, encoding="utf-8")
    code = main(["check-config", str(path)])
    said = capsys.readouterr()
    assert code == 0, f"{where}: {said.err}"
    assert "warning" not in said.err, f"{where}: {said.err}"
    assert ": ok (" in said.out
