"""Reading the ``listener`` command line: a mistake on it is one line that names it and where to look.

argparse's own ways (the usage and the error; an option before the command taken for the command; a
word the command does not take blamed on the top parser) are replaced here; cli.py builds the commands. The
configuration a command's --config names is read here too, for cli.py's commands and cli_analyze.py's.
"""

from __future__ import annotations

import argparse
import stat
from pathlib import Path
from typing import NoReturn

from listener.config import Config, load_config
from listener.console import say_line
from listener.errors import CalibrationError, file_kind, shown_path
from listener.service.logs import set_level


class Parser(argparse.ArgumentParser):
    """argparse, but a mistake on the command line is one line naming it, not the usage and the error."""

    def error(self, message: str) -> NoReturn:
        message = " ".join(message.split())  # one line, whatever argparse or the typed value holds
        say_line(f"{self.prog}: {message}; see {self.prog} --help")  # at error in the journal, as every error line
        raise SystemExit(2)


def parse(parser: argparse.ArgumentParser, words: list[str]) -> argparse.Namespace:
    """The arguments. A word the command does not take is blamed on that command, whose --help lists what
    it does take (argparse leaves it to the top parser, whose help lists only the commands)."""
    first = words[0] if words else ""
    if len(first) >= 3 and "--version".startswith(first) and len(words) > 1:  # argparse would ignore the rest
        parser.error(f"--version takes nothing after it, not {' '.join(words[1:])!r}")
    _options_after_the_command(parser, words)
    _file_names_taken_for_options(parser, words)
    args, extra = parser.parse_known_args(words)  # an unknown word before the command is refused above
    if extra:
        command_parser(parser, args).error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def _options_after_the_command(parser: argparse.ArgumentParser, words: list[str]) -> None:
    """An option before the command belongs to the command. With its value apart (``--config x.toml doctor``)
    argparse would take the value for the command and say it is no command."""
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    at = next((i for i, word in enumerate(words) if word in commands), 0)
    early = next((w for w in words[:at] if w.startswith("-") and not _asks_for_help(w)), None)
    if early is not None:
        parser.error(f"{early} goes after the command: listener {words[at]} {early} ...")


def _file_names_taken_for_options(parser: argparse.ArgumentParser, words: list[str]) -> None:
    """A recording or config named ``-take1.wav`` is read as an option: argparse then said the file was not
    given ("the following arguments are required: file") or --input "expected one argument"."""
    for word in words[: words.index("--")] if "--" in words else words:
        if word.startswith("-") and not word.startswith("--") and word.lower().endswith((".wav", ".toml")):
            parser.error(f"{word} begins with '-', which marks an option: write it as ./{word}")


def _asks_for_help(word: str) -> bool:
    """-h, --help, or an abbreviation of it argparse takes (--he)."""
    return word == "-h" or (len(word) >= 3 and "--help".startswith(word))


def command_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The parser of the (sub)command ``args`` reached: ``listener models fetch``'s for that command."""
    while True:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        chosen = getattr(args, subs[0].dest, None) if subs else None
        if chosen is None:
            return parser
        parser = subs[0].choices[chosen]


def path_arg(text: str) -> Path:
    if not text:  # Path("") is ".", which was then called a folder
        raise argparse.ArgumentTypeError("an empty path (an unset shell variable?): give a file name")
    return Path(text)


def figure_path_arg(text: str) -> Path:
    """``--plot``'s file. Path drops a trailing '/' (and '/.'), so `--plot x.png/`, typed by one who took x.png
    for a folder, wrote the figure as the file x.png: refused, with the file name it may have meant."""
    path = path_arg(text)
    if not text.endswith(("/", "/.")):
        return path
    from listener.analytics.plot_checks import PLOT_FORMATS

    meant = path if path.suffix.lower() in PLOT_FORMATS else path / "conversation.png"
    raise argparse.ArgumentTypeError(
        f"{shown_path(text)} ends in '/', which names a folder: give the figure's file name, e.g. --plot "
        f"{shown_path(meant)}"
    )


def check_combinations(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Options that mean something only beside another: ignoring them would let a typed intent pass unsaid."""
    replays = getattr(args, "input", None) is not None or getattr(args, "demo_fallback", False)
    if getattr(args, "fast", False) and not replays:
        parser.error("--fast needs --input FILE.wav (or --demo-fallback): a live array runs in real time")
    if getattr(args, "force", False) and not getattr(args, "write", False):
        parser.error("--force only applies with --write: add --write to write the directions even when unsure")


def command_config(path: Path | None) -> Config:
    """The configuration a command runs with, its log level applied before the command says anything."""
    config = load_config(path)
    set_level(config.service.log_level)
    return config


def check_write_target(path: Path) -> None:
    """``calibrate --write`` replaces its --config with an edited copy: that of a device (``--config /dev/null``,
    which reads as an empty file) would replace the device itself, as root /dev/null for every program.
    Called once the config has been read, so a missing or unreadable one was already said with its fix."""
    mode = path.stat().st_mode
    if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):  # a folder was refused as it was read
        raise CalibrationError(
            f"--write stores the directions in --config, but {shown_path(path)} is {file_kind(mode)}, not a file: "
            "pass the listener's TOML file (or leave out --write to only print them)"
        )
