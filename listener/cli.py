"""The ``listener`` command line."""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import errno
import logging
import os
import resource
import sys
from collections.abc import Sequence
from typing import Any

from listener.cli_analyze import cmd_analyze
from listener.cli_parsing import (
    Parser,
    check_combinations,
    check_write_target,
    command_config,
    command_parser,
    figure_path_arg,
    parse,
    path_arg,
)
from listener.config import (
    INSTALLED_CONFIG,
    config_file,
    config_folder,
    config_warnings,
    geometry,
    parse_config,
    read_config,
)
from listener.config.loader import read_toml
from listener.config.service_unit import service_warnings
from listener.console import Stdout, degrade_encoding, discard_stdout, output_fix, say_line, working_folder_gone
from listener.errors import DENIED_FIX, ListenerError, os_reason_and_fix, shown_path
from listener.heap import keep_freed_buffers
from listener.service.logs import set_level, setup_logging

# Each command imports what it needs: `leds-off` runs after every stop of the service (its unit's
# ExecStopPost), and the analysis stack (scipy, the spatial front end) would double its time.

log = logging.getLogger("listener")

LISTEN_S = 10.0  # calibrate's live listening by default
INSTALLED_DEFAULT_HELP = f"TOML configuration (default: {INSTALLED_CONFIG} if it exists, else built-in)"
PR_SET_DUMPABLE = 4  # <linux/prctl.h>


def main(argv: Sequence[str] | None = None) -> int:
    stdout = Stdout(sys.stdout)
    degrade_encoding(stdout.stream, sys.stderr)  # before argparse: its messages may quote what was typed
    sys.stdout = stdout  # before argparse too: --help and --version write, to a full disk or a closed pipe
    try:
        args = _parse(stdout, sys.argv[1:] if argv is None else list(argv))
        setup_logging()
        _no_core_dumps()
        keep_freed_buffers()
        code = int(args.func(args))
        sys.stdout.flush()  # here, where a closed pipe can still be caught
        if isinstance(stdout.error, BrokenPipeError):
            # the reader went away (| head) but the command ran to its end: its verdict is the exit code
            discard_stdout(stdout.stream)
            return code
        if stdout.error is not None:  # failed output that a stage let pass (the view's last frame): said below
            raise stdout.error
        return code
    except ListenerError as exc:
        say_line(f"listener: {exc}", exc.journal_level)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader went away (| head): nothing left to say; keep Python from complaining at exit
        discard_stdout(stdout.stream)
        return 0
    except OSError as exc:
        return _os_error(exc, stdout)
    finally:
        if sys.stdout is stdout:
            sys.stdout = stdout.original


def _parse(stdout: Stdout, words: list[str]) -> argparse.Namespace:
    parser = _parser()
    try:
        args = parse(parser, words)
    except SystemExit:
        # --help or --version printed and ends here: written now, where a full disk or a closed pipe is caught.
        # From Python 3.12 (Debian 13) argparse drops the error of its own write, unbuffered (PYTHONUNBUFFERED,
        # the service's): `listener --version > /dev/full` ended 0 and silent; stdout kept it
        stdout.flush()
        if stdout.error is not None:
            raise stdout.error from None
        raise
    check_combinations(command_parser(parser, args), args)
    return args


def _os_error(exc: OSError, stdout: Stdout) -> int:
    """One line and exit 2 for a file denied or an output that cannot be written; anything else raises."""
    if stdout.error is not exc:
        if isinstance(exc, PermissionError) and exc.filename is not None:
            # met where no check looked first (those name the setting too): still one line, with the fix
            reason = os_reason_and_fix(exc, DENIED_FIX, {errno.EACCES: DENIED_FIX})
            say_line(f"listener: {shown_path(exc.filename)} {reason}")
            return 2
        if isinstance(exc, FileNotFoundError) and exc.filename is None and working_folder_gone():
            # a relative --config made absolute (os.getcwd) where the folder was deleted or replaced meanwhile
            say_line(
                "listener: the current folder no longer exists (deleted or replaced): cd into one that does, or"
                " give the paths in full"
            )
            return 2
        raise exc
    # `listener analyze x.wav --json > report.json` on a full SD card: one line, not a traceback
    discard_stdout(stdout.stream)
    say_line(f"listener: cannot write the output ({exc.strerror or exc}): {output_fix(exc)}")
    return 2


def _no_core_dumps() -> None:
    """A crash must not write the process's memory (audio buffers, words being recognised) to disk.

    Debian writes ``core`` into the working directory, the service's state
    directory, whenever the limit allows. The soft limit is what a crash
    obeys; the hard one is left to whoever started us (the unit sets both to 0).
    """
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_CORE, (0, resource.getrlimit(resource.RLIMIT_CORE)[1]))
    # the limit binds only a core file: a core_pattern that pipes to a handler (apport) ignores it, and
    # another process of the same user could read this one's memory; not dumpable closes both
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)


class _Version(argparse._VersionAction):
    """The build is worked out only when asked for: hashing the package's files would slow every command."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        from listener.build import version_text

        self.version = f"listener {version_text()}"
        super().__call__(parser, namespace, values, option_string)


def _parser() -> argparse.ArgumentParser:
    parser = Parser(prog="listener", description="Active-listening feedback for counter conversations.")
    parser.add_argument("--version", action=_Version, help="print the release version and build, and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_analysis_commands(sub)
    _add_setup_commands(sub)
    return parser


def _add_analysis_commands(sub: argparse._SubParsersAction[Parser]) -> None:
    p = sub.add_parser("analyze", help="analyse a recording and print the conversation's metrics")
    p.add_argument("file", type=path_arg, help="multi-channel WAV recorded by the array")
    p.add_argument("--config", type=path_arg, help="TOML configuration (default: built-in defaults)")
    p.add_argument("--json", action="store_true", help="print the full report as JSON (schema listener.analysis/1)")
    p.add_argument(
        "--plot",
        type=figure_path_arg,
        metavar="FILE",
        help="also draw the conversation into this .png, .svg or .pdf (matplotlib)",
    )
    p.set_defaults(func=cmd_analyze)

    p = sub.add_parser("run", help="run the service: live from the array, or fed from a file")
    p.add_argument("--config", type=path_arg, help="TOML configuration (default: built-in defaults)")
    source = p.add_mutually_exclusive_group()  # one answer to "where does the audio come from"
    source.add_argument("--input", type=path_arg, help="feed this WAV through the service pipeline instead of the mic")
    p.add_argument(
        "--fast", action="store_true", help="with --input or --demo-fallback: as fast as possible, not in real time"
    )
    p.add_argument("--led-trace", action="store_true", help="print one JSON line per LED change")
    p.add_argument("--view", action="store_true", help="show the LEDs and live figures in the terminal")
    source.add_argument(
        "--demo-fallback",
        action="store_true",
        help="with no mic array attached, replay the bundled sample (implies --view)",
    )
    source.add_argument(
        "--wait-for-array", action="store_true", help="with no mic array attached, wait for it (the service's choice)"
    )
    p.set_defaults(func=cmd_run)


def _add_setup_commands(sub: argparse._SubParsersAction[Parser]) -> None:
    p = sub.add_parser("devices", help="list audio inputs with their channel counts")
    p.set_defaults(func=cmd_devices)

    p = sub.add_parser("doctor", help="check the array, models, GPIO, broker, disk and clock; say how to fix each")
    p.add_argument("--config", type=path_arg, help=INSTALLED_DEFAULT_HELP)
    p.add_argument("--json", action="store_true", help="print one JSON document (schema listener.doctor/1)")
    p.set_defaults(func=cmd_doctor)

    _add_calibrate_command(sub)

    p = sub.add_parser("leds-off", help="switch the status LEDs off (the service's unit does, however it stopped)")
    p.add_argument("--config", type=path_arg, help=INSTALLED_DEFAULT_HELP)
    p.set_defaults(func=cmd_leds_off)

    p = sub.add_parser("check-config", help="validate a configuration file without running")
    p.add_argument("file", type=path_arg, help="listener.toml to validate")
    p.set_defaults(func=cmd_check_config)

    _add_models_commands(sub)


def _add_calibrate_command(sub: argparse._SubParsersAction[Parser]) -> None:
    p = sub.add_parser("calibrate", help="learn the rep's and the customer's directions while the rep talks")
    p.add_argument("--config", type=path_arg, help=f"{INSTALLED_DEFAULT_HELP}; --write stores what was measured in it")
    heard = p.add_mutually_exclusive_group()
    heard.add_argument("--input", type=path_arg, help="learn from this multi-channel WAV instead of the live array")
    heard.add_argument("--seconds", type=float, help=f"live: how long to listen, 4-600 s (default {LISTEN_S:g})")
    p.add_argument(
        "--write",
        action="store_true",
        help="write the azimuths (one mic per party: which channel is whose) into the [parties] table of --config",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="with --write: write even when the confidence is low, the talker taken for the rep said less than the"
        " other, a second voice with over a fifth of the speech never held the floor on its own, or one that did"
        " stood too near the rep to tell apart",
    )
    p.set_defaults(func=cmd_calibrate)


def _add_models_commands(sub: argparse._SubParsersAction[Parser]) -> None:
    p = sub.add_parser("models", help="manage the on-device speech recognition models")
    models = p.add_subparsers(dest="models_command", metavar="SUBCOMMAND", required=True)
    p = models.add_parser("fetch", help="download, verify (pinned SHA-256) and unpack an official vosk model")
    p.add_argument("model", choices=["en-small"], help="en-small: vosk-model-small-en-us-0.15 (41 MB)")
    where = p.add_mutually_exclusive_group()
    models_help = f"{INSTALLED_DEFAULT_HELP}; models go to <service.state_dir>/models"
    where.add_argument("--config", type=path_arg, help=models_help)
    where.add_argument("--dir", type=path_arg, help="unpack into this folder instead")
    p.set_defaults(func=cmd_models_fetch)


def cmd_doctor(args: argparse.Namespace) -> int:
    from listener.service.doctor.report import report

    path = config_file(args.config)
    config, data = read_config(path)  # as read too: the lines start with check-config's warnings of it
    set_level(config.service.log_level)
    return report(config, path, args.json, data)


def cmd_calibrate(args: argparse.Namespace) -> int:
    from listener.service.calibrate import calibrate

    seconds = LISTEN_S if args.seconds is None else args.seconds
    path = config_file(args.config)  # on a device, the file its service runs with: --write edits that one
    config = command_config(path)
    if args.write and path is not None:  # before listening: what is measured must have somewhere to go
        check_write_target(path)
    return calibrate(config, path, args.input, seconds, args.write, args.force)


def cmd_check_config(args: argparse.Namespace) -> int:
    data = read_toml(args.file)  # once: validated below, and looked at for a file that sets nothing
    config = parse_config(data, config_folder(args.file))
    geo = geometry(config)
    if geo.mode == "channels":  # no mics are used: the preset (or array.mics) only names the device
        parties = f"rep channel {geo.rep_channel}, customer channel {geo.customer_channel}"
        shape = f"{geo.preset}, {geo.capture_channels} channels, mode channels ({parties})"
    else:
        shape = f"{geo.preset}, {geo.n_mics} mics, {geo.capture_channels} channels, mode {geo.mode}"
    # explicit mics keep the preset's device names: which card is used is said, not left to be guessed
    names = " or ".join(repr(name) for name in geo.device_hints)
    source = f"input named like {names}" if names else "the default input"
    # an empty file (or one of comments) is valid, but most likely not what was meant to be checked
    unset = "; it sets no key: every setting is its default (docs/config.md)" if not data else ""
    # valid, but written to no effect, or beyond what listener.service allows: said, not refused (run says the
    # latter only under systemd, where they apply)
    for warning in [*config_warnings(config, data), *service_warnings(config)]:
        say_line(f"listener: warning at {warning}", logging.WARNING)
    print(f"{shown_path(args.file)}: ok ({shape}, {source}){unset}")
    return 0


def cmd_leds_off(args: argparse.Namespace) -> int:
    from pathlib import Path

    from listener.config import Config
    from listener.config.leds_alone import leds_to_switch_off
    from listener.errors import SERVICE_STATE_DIR
    from listener.outputs.gpio import pin_factory
    from listener.outputs.leds import switch_off
    from listener.service.instance import held

    loaded: list[Config] = []  # the whole file, where it still loads: its state_dir

    def load(path: Path | None) -> Config:
        loaded.append(command_config(path))
        return loaded[-1]

    leds = leds_to_switch_off(config_file(args.config), load)  # on a device, the lights its service drives
    if not leds.in_use:  # only then a pin library is needed
        return 0
    state_dir = Path(loaded[-1].service.state_dir) if loaded else SERVICE_STATE_DIR
    if held(state_dir):
        # a service refused beside a run by hand (exit 75, restarted every 20 s): the lights are that run's
        log.info("the LEDs are left as they are: another listener runs with [service] state_dir %s", state_dir)
        return 0
    switch_off(leds, pin_factory())
    log.info("the %s LEDs are off", leds.preset)  # the journal shows the unit's ExecStopPost ran
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from listener.service.runner import RunOptions, run

    config, data = read_config(args.config)
    set_level(config.service.log_level)
    # said where the service's own lines go, the journal: check-config is not always run first
    for warning in config_warnings(config, data, os.environ):
        log.warning("config warning at %s", warning)
    options = RunOptions(
        input=args.input,
        fast=args.fast,
        led_trace=args.led_trace,
        demo_fallback=args.demo_fallback,
        wait_for_array=args.wait_for_array,
        view=args.view or args.demo_fallback,
    )
    run(config, options)
    return 0


def cmd_devices(args: argparse.Namespace) -> int:
    from listener.audio.devices import format_devices, list_input_devices

    devices = list_input_devices()
    if not devices:  # a script checking for the array gets a failing exit, and the reason on stderr
        say_line(f"listener: {format_devices(devices)}")
        return 1
    print(format_devices(devices))
    return 0


def cmd_models_fetch(args: argparse.Namespace) -> int:
    from listener.transcription.models import MODELS, fetch, fetch_command, models_dir

    spec = MODELS[args.model]
    dest = args.dir if args.dir is not None else models_dir(command_config(config_file(args.config)))
    log.info("fetching %s (%d bytes) into %s", spec.name, spec.size_bytes, dest)
    print(fetch(spec, dest, again=fetch_command(args.model, args.config, dest)))
    return 0
