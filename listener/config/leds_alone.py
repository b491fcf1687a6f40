"""The ``[leds]`` table of a config file on its own, for ``listener leds-off``.

The unit runs leds-off after every stop of the service, a watchdog kill too. The file may
have been edited since the service started, and a typo anywhere in it (a key in ``[mqtt]``,
text without quotes) would otherwise leave the lights the dead service drove lit on the
counter. So each table leds-off needs is cut out of the text and parsed alone: ``[leds]``
itself, and ``[array]``'s preset, whose HAT reserves header pins.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from listener.config.loader import build, parse_toml, read_text
from listener.config.pins import check_pins
from listener.config.presets import PRESETS
from listener.config.schema import ArrayConfig, Config, LedsConfig
from listener.config.toml_hints import table_headers
from listener.errors import ConfigError, ConfigSyntaxError, shown_path

log = logging.getLogger("listener")


def leds_to_switch_off(path: Path | None, load: Callable[[Path | None], Config]) -> LedsConfig:
    """The lights of the file ``load`` reads, or of its [leds] alone when the file no longer loads whole."""
    try:
        return load(path).leds
    except (ConfigError, ConfigSyntaxError) as exc:
        if path is None:
            raise
        leds = leds_alone(path)
        log.warning("%s; switching the LEDs off by [leds] alone", exc)
        return leds


def leds_alone(path: Path) -> LedsConfig:
    """``path``'s ``[leds]``, validated as the whole file would validate it, whatever else it holds."""
    lines = read_text(path).split("\n")  # tomllib's own line breaks
    headed = list(zip(lines, table_headers(lines), strict=True))  # once, for both tables
    leds = build(LedsConfig, _table(headed, "leds", path), "leds")
    try:
        preset = _table(headed, "array", path).get("preset", ArrayConfig().preset)
    except ConfigSyntaxError:  # the pins passed this check when the service started: they are switched off
        return leds
    board = PRESETS.get(preset) if isinstance(preset, str) else None
    check_pins(leds, str(preset), board.reserved_pins if board is not None else {})
    return leds


def _table(headed: list[tuple[str, str | None]], name: str, path: Path) -> dict[str, Any]:
    """The keys under the ``[name]`` header, parsed on their own, and any ``name.key`` written before the
    first header ({} without either); ``headed``: each line with the table its header opens."""
    root: list[str] = []
    lines: list[str] = []
    inside, below_a_header = False, False
    for line, header in headed:
        if header is not None:
            inside, below_a_header = header == name, True
        # every other line kept as an empty one: tomllib's line numbers are then the file's own
        lines.append(line if inside and header is None else "")
        root.append(line if not below_a_header else "")
    whole = "\n".join(line for line, _ in headed)  # the hint reads the line in its table, as check-config's
    table = parse_toml("\n".join(lines), f"config file {shown_path(path)}: its [{name}] table", whole)
    with contextlib.suppress(ConfigSyntaxError):  # the top of the file is another part: skipped if broken
        dotted = parse_toml("\n".join(root), "").get(name)
        table = {**dotted, **table} if isinstance(dotted, dict) else table
    return table
