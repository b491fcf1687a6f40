"""Keys of ``[parties]`` that the mode the file chooses never reads: said, not silently ignored.

Judged on the keys the file itself holds, not on the tree with its defaults filled in: a default
azimuth is no contradiction, ``rep_azimuth_deg = 90`` beside ``rep_channel = 0`` is.

- ``rep_channel`` / ``customer_channel`` with ``mode = "doa"`` written out: refused (either the
  channels or the mode is a mistake, and which one the listener cannot know).
- Direction keys (the azimuths, ``sector_half_width_deg``) in channel-map mode: a warning, not an
  error. The listener.toml that ``firmware/provision.sh`` installs writes both azimuths, and the
  README sets a provisioned Pi up for channel-map mode by adding the two channel keys to that file:
  refusing it would stop the service on every such device.
"""

from __future__ import annotations

from listener.config.warning import ConfigWarning
from listener.errors import ConfigError, toml_value

CHANNEL_KEYS = ("rep_channel", "customer_channel")
DIRECTION_KEYS = ("rep_azimuth_deg", "customer_azimuth_deg", "sector_half_width_deg")
ARRAY_KEYS = ("mics", "mic_channels")  # the mics of direction mode


def written_parties(data: dict[str, object]) -> dict[str, object]:
    """The ``[parties]`` keys the file writes (the loader has checked the table is one)."""
    parties = data.get("parties")
    return parties if isinstance(parties, dict) else {}


def check_mode_keys(data: dict[str, object]) -> None:
    """Channel keys under an explicit ``mode = "doa"`` would be ignored: refused."""
    written = written_parties(data)
    if written.get("mode") != "doa":
        return
    for key in CHANNEL_KEYS:
        if key in written:
            raise ConfigError(
                f"parties.{key}",
                written[key],
                'has no effect with parties.mode = "doa" (the parties are told apart by direction): delete '
                'rep_channel and customer_channel, or set mode = "channels" (or leave mode out) for one mic per '
                "party",
            )


def unused_direction_keys(data: dict[str, object], channel_mode: bool, card: bool = True) -> list[ConfigWarning]:
    """One warning per direction key the file writes in channel-map mode, in the error's own form: the
    parties' azimuths, and on a preset's ``card`` the mics' positions and channels of [array] (kept from
    direction mode; on a generic device they still say how many channels it has)."""
    if not channel_mode:
        return []
    written = written_parties(data)
    said = [
        ConfigWarning(
            f"parties.{key} = {toml_value(written[key])}: has no effect in channel-map mode (each party is heard on "
            "its own mic, parties.rep_channel and customer_channel, not by direction)",
            "delete it",
            ": ",
        )
        for key in DIRECTION_KEYS
        if key in written
    ]
    array = data.get("array") if card else None
    array = array if isinstance(array, dict) else {}
    said += [
        ConfigWarning(
            f"array.{key} = {toml_value(array[key])}: has no effect in channel-map mode (no mic positions are used; "
            "the captured channels are the card's, or array.channels)",
            "delete it",
            ": ",
        )
        for key in ARRAY_KEYS
        if key in array
    ]
    return said
