"""Whether ALSA has a configuration PortAudio can list the devices of, checked before PortAudio starts.

PortAudio 19.6 does not raise on an ALSA configuration that defines neither a ``default`` nor a ``dmix`` PCM:
it aborts the process in BuildDeviceList (``assert(devIdx < numDeviceNames)``: those two are listed last, and
with neither the count runs past its end). No configuration at all is the common case: ``$ALSA_CONFIG_PATH``
naming a file that is not there or cannot be read, alsa-lib without /usr/share/alsa/alsa.conf, an empty file.
An abort cannot be caught, and the service (with onnxruntime's, vosk's and paho's threads) must not fork to
try it, so what alsa-lib will read is looked at first and a configuration that would abort is refused with an
:class:`AudioInputError`: ``listener devices`` says it in a line, ``--wait-for-array`` waits it out. So is a
configuration alsa-lib cannot parse, which PortAudio would only call an "Unanticipated host error".
"""

from __future__ import annotations

import ctypes
import os
import re
from pathlib import Path

from listener.errors import AudioInputError, dead_link

ALSA_FIX = (
    "check the ALSA configuration: `arecord -L` must list the sound devices, 'default' among them; on a device "
    "that lists none, reinstall libasound2-data (its /usr/share/alsa/alsa.conf), unset $ALSA_CONFIG_PATH or name"
    " files that exist in it, and look at /etc/asound.conf and ~/.asoundrc for a plugin that crashes"
)
PARSE_FIX = (
    "`arecord -L` names the file and line ALSA cannot read; mend that edit (look at /etc/asound.conf and "
    "~/.asoundrc first), or unset $ALSA_CONFIG_PATH if it names a file that is not an ALSA configuration"
)
# alsa-lib's compiled-in ALSA_CONFIG_DIR on Debian and Raspberry Pi OS, for a libasound too old to say its own
DEFAULT_CONFIG_DIR = "/usr/share/alsa"
_PATH_MAX = 4096  # a longer $ALSA_CONFIG_DIR is ignored by alsa-lib (snd_config_topdir)
_LISTED_LAST = ("pcm.default", "pcm.dmix")  # what PortAudio's BuildDeviceList sets aside for its second pass
_ABORTS = "PortAudio would abort the process listing the devices"


def check_alsa_config(alsa: ctypes.CDLL | None) -> None:
    """Raise :class:`AudioInputError` when starting PortAudio would abort the process (see the module's text).
    ``alsa``: libasound as PortAudio links it (None: PortAudio has no ALSA back end, nothing to check)."""
    if alsa is None:
        return
    files = config_files(alsa)
    readable = [name for name in files if _readable(name)]
    if not readable:
        raise AudioInputError(f"the sound system cannot start: {_no_files(files)}; {_ABORTS}. Fix: {ALSA_FIX}")
    top = ctypes.c_void_p()
    if alsa.snd_config_update_ref(ctypes.byref(top)) < 0:
        # said here, not by PortAudio: it would print its own failed expressions on stderr, then raise a bare
        # "Unanticipated host error"
        raise AudioInputError(
            f"the sound system did not start: ALSA cannot parse its configuration ({', '.join(readable)} and the "
            f"files they include). Fix: {PARSE_FIX}"
        )
    try:
        defined = _defines_any(alsa, top, _LISTED_LAST)
    finally:
        alsa.snd_config_unref(top)
    if not defined:
        # as Pa_Terminate would: kept, a fix in a file it includes (/etc/asound.conf) would go unseen, as
        # snd_config_update only looks at the top files' times
        alsa.snd_config_update_free_global()
        raise AudioInputError(
            f"the sound system cannot start: the ALSA configuration ({', '.join(readable)}) defines no 'default' "
            f"PCM, and without one {_ABORTS}. Fix: {ALSA_FIX}"
        )


def _defines_any(alsa: ctypes.CDLL, top: ctypes.c_void_p, keys: tuple[str, ...]) -> bool:
    # Searched in a tree of our own reference, not the global ``snd_config``: another PortAudio in this process
    # (a capture thread's, ending) frees the global tree at any moment, and searching it then aborted the process
    node = ctypes.c_void_p()
    search = alsa.snd_config_search
    search.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]
    return any(search(top, key.encode(), ctypes.byref(node)) >= 0 for key in keys)


def config_files(alsa: ctypes.CDLL | None = None) -> list[str]:
    """The files alsa-lib reads its configuration from, as snd_config_update_r finds them: $ALSA_CONFIG_PATH's
    names, split at ':' and ' ' and ending at the first empty one; unset or empty, alsa.conf in
    $ALSA_CONFIG_DIR (when absolute) or the compiled-in folder. A leading '~/' is the home folder."""
    named = os.environ.get("ALSA_CONFIG_PATH", "")
    if not named:
        return [f"{_top_folder(alsa)}/alsa.conf"]
    files = []
    for name in re.split("[: ]", named):
        if not name:
            break
        files.append(str(Path(name).expanduser()) if name.startswith("~/") else name)
    return files


def _top_folder(alsa: ctypes.CDLL | None) -> str:
    # Asked of the library: its compiled-in folder is not /usr/share/alsa everywhere (NixOS, a build from
    # source in /usr/local), and guessed wrong, a working ALSA was refused
    topdir = getattr(alsa, "snd_config_topdir", None)  # absent from an old alsa-lib
    if topdir is not None:
        topdir.restype = ctypes.c_char_p
        folder: bytes | None = topdir()
        if folder:
            return os.fsdecode(folder)
    folder_named = os.environ.get("ALSA_CONFIG_DIR", "")
    if not folder_named.startswith("/") or len(folder_named) >= _PATH_MAX:
        return DEFAULT_CONFIG_DIR
    return folder_named


def _readable(name: str) -> bool:
    # alsa-lib skips a file it cannot open with a message, and reads nothing from a folder
    try:
        return Path(name).is_file() and os.access(name, os.R_OK)
    except OSError:  # a folder on its way closed to this user
        return False


def _no_files(files: list[str]) -> str:
    named = os.environ.get("ALSA_CONFIG_PATH", "")
    if named and not files:
        return f"$ALSA_CONFIG_PATH ({named!r}) names no file: alsa-lib reads its names up to the first empty one"
    what = " and ".join(f"{name} ({_fault(name)})" for name in files)
    where = "$ALSA_CONFIG_PATH names" if named else "ALSA reads its configuration from"
    return f"{where} {what}, so ALSA has no configuration"


def _fault(name: str) -> str:
    path = Path(name)
    try:
        if path.is_dir():
            return "a folder, not a file"
        if path.is_file():
            return "this user cannot read it"
        if path.exists():
            return "not a file"
        link = dead_link(path)
        return link.said() if link is not None else "does not exist"
    except OSError as exc:
        return f"this user cannot reach it: {exc.strerror or exc}"
