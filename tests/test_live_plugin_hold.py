"""While the array is away, ALSA's plugin libraries stay loaded between reopen attempts (listener/audio/plugins.py).

Each attempt restarted PortAudio, which unloaded and reloaded every plugin library the ALSA configuration
names; some leak at every load (libasound2-plugins' a52: 12 KiB an attempt, bench/outage_memory.py). The
plugin here is tests/alsa_card.c's card, loaded from its .so as alsa-lib loads any external plugin.
"""

from __future__ import annotations

import mmap
import os
import re
from pathlib import Path

import pytest

from bench import outage_memory
from listener.audio.devices import open_portaudio
from listener.audio.live import LiveSource
from listener.audio.plugins import PluginHold, loaded_plugins
from listener.events import AudioDropped, Event, SourceState
from tests import alsa_card
from tests.alsa_card import CardSet
from tests.live_source import audio_s, live_config, run_source

cards, card_plugin = alsa_card.cards, alsa_card.card_plugin  # fixtures

ARRAY = {"listener_test_array": "rate 16000; channels 4; format S16_LE"}
OTHER = {"another_card": "rate 16000; channels 2; format S16_LE"}  # loads the plugin, is not the array


def test_the_plugins_stay_loaded_between_attempts_and_are_let_go_when_the_array_is_back(
    cards: CardSet, card_plugin: Path
) -> None:
    plugin = str(card_plugin.resolve())
    cards.set(OTHER)
    # at each outage tick from the third: was the plugin loaded? Every tick (reopen_interval_s under a tick) comes
    # before an attempt: the first before any attempt of the outage, the second after the first took the hold
    seen: list[bool] = []
    ticks: list[AudioDropped] = []
    plugged: list[bool] = []

    def step(event: Event, events: list[Event]) -> bool:
        if isinstance(event, AudioDropped) and not plugged:
            ticks.append(event)
            if len(ticks) >= 3:
                seen.append(plugin in loaded_plugins())  # no PortAudio runs now: only a hold keeps it
            if len(seen) >= 4:
                cards.set({**OTHER, **ARRAY})
                plugged.append(True)
        return audio_s(events) >= 0.5

    with LiveSource(live_config(reopen_interval_s=0.2), wait=True) as source:
        events = run_source(source, step, timeout_s=20.0)
        states = [e.available for e in events if isinstance(e, SourceState)]
        assert states == [False, True]
        assert seen == [True] * 4  # without the hold: all False, unloaded at every attempt's stop
        assert plugin in loaded_plugins()  # the stream's own PortAudio has it
    assert plugin not in loaded_plugins()  # released when audio came, unloaded when the stream stopped


def test_a_source_closed_while_the_array_is_away_lets_the_plugins_go(cards: CardSet, card_plugin: Path) -> None:
    """Stopped during an outage (the service shutting down with the array unplugged): close() gives the hold back."""
    plugin = str(card_plugin.resolve())
    cards.set(OTHER)
    ticks: list[bool] = []

    def step(event: Event, events: list[Event]) -> bool:
        if isinstance(event, AudioDropped):
            ticks.append(plugin in loaded_plugins())
        return len(ticks) >= 3  # the third tick comes after the outage's first attempt took the hold

    with LiveSource(live_config(reopen_interval_s=0.2), wait=True) as source:
        run_source(source, step, timeout_s=20.0)
        assert ticks[-1]  # held between attempts
    assert plugin not in loaded_plugins()


def test_a_hold_outlives_portaudio_and_release_lets_the_library_go(cards: CardSet, card_plugin: Path) -> None:
    plugin = str(card_plugin.resolve())
    cards.set(OTHER)
    hold = PluginHold()
    with open_portaudio():
        assert plugin in loaded_plugins()
        hold.take()
        hold.take()  # taken once however often asked
    assert hold.held == {plugin} and plugin in loaded_plugins()
    hold.release()
    assert hold.held == frozenset() and plugin not in loaded_plugins()
    with open_portaudio():
        assert plugin in loaded_plugins()
    assert plugin not in loaded_plugins()  # nothing was left holding it


def test_the_outage_memory_bench_counts_attempts_and_names_the_plugins_held(
    cards: CardSet, card_plugin: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cards.set(OTHER)
    argv = ["--seconds", "1.5", "--warm-up-s", "0.5", "--reopen-interval-s", "0.1"]
    assert outage_memory.main(argv) == 0
    held = capsys.readouterr().out
    assert outage_memory.main([*argv, "--without-hold"]) == 0
    plain = capsys.readouterr().out
    assert f"hold on; ALSA plugin libraries loaded between attempts: ['{card_plugin.name}']" in held, held
    assert "hold off; ALSA plugin libraries loaded between attempts: none" in plain, plain
    for out in (held, plain):
        attempts = int(re.search(r"attempts (\d+) in \d+ s after a 0.5 s warm-up", out)[1])  # type: ignore[index]
        assert 2 <= attempts <= 12, out  # 0.1 s apart over about 1 s, on a loaded machine too
        assert re.search(r"RSS [\d.]+ -> [\d.]+ MiB: -?[\d.]+ KiB per attempt", out), out


def test_a_mapped_file_whose_name_is_not_utf8_does_not_stop_the_plugin_scan(tmp_path: Path) -> None:
    """/proc/self/maps was decoded strictly: one mapped file named in Latin-1 (a recording, a model folder)
    raised UnicodeDecodeError outside the reopen loop's guard, ending a service that waited for its array."""
    named = Path(os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9.bin"))
    named.write_bytes(b"\0" * 4096)
    with named.open("rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ):
        assert b"caf\xe9" in Path("/proc/self/maps").read_bytes()  # the name the scan meets
        assert isinstance(loaded_plugins(), set)
