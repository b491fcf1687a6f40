"""Home Assistant MQTT discovery, device-based (one message for the whole device).

Published retained to ``<discovery_prefix>/device/<device_id>/config`` and
again whenever Home Assistant announces ``online`` on
``<discovery_prefix>/status``. The payload is Home Assistant's own format
(so it carries no ``schema``/``ts``/``seq``); its names and templates are
constants of this module, never measured content, and its one text from the
config, ``mqtt.suggested_area``, names a store or counter. Availability follows the
device's retained ``status`` topic (``online``, or ``offline`` from a clean
stop or the Last Will).

The entities fed by ``metrics`` have no ``expire_after``, by choice: metrics
stop between sessions by design, so it would make them "unavailable" between
every two customers, like a dead device (which ``status`` already shows), and
it would blank the session's final figures, which the ``metrics`` sent at each
session's end leave on the dashboard until the next session.
"""

from __future__ import annotations

from typing import NamedTuple

from listener import __version__
from listener.build import version_text


def discovery_topic(discovery_prefix: str, device_id: str) -> str:
    return f"{discovery_prefix}/device/{device_id}/config"


HA_STATUS_TOPIC = "homeassistant/status"  # Home Assistant's birth topic, a setting apart from its discovery prefix


def ha_status_topics(discovery_prefix: str) -> tuple[str, ...]:
    """Where Home Assistant announces its restarts: its birth topic stays ``homeassistant/status`` when only
    the discovery prefix is changed, and an installer who changes both keeps them alike."""
    return tuple(dict.fromkeys((HA_STATUS_TOPIC, f"{discovery_prefix}/status")))


_SHARE_TEMPLATE = (
    "{{ none if value_json.rep_share_rolling is none else (value_json.rep_share_rolling * 100) | round(1) }}"
)


class _Entity(NamedTuple):
    key: str  # the entity's id within the device
    platform: str  # Home Assistant's: sensor, binary_sensor
    name: str  # what the dashboard shows
    topic: str  # under the device's base
    value_template: str  # Jinja, reading the topic's JSON
    extra: dict[str, object]  # further fields: unit, state class, icon
    attributes: str = ""  # Jinja making a JSON object of the topic's further fields, shown as the entity's attributes
    # (a number's are its seq alone: _SEQ_ATTRIBUTE)


_ENTITIES: tuple[_Entity, ...] = (
    _Entity(
        "rep_share",
        "sensor",
        "Rep talk share",
        "metrics",
        _SHARE_TEMPLATE,
        {"unit_of_measurement": "%", "state_class": "measurement", "icon": "mdi:account-voice"},
    ),
    _Entity(
        "interruptions",
        "sensor",
        "Interruptions by rep (session)",
        "metrics",
        "{{ value_json.interruptions_by_rep }}",
        # a count that only grows within a session and starts again at 0 (sent at the session's start):
        # Home Assistant's statistics read the drop as a new cycle and sum the sessions, where
        # "measurement" would average counts
        {"state_class": "total_increasing", "icon": "mdi:account-alert"},
    ),
    _Entity(
        "sessions_today",
        "sensor",
        "Sessions today",
        "state",
        "{{ value_json.sessions_today }}",
        {"state_class": "total_increasing", "icon": "mdi:counter"},
    ),
    _Entity(
        "state",
        "sensor",
        "State",
        "state",
        "{{ value_json.mode }}",
        {"device_class": "enum", "options": ["listening", "paused", "fault"], "icon": "mdi:ear-hearing"},
        # why it is paused or at fault (["audio"]: the array lost; ["microphones"]: a dead channel), an attribute
        "{{ {'causes': value_json.causes} | tojson }}",
    ),
    _Entity(
        "dominating",
        "binary_sensor",
        "Rep dominating",
        "state",
        "{{ 'ON' if value_json.dominating else 'OFF' }}",
        {"icon": "mdi:scale-unbalanced"},
    ),
    # The last session's summary (one per session of 20 s of speech or more): the consultation's own figures,
    # where the live ones above are a rolling window. Each value is one visit's, so "measurement", not a total.
    _Entity(
        "session_share",
        "sensor",
        "Last session: rep talk share",
        "session",
        "{{ none if value_json.rep_share is none else (value_json.rep_share * 100) | round(1) }}",
        {"unit_of_measurement": "%", "state_class": "measurement", "icon": "mdi:account-voice"},
    ),
    _Entity(
        "session_length",
        "sensor",
        "Last session: length",
        "session",
        "{{ value_json.duration_s | round(0) }}",
        {"unit_of_measurement": "s", "device_class": "duration", "state_class": "measurement"},
    ),
    _Entity(
        "session_response_gap",
        "sensor",
        "Last session: response gap (median)",
        "session",
        # null when the rep never took over from the customer in that session: "unknown", not 0 s
        "{{ none if value_json.response_gap_median_s is none else value_json.response_gap_median_s | round(2) }}",
        {"unit_of_measurement": "s", "device_class": "duration", "state_class": "measurement"},
    ),
    _Entity(
        "session_interruptions",
        "sensor",
        "Last session: interruptions by rep",
        "session",
        "{{ value_json.interruptions_by_rep }}",
        {"state_class": "measurement", "icon": "mdi:account-alert"},
    ),
    _Entity(
        "session_backchannels",
        "sensor",
        "Last session: backchannels by rep",
        "session",
        "{{ value_json.backchannels_by_rep }}",
        {"state_class": "measurement", "icon": "mdi:message-reply-text"},
    ),
    # What the device could not deliver, from the retained info (sent at each connect, once more when a backlog
    # has drained, and when a message was dropped): without it a dashboard's counts fall short of sessions_today
    # after a long outage with nothing to say why. A count the device keeps for its spool file, so
    # "total_increasing": where its count is lost (a spool file lost or unreadable) it starts again from 0,
    # which Home Assistant's statistics read as a new cycle and go on summing, where "total" would count the
    # drop as negative losses and "measurement" would average a count.
    _Entity(
        "spool_dropped",
        "sensor",
        "Messages lost (spool)",
        "info",
        "{{ value_json.spool_dropped }}",
        {"state_class": "total_increasing", "entity_category": "diagnostic", "icon": "mdi:message-alert"},
    ),
    _Entity(
        "spool_depth",
        "sensor",
        "Messages waiting (spool)",
        "info",
        "{{ value_json.spool_depth }}",
        # a level, not a count: the backlog's size at a connect, 0 once it has been sent
        {"state_class": "measurement", "entity_category": "diagnostic", "icon": "mdi:tray-full"},
    ),
    # A card that refuses the spool's writes (full, or read-only): the journal said so, no dashboard did. What the
    # device measures waits in its memory meanwhile, lost at a stop or a power cut: on in the "problem" sense, the
    # storage ("full", "unwritable") an attribute; the messages at risk a level beside it.
    _Entity(
        "storage",
        "binary_sensor",
        "Storage (spool)",
        "info",
        "{{ 'OFF' if value_json.storage == 'ok' else 'ON' }}",
        {"device_class": "problem", "entity_category": "diagnostic"},
        "{{ {'storage': value_json.storage} | tojson }}",
    ),
    _Entity(
        "spool_in_memory",
        "sensor",
        "Messages in memory (spool)",
        "info",
        "{{ value_json.spool_in_memory }}",
        {"state_class": "measurement", "entity_category": "diagnostic", "icon": "mdi:memory"},
    ),
    _Entity(
        "clock_wrong",
        "binary_sensor",
        "Clock wrong",
        "info",
        # a Pi without network time stamps every message 1970 (or yesterday): on in Home Assistant's "problem" sense
        "{{ 'OFF' if value_json.clock_ok else 'ON' }}",
        {"device_class": "problem", "entity_category": "diagnostic"},
    ),
)

# From the transcript's counts, only on a device that transcribes ([asr] enabled): elsewhere a summary's
# "cues" is null, and these would read "unknown" for ever.
_CUE_ENTITIES: tuple[_Entity, ...] = (
    _Entity(
        "session_questions",
        "sensor",
        "Last session: questions by rep",
        "session",
        "{{ none if value_json.cues is none else value_json.cues.rep_questions }}",
        {"state_class": "measurement", "icon": "mdi:chat-question"},
    ),
    _Entity(
        "session_open_questions",
        "sensor",
        "Last session: open questions by rep",
        "session",
        "{{ none if value_json.cues is none else value_json.cues.rep_open_questions }}",
        {"state_class": "measurement", "icon": "mdi:chat-question-outline"},
    ),
)


# A number reaches Home Assistant after newer ones: a resend at the start after a crash or a power cut (acknowledged,
# its delete not yet on the card), a backlog a full-card start left for the next start, a QoS 1 redelivery. Shown, it
# was taken for the current value, and a count's return below nine tenths of the value before for a meter reset,
# added to the long-term sum again (a crash while a backlog drained: 12 interruptions summed for 7). So each number
# keeps the highest seq it has taken as its attribute `seq`, and a message of a lower one renders empty, which Home
# Assistant ignores (sensor.mqtt; `this` is the entity's own state). Either of the two subscriptions to the topic may
# run first: a message of the seq already kept is taken.
_SEQ_ATTRIBUTE = "{{ {'seq': [value_json.seq, this.attributes.seq | default(0)] | max} | tojson }}"


def _newest_only(template: str) -> str:
    return "{% if value_json.seq >= (this.attributes.seq | default(0)) %}" + template + "{% endif %}"


def _component(base: str, device_id: str, e: _Entity) -> dict[str, object]:
    value, attributes = e.value_template, e.attributes
    # the numbers; the State enum and the binary sensors read retained topics only, whose latest every connect
    # sends again, and have no statistics to sum
    if "state_class" in e.extra:
        value, attributes = _newest_only(value), _SEQ_ATTRIBUTE
    return {
        "p": e.platform,
        "unique_id": f"{device_id}_{e.key}",
        "name": e.name,
        "state_topic": f"{base}/{e.topic}",
        "value_template": value,
        **e.extra,
        **(
            {"json_attributes_topic": f"{base}/{e.topic}", "json_attributes_template": attributes} if attributes else {}
        ),
    }


def _components(base: str, device_id: str, transcribing: bool) -> dict[str, object]:
    offered: dict[str, object] = {
        e.key: _component(base, device_id, e) for e in (*_ENTITIES, *(_CUE_ENTITIES if transcribing else ()))
    }
    # A component with only its platform is Home Assistant's way of removing it: a device whose transcription
    # was turned off takes its question counts away, never seen or not (for one never seen, nothing happens)
    withdrawn = {} if transcribing else {e.key: {"p": e.platform} for e in _CUE_ENTITIES}
    return offered | withdrawn


def discovery_payload(
    base: str, device_id: str, array_preset: str, transcribing: bool = False, area: str = ""
) -> dict[str, object]:
    """The device config message; ``base`` is ``<topic_prefix>/<device_id>``; ``transcribing``: the question
    counts too; ``area``: the one Home Assistant puts the device in while it is in none ('' = none)."""
    return {
        "dev": {
            "ids": [device_id],
            "name": f"Listener {device_id}",
            "mf": "listener",
            "mdl": array_preset,
            "sw": version_text(),
            # "suggested_area", abbreviated as the keys above; absent, not "", where none is set: the message stays
            # as devices without one have always sent it
            **({"sa": area} if area else {}),
        },
        "o": {"name": "listener", "sw": __version__},
        "cmps": _components(base, device_id, transcribing),
        "availability": [
            {
                "topic": f"{base}/status",
                "value_template": "{{ value_json.state }}",
                "payload_available": "online",
                "payload_not_available": "offline",
            }
        ],
        "qos": 1,
    }
