"""Each configuration warning is made with its problem and its fix apart (listener/config/warning.py).

check-config and run print the line each always printed (``str``: scripts grep the journal for it), and
doctor's ``warn config`` line shows the warning's own problem and fix. Doctor used to cut the line at its
first "; " or ": " before set, delete, use, lower, raise or remove: a path written with one of those in it
(``ca_file = "/etc/listener/lab: use with care/ca.pem"``) had its fix column begin inside the value, and the
real fix was left at the end of the detail.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from listener.config import ConfigWarning, config_warnings, parse_config
from listener.config.service_unit import long_stop, read_only_state_dir
from listener.errors import SERVICE_STATE_DIR
from listener.service import doctor
from listener.service.doctor.config_lines import config_checks

PASSWORD_ENV = "LISTENER_MQTT_PASSWORD"  # the broker password in the environment, said without a user name
THREE = [[0.03, 0.0, 0.0], [-0.03, 0.0, 0.0], [0.0, 0.03, 0.0]]  # mics kept from direction mode
LAPELS = {"rep_channel": 0, "customer_channel": 1}  # one mic per party
STEREO = {"preset": "generic", "channels": 2}  # the lapel mics' interface
Said = tuple[str, str, str]  # the problem, what joins it to the fix in the line, the fix

# a file each producer warns of (two for the wordings doctor cut wrong), and its warnings as they were printed
SAID: list[tuple[str, dict[str, object], list[Said]]] = [
    (
        "direction",
        {"array": STEREO, "parties": {**LAPELS, "rep_azimuth_deg": 90, "sector_half_width_deg": 30}},
        [
            (
                "parties.rep_azimuth_deg = 90: has no effect in channel-map mode (each party is heard on its own "
                "mic, parties.rep_channel and customer_channel, not by direction)",
                ": ",
                "delete it",
            ),
            (
                "parties.sector_half_width_deg = 30: has no effect in channel-map mode (each party is heard on "
                "its own mic, parties.rep_channel and customer_channel, not by direction)",
                ": ",
                "delete it",
            ),
        ],
    ),
    (
        "array_leftover",
        # on another card than the board's (no warning of channel-map mode on the board's own mics)
        {"array": {"preset": "respeaker-4mic", "device": "USB Audio", "mics": THREE}, "parties": LAPELS},
        [
            (
                "array.mics = [[0.03, 0.0, 0.0], [-0.03, 0.0, 0.0], [0.0, 0.03, 0.0]]: has no effect in "
                "channel-map mode (no mic positions are used; the captured channels are the card's, or "
                "array.channels)",
                ": ",
                "delete it",
            ),
        ],
    ),
    (
        "on_array",
        {"parties": LAPELS},
        [
            (
                'parties.rep_channel = 0: channel-map mode with [array] preset = "respeaker-4mic", whose mics '
                "are an array on one board (a few cm apart): they hear both parties alike, and channel-map mode "
                "needs one mic at each party's mouth",
                "; fix: ",
                "for the array's own mics drop [parties] rep_channel and customer_channel and set the parties' "
                "directions (`listener calibrate`); for lapel mics on a USB interface set [array] preset = "
                '"generic", device to its name (`listener devices`) and channels = 2',
            ),
        ],
    ),
    (
        "mqtt_off",
        {"mqtt": {"host": "b.local", "tls_insecure": True}},
        [
            (
                "mqtt.enabled = false (not written: the default): [mqtt] host, tls_insecure are written but "
                "nothing is published (no broker is connected to)",
                "; ",
                "set [mqtt] enabled = true, or delete them",
            ),
        ],
    ),
    (
        "asr_off",
        {"asr": {"finish_wait_s": 3.0}},
        [
            (
                "asr.enabled = false (not written: the default): [asr] finish_wait_s is written but nothing is "
                "transcribed (no content cues are counted)",
                "; ",
                "set [asr] enabled = true, or delete it",
            ),
        ],
    ),
    (
        "tls",
        {"mqtt": {"enabled": True, "username": "u", "ca_file": "/ca.pem", "tls_insecure": True}},
        [
            (
                'mqtt.ca_file = "/ca.pem": has no effect with mqtt.tls = false (the link to the broker is plain, '
                "unencrypted MQTT)",
                ": ",
                "set [mqtt] tls = true to use it, or delete it",
            ),
            (
                "mqtt.tls_insecure = true: has no effect with mqtt.tls = false (the link to the broker is plain, "
                "unencrypted MQTT)",
                ": ",
                "set [mqtt] tls = true to use it, or delete it",
            ),
        ],
    ),
    (
        "password",
        {"mqtt": {"enabled": True, "password_file": "/pw"}},
        [
            (
                'mqtt.password_file = "/pw": has no effect while mqtt.username is empty (the broker is logged in '
                "to anonymously)",
                ": ",
                "set [mqtt] username, or delete it",
            ),
            (
                "LISTENER_MQTT_PASSWORD (in the environment): has no effect while mqtt.username is empty (the "
                "broker is logged in to anonymously)",
                ": ",
                "set [mqtt] username, or remove the variable (/etc/listener/secrets.env for the service)",
            ),
        ],
    ),
    (
        "slow",
        {"mqtt": {"enabled": True, "username": "u", "metrics_interval_s": 1.0, "drain_rate_per_s": 1.0}},
        [
            (
                "mqtt.drain_rate_per_s = 1.0: every spooled message is sent at most this many a second, live "
                "ones too, and a session makes a metrics message every mqtt.metrics_interval_s = 1.0 s besides "
                "its events: below 3 (2 / metrics_interval_s + 1) the spool fills while the broker is connected, "
                "and a full spool drops messages",
                "; ",
                "set drain_rate_per_s to 3 or more, or raise metrics_interval_s",
            ),
        ],
    ),
    (
        "pin",
        {"leds": {"preset": "rgb", "amber_pin": "GPIO5"}},
        [
            (
                'leds.amber_pin = "GPIO5": has no effect with leds.preset = "rgb" (its lights are red_pin, '
                "green_pin and blue_pin)",
                ": ",
                "delete it, or set the preset whose light it is",
            ),
        ],
    ),
    (
        "decider_on",
        {"activity": {"hangover_s": 0.6}},
        [
            (
                "activity.hangover_s = 0.6: has no effect while the turn model decides who speaks "
                "(turn_model.enabled = true)",
                ": ",
                "set [turn_model] enabled = false to use the heuristic decider, or delete it",
            ),
        ],
    ),
    (
        "decider_off",
        {"turn_model": {"enabled": False, "path": "/opt/m.onnx"}, "analytics": {"premature_hold_prob": 0.6}},
        [
            (
                'turn_model.path = "/opt/m.onnx": has no effect while turn_model.enabled = false (the heuristic '
                "decider runs, and no model's outputs are read)",
                ": ",
                "delete it, or enable the model",
            ),
            (
                "analytics.premature_hold_prob = 0.6: has no effect while turn_model.enabled = false (the "
                "heuristic decider runs, and no model's outputs are read)",
                ": ",
                "delete it, or enable the model",
            ),
        ],
    ),
    (
        "ratio",
        {
            "array": STEREO,
            "turn_model": {"enabled": False},
            "parties": LAPELS,
            "activity": {"party_ratio_db": 9.0},
        },
        [
            (
                "activity.party_ratio_db = 9.0: with one mic per party at most 4 dB is used (more lets a voice "
                "leaking into the other mic pass as the other party's speech)",
                ": ",
                "set it to 4 or less, or delete it",
            ),
        ],
    ),
    (
        "unreachable",
        {"analytics": {"session_gap_s": 6.0, "long_silence_s": 7.0, "patient_gap_s": 8.0}},
        [
            (
                "analytics.long_silence_s = 7.0: not below analytics.session_gap_s = 6.0, so no long silence is "
                "ever counted (a mutual silence is a customer silence, and a silence of session_gap_s ends the "
                "session, so none of long_silence_s can count)",
                "; ",
                "set it below 6 s, or raise session_gap_s",
            ),
            (
                "analytics.patient_gap_s = 8.0: not below analytics.session_gap_s = 6.0, so no response gap is "
                "ever patient (the customer is silent through a response gap, and a silence of session_gap_s "
                "ends the session, so none of patient_gap_s can count)",
                "; ",
                "set it below 6 s, or raise session_gap_s",
            ),
        ],
    ),
    (
        "backchannel",
        {"analytics": {"interruption_min_s": 0.5}},
        [
            (
                "analytics.interruption_min_s = 0.5: below analytics.backchannel_max_s = 1.0, so a sound over "
                "the holder's speech that lasts 0.5 s is an interruption and never a backchannel (the longer "
                "event takes it): backchannels of 0.5 to 1 s over speech are counted as interruptions, and the "
                "rep's backchannel figure drops",
                "; ",
                "set interruption_min_s to 1 or more, or lower backchannel_max_s to 0.5",
            ),
        ],
    ),
    (
        "long_stop",
        {"asr": {"enabled": True, "finish_wait_s": 41.0}, "mqtt": {"enabled": True, "username": "u"}},
        [
            (
                "asr.finish_wait_s + mqtt.shutdown_drain_s = 43 s, more than the 40 s a stop may take before "
                "systemd kills the service (TimeoutStopSec in listener.service): a stop while the recogniser "
                "lags could lose the open session's summary",
                "; ",
                "lower them (defaults 30 and 2)",
            ),
        ],
    ),
    (
        "state_dir",
        {"service": {"state_dir": "/srv/listener"}},
        [
            (
                'service.state_dir = "/srv/listener": the service (listener.service) may write only '
                "/var/lib/listener, so /srv/listener is read-only to it (with MQTT on the service stops at its "
                "start: its spool cannot be opened there)",
                "; ",
                "use /var/lib/listener (or a folder under it), or let the unit write it (`sudo systemctl edit "
                "listener`: [Service] ReadWritePaths=/srv/listener)",
            ),
        ],
    ),
    (
        "colon_in_a_path",
        {"mqtt": {"enabled": True, "username": "u", "ca_file": "/etc/listener/lab: use with care/ca.pem"}},
        [
            (
                'mqtt.ca_file = "/etc/listener/lab: use with care/ca.pem": has no effect with mqtt.tls = false '
                "(the link to the broker is plain, unencrypted MQTT)",
                ": ",
                "set [mqtt] tls = true to use it, or delete it",
            ),
        ],
    ),
    (
        "semicolon_in_a_path",
        {"turn_model": {"enabled": False, "path": "/opt/models/turn; set 2.onnx"}},
        [
            (
                'turn_model.path = "/opt/models/turn; set 2.onnx": has no effect while turn_model.enabled = '
                "false (the heuristic decider runs, and no model's outputs are read)",
                ": ",
                "delete it, or enable the model",
            ),
        ],
    ),
]
# said by doctor's directions check and (where the unit is installed) its disk check, not as config lines
ELSEWHERE = ("on_array", "state_dir")


def warnings_of(data: dict[str, object]) -> list[ConfigWarning]:
    """Every warning check-config and run give ``data``, with a broker password in run's environment."""
    config = parse_config(data)
    state_dir = read_only_state_dir(config.service.state_dir, (SERVICE_STATE_DIR,))  # the shipped unit's folder
    return [*config_warnings(config, data, {PASSWORD_ENV: "x"}), *long_stop(config), *state_dir]


@pytest.mark.parametrize(
    "data",
    [
        {"asr": {"enabled": True, "finish_wait_s": 40.0}},  # MQTT off: no spool to drain at a stop
        {"asr": {"finish_wait_s": 600.0}, "mqtt": {"enabled": True, "username": "u", "shutdown_drain_s": 40.0}},
    ],
    ids=["asr_alone", "mqtt_alone"],
)
def test_a_stop_waits_only_for_the_parts_that_run(data: dict[str, object]) -> None:
    """40 s, exactly what a stop may take, is not too long; a part switched off adds nothing to it."""
    assert long_stop(parse_config(data)) == []


@pytest.mark.parametrize(("data", "said"), [pytest.param(data, said, id=name) for name, data, said in SAID])
def test_each_warning_reads_as_it_did_with_its_problem_and_fix_apart(data: dict[str, object], said: list[Said]) -> None:
    warnings = warnings_of(data)
    assert [str(w) for w in warnings] == [f"{problem}{joined_by}{fix}" for problem, joined_by, fix in said]
    assert [(w.problem, w.joined_by, w.fix) for w in warnings] == said


@pytest.mark.parametrize(
    ("data", "said"), [pytest.param(data, said, id=name) for name, data, said in SAID if name not in ELSEWHERE]
)
def test_doctors_config_lines_are_each_warnings_own_problem_and_fix(
    data: dict[str, object], said: list[Said], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "x")  # doctor reads its own environment, as run does
    path = tmp_path / "listener.toml"
    checks = config_checks(parse_config(data), data, path)
    assert [(c.name, c.status, c.detail, c.fix) for c in checks] == [
        ("config", "warn", f"{path}: {problem}", fix) for problem, _, fix in said
    ]


def test_the_warnings_other_checks_say_are_no_config_lines_and_keep_their_fix(tmp_path: Path) -> None:
    cases = {name: (data, said) for name, data, said in SAID}
    for name in ELSEWHERE:
        data = cases[name][0]
        assert config_checks(parse_config(data), data, tmp_path / "listener.toml") == [], name
    data, [(problem, _, fix)] = cases["on_array"]
    check = doctor.check_directions(parse_config(data))
    assert (check.status, check.detail, check.fix) == ("warn", problem, fix)
