"""A syntax hint on the largest file the listener reads (1 MiB) takes no longer than a few parses of it: check-config
and the service's start on a Pi (about 5x slower than a desktop) must answer, whatever the file holds. Three
patterns took time quadratic in the spaces inside a value (1 MiB: hours), and a list left open on a 1 MiB line was
parsed 35 times over (14 s here)."""

from __future__ import annotations

import signal
import time
import tomllib
from collections.abc import Callable
from typing import TypeVar

import pytest

from listener.config.loader import MAX_FILE_BYTES
from listener.config.toml_hints import syntax_hint

SPACES = " " * (MAX_FILE_BYTES - 100)
ROWS = "[1, 2], " * ((MAX_FILE_BYTES - 100) // 8)
T = TypeVar("T")
HEADERS = "".join(f"[t{k}]\n" for k in range(MAX_FILE_BYTES // 10))
TEXT = "Shop 12\n" * ((MAX_FILE_BYTES - 100) // 8)
KEYS = "".join(f"k{k} = 1\n" for k in range(MAX_FILE_BYTES // 12))
KEYS_AND_TEXT = KEYS.replace("= 1\n", "= 1\nShop\n")[: MAX_FILE_BYTES - 100]  # each closing tried fails 2 lines on
ITEMS = '  "a",\n' * ((MAX_FILE_BYTES - 100) // 7)


class TookTooLongError(Exception):
    pass


def _stop(signum: int, frame: object) -> None:
    raise TookTooLongError


def timed(limit_s: float, work: Callable[[], T]) -> tuple[T, float]:
    """What ``work`` returns and the CPU time it took; stopped with TookTooLongError after ``limit_s`` of it, so that
    a hang fails the test instead of holding the run."""
    before = signal.signal(signal.SIGPROF, _stop)
    signal.setitimer(signal.ITIMER_PROF, limit_s)
    start = time.process_time()
    try:
        done = work()
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, before)
    return done, time.process_time() - start


def parser_says(text: str) -> str:
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return str(exc)
    raise AssertionError("it parses")


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(f"[mqtt]\nhost = x{SPACES}y\n", id="a value with spaces inside"),
        pytest.param(f"host: x{SPACES}y\n", id="a YAML line"),
        pytest.param(f"[mqtt]\nhost = 'x{SPACES}y", id="a string left open"),
        pytest.param(f"[array]\nmics = [{ROWS}[1, 2]  # {'# ' * 8}\n[mqtt]\n", id="a list left open on a long line"),
        pytest.param("[mqtt]\nport = 1\r" * (MAX_FILE_BYTES // 16), id="carriage returns"),
        pytest.param(f"{HEADERS}[0.1, 0.2]\n", id="a row below 1 MiB of headers"),
        pytest.param(f"[service]\nnote = '''\n{TEXT}", id="triple quotes left open"),
        pytest.param(f'[service]\nnote = """\n{KEYS_AND_TEXT}', id="triple quotes left open above keys"),
        pytest.param(f'{KEYS}note = """\nShop 12\n', id="triple quotes left open below 1 MiB of keys"),
        pytest.param(f'[service]\nshares = [\n{ITEMS}  "C:\\q",\n]\n', id="a bad escape in a long list"),
        pytest.param(f'shares = [{ITEMS.replace(chr(10), "")}"C:\\q"]\n', id="a bad escape in a list on a long line"),
    ],
)
def test_a_hint_on_a_1_mib_file_takes_a_few_parses_of_it(text: str) -> None:
    assert len(text.encode()) <= MAX_FILE_BYTES
    message, parse_s = timed(60.0, lambda: parser_says(text))
    limit_s = 5 * parse_s + 1.0
    try:
        said, hint_s = timed(limit_s, lambda: syntax_hint(text, message))
    except TookTooLongError:
        pytest.fail(f"the hint took over {limit_s:.1f} s of CPU, the parse {parse_s:.2f} s")
    assert said.endswith(f"({message})") and "\n" not in said, said[:200]
    print(f"hint {hint_s:.2f} s, parse {parse_s:.2f} s")  # shown with -s: the figures for a Pi's margin
