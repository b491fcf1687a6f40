"""ALSA's plugin libraries kept loaded while the array is away, so that waiting for it costs no memory.

Each reopen attempt starts PortAudio afresh (the only way it sees a device plugged in since), and its start
opens every PCM the ALSA configuration names; its stop unloads the plugin libraries behind them. Some of
those libraries leak at every load: libasound2-plugins' a52 encoder pulls in libavcodec, whose dependencies
(libgomp, libpixman) allocate in their constructors and never free at unload. Measured on Debian 12 with
libasound2-plugins (bench/outage_memory.py): 12 KiB per attempt, 43 MiB an hour at the default
``reopen_interval_s``, without end while an array stays unplugged. Holding a reference to every plugin
library loaded keeps them from being unloaded, so they load (and leak) once per outage instead of once per
attempt; the price is their mapping (about 10 MiB for that chain) for as long as the outage lasts.
"""

from __future__ import annotations

import _ctypes
import ctypes
import logging
import os
import re
import threading
from pathlib import Path

log = logging.getLogger(__name__)

MAPS = Path("/proc/self/maps")
# alsa-lib's external plugins: libasound_module_<kind>_<name>.so, wherever the distribution puts them
PLUGIN = re.compile(r"\s(/\S*/libasound_module_[^/\s]+\.so)$", re.MULTILINE)


def loaded_plugins() -> set[str]:
    """Paths of the ALSA plugin libraries mapped into this process now."""
    try:
        return set(PLUGIN.findall(MAPS.read_text(errors="replace")))  # another mapped file's name may not be UTF-8
    except OSError:  # no /proc (a container without it): nothing is held, as before
        return set()


class PluginHold:
    """A reference to each ALSA plugin library loaded, taken while PortAudio runs (its plugins are loaded
    then), given back by :meth:`release`. The pipeline's thread takes; whoever closes the source releases."""

    def __init__(self) -> None:
        self._held: dict[str, int] = {}  # path -> dlopen handle
        self._lock = threading.Lock()

    @property
    def held(self) -> frozenset[str]:
        return frozenset(self._held)

    def take(self) -> None:
        """Hold every plugin library loaded now that is not held yet. Call while PortAudio runs."""
        with self._lock:
            for path in loaded_plugins() - self._held.keys():
                self._hold(path)

    def _hold(self, path: str) -> None:
        try:
            # RTLD_NOLOAD: only a library already loaded, by the same path alsa-lib loaded it by
            handle = ctypes.CDLL(path, mode=os.RTLD_NOLOAD | os.RTLD_LAZY)._handle
        except OSError as exc:  # unloaded between the read of the map and now: nothing to hold
            log.debug("not holding %s: %s", path, exc)
            return
        self._held[path] = handle

    def release(self) -> None:
        """Give every reference back: the next PortAudio stop unloads the libraries as it did before."""
        with self._lock:
            held, self._held = self._held, {}
        for handle in held.values():
            _ctypes.dlclose(handle)
