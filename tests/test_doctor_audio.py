"""`listener doctor`'s audio checks on ALSA file-PCM arrays: the device, its channels, plugs, mic levels, directions."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from listener.audio.levels import rms_dbfs, twin_channels
from listener.service import doctor
from listener.service.doctor import levels as doctor_levels
from tests import alsa_device
from tests.alsa_device import AlsaConfig, TestDevice, tones
from tests.cli_run import ENV, listener_cli
from tests.doctor_config import config

alsa_config = alsa_device.alsa_config  # fixtures
test_array = alsa_device.test_array


def by_name(checks: list[doctor.Check]) -> dict[str, doctor.Check]:
    return {c.name: c for c in checks}


def test_array_present_gives_levels_per_mic(tmp_path: Path, test_array: TestDevice) -> None:
    checks = by_name(doctor.check_audio(config(tmp_path)))
    assert [checks[n].status for n in ("audio", "preset", "levels")] == ["ok", "ok", "ok"]
    assert "'listener_test_array' has 4 input channels" in checks["audio"].detail
    levels = [float(x) for x in re.findall(r"ch\d (-?\d+)", checks["levels"].detail)]
    # each channel plays a sine at half scale: RMS 0.354, -9 dBFS
    assert len(levels) == 4
    assert all(-11.0 <= level <= -7.0 for level in levels), checks["levels"].detail


def test_dead_mic_channel_fails(tmp_path: Path, alsa_config: AlsaConfig) -> None:
    signal = tones(16000, 2.0, 4)
    signal[:, 2] = 0
    alsa_config.add("listener_test_array", signal, 16000)
    levels = by_name(doctor.check_audio(config(tmp_path)))["levels"]
    assert levels.status == "FAIL"
    assert "channel(s) [2] carry no sound (under -90 dBFS)" in levels.detail
    assert "mic_channels" in levels.fix


def test_missing_device_fails_with_the_fix(tmp_path: Path, test_array: TestDevice) -> None:
    checks = doctor.check_audio(config(tmp_path, array={"preset": "respeaker-4mic", "device": "no_such_array"}))
    assert len(checks) == 1
    (audio,) = checks
    assert audio.status == "FAIL"
    assert "no audio input device matching 'no_such_array'" in audio.detail
    assert "'listener_test_array' (4 in)" in audio.detail  # what is there instead
    assert "[array] device" in audio.fix


def test_a_missing_array_while_a_boot_config_change_waits_says_reboot_first(
    tmp_path: Path, test_array: TestDevice, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Provisioned and checked before the reboot that loads the overlay: the fix is the reboot, not the config."""
    from listener.audio import card_missing, devices

    flag = tmp_path / "listener-reboot-due"
    monkeypatch.setattr(card_missing, "REBOOT_DUE", flag)
    cfg = config(tmp_path, array={"preset": "respeaker-4mic", "device": "no_such_array"})
    (before,) = doctor.check_audio(cfg)
    assert "reboot" not in before.fix
    flag.write_text("/boot/firmware/config.txt changed; the audio overlay loads at the next boot\n")
    (audio,) = doctor.check_audio(cfg)
    assert audio.status == "FAIL"
    assert audio.fix.startswith("reboot first: firmware/provision.sh changed the boot config"), audio.fix
    assert "[array] device" in audio.fix  # the rest of the fix, should the array still be missing after it
    assert devices.format_devices([]).startswith("no audio input devices found: reboot first")


def test_a_provisioned_device_whose_card_is_missing_is_blamed_on_the_card_not_the_name(
    tmp_path: Path, test_array: TestDevice
) -> None:
    """listener_array only goes missing with its card: pointing [array] device at another input would bypass
    the shared device provision.sh set up, so the fix is the card, its driver, or the right --preset."""
    cfg = config(tmp_path, array={"preset": "respeaker-4mic", "device": "listener_array"})
    (audio,) = doctor.check_audio(cfg)
    assert audio.status == "FAIL" and "no audio input device matching 'listener_array'" in audio.detail
    assert "`arecord -l` lists its card" in audio.fix
    # --force-config would install the bare template: the device would lose its device_id, broker and calibration
    assert audio.fix.endswith(
        "if another board is fitted, set preset under [array] in /etc/listener/listener.toml to that board's array "
        "preset (docs/config.md lists them; respeaker-2mic for either 2-Mic HAT; its device_id, broker settings and "
        "calibration stay), run provision.sh again with that board's --preset (respeaker-2mic-v1 or -v2 for those), "
        "then `listener calibrate --write` once the new board is mounted"
    ), audio.fix
    assert "--force-config" not in audio.fix, audio.fix
    assert "no other program holds its card (`fuser -v /dev/snd/*`" in audio.fix  # PortAudio skips a busy card
    assert "set [array] device" not in audio.fix, audio.fix


def test_too_few_channels_fails(tmp_path: Path, test_array: TestDevice) -> None:
    cfg = config(tmp_path, array={"preset": "respeaker-6mic", "device": "listener_test_array"})
    (audio,) = doctor.check_audio(cfg)
    assert audio.status == "FAIL"
    assert "has 4 input channel(s) but the array configuration captures 8" in audio.detail
    assert "[array] preset" in audio.fix


def test_more_channels_than_the_preset_warns(tmp_path: Path, alsa_config: AlsaConfig) -> None:
    alsa_config.add("listener_test_array", tones(16000, 2.0, 6), 16000)
    preset = by_name(doctor.check_audio(config(tmp_path)))["preset"]
    assert preset.status == "warn"
    assert "offers 6 channels but respeaker-4mic captures 4" in preset.detail
    assert "respeaker-usb-v2" in preset.fix  # the preset that captures 6


@pytest.mark.parametrize(("card", "status"), [(4, "ok"), (2, "FAIL"), (6, "warn")])
def test_a_plug_is_judged_by_the_card_behind_it(
    tmp_path: Path, alsa_config: AlsaConfig, card: int, status: str
) -> None:
    # provision.sh's listener_array is a plug over listener_array_snoop over listener_array_hw, and
    # PortAudio reports 128 channels for any plug: doctor advised changing [array] channels on every device
    alsa_config.add("listener_array_hw", tones(16000, 2.0, card), 16000)
    alsa_config.add_plug("listener_array", "listener_array_hw")
    checks = by_name(
        doctor.check_audio(config(tmp_path, array={"preset": "respeaker-4mic", "device": "listener_array"}))
    )
    # the rate the service captures at, not PortAudio's default for the device (44100 for any plug)
    assert checks["audio"].detail == "'listener_array' has 128 input channels, to capture at 16000 Hz"
    preset = checks["preset"]
    assert preset.status == status, preset.line()
    if status == "ok":
        assert "as 'listener_array_hw' behind the ALSA plug 'listener_array' has" in preset.detail
        assert checks["levels"].status == "ok", checks["levels"].line()  # read through the plug
    else:
        assert f"plug over 'listener_array_hw', which has {card} channels" in preset.detail, preset.detail
        assert "128" not in preset.detail


def test_a_plug_is_judged_by_the_dsnoop_the_service_shares_first(tmp_path: Path, alsa_config: AlsaConfig) -> None:
    # while the service holds the card, the dsnoop is what the plug reads: its channels are the ones that count
    alsa_config.add("listener_array_snoop", tones(16000, 2.0, 4), 16000)
    alsa_config.add("listener_array_hw", tones(16000, 2.0, 6), 16000)
    alsa_config.add_plug("listener_array", "listener_array_snoop")
    preset = by_name(doctor.check_audio(config(tmp_path, array={"device": "listener_array"})))["preset"]
    assert preset.status == "ok", preset.line()
    assert "'listener_array_snoop' behind the ALSA plug" in preset.detail, preset.detail


def test_a_plug_over_nothing_known_converts_to_the_preset(tmp_path: Path, alsa_config: AlsaConfig) -> None:
    alsa_config.add("some_card", tones(16000, 2.0, 4), 16000)
    alsa_config.add_plug("listener_mics", "some_card")
    preset = by_name(doctor.check_audio(config(tmp_path, array={"device": "listener_mics"})))["preset"]
    assert preset.status == "ok", preset.line()
    assert "'listener_mics' is an ALSA plug: it converts to the 4 channels respeaker-4mic captures" in preset.detail


def test_level_rules() -> None:
    assert doctor_levels.level_check([-40.0, -41.0, -39.0, -40.0], [0, 1, 2, 3]).status == "ok"
    odd = doctor_levels.level_check([-40.0, -41.0, -70.0, -40.0], [0, 1, 2, 3])
    assert (odd.status, "[2]" in odd.detail) == ("warn", True)
    assert doctor_levels.level_check([-80.0, -81.0, -80.0, -82.0], [0, 1, 2, 3]).status == "warn"
    # a weak mic is weak against the loudest: with half of them weak, the median is a weak one
    half = doctor_levels.level_check([-40.0, -41.0, -70.0, -71.0], [0, 1, 2, 3])
    assert (half.status, "[2, 3]" in half.detail) == ("warn", True)
    silence = np.zeros((16000, 2), dtype=np.float32) + 0.25  # DC only
    assert rms_dbfs(silence) == [-200.0, -200.0]


def test_most_mics_of_a_six_mic_ring_covered_are_still_found() -> None:
    """Something resting on the 6-mic ring covers four of its mics: they are weak against the two
    that still hear the room, whatever the middle of the six says."""
    covered = doctor_levels.level_check([-40.0, -41.0, -70.0, -71.0, -72.0, -73.0], [0, 1, 2, 3, 4, 5])
    assert (covered.status, "[2, 3, 4, 5]" in covered.detail) == ("warn", True), covered.line()


@pytest.mark.parametrize(
    ("array", "parties", "status"),
    [
        ({"preset": "respeaker-2mic"}, {}, "ok"),  # 0 and 180: the two ends of its line
        ({"preset": "respeaker-2mic"}, {"rep_azimuth_deg": 15.0, "customer_azimuth_deg": 165.0}, "ok"),
        ({"preset": "respeaker-2mic"}, {"customer_azimuth_deg": 120.0}, "warn"),
        ({"preset": "respeaker-2mic"}, {"rep_azimuth_deg": 90.0, "customer_azimuth_deg": 180.0}, "warn"),
        ({"preset": "respeaker-2mic"}, {"rep_azimuth_deg": 170.0, "customer_azimuth_deg": 10.0}, "ok"),
        ({"preset": "respeaker-4mic"}, {"customer_azimuth_deg": 90.0}, "ok"),  # an area array hears both
        (
            {"preset": "generic", "channels": 2},
            {"rep_channel": 0, "customer_channel": 1, "customer_azimuth_deg": 90.0},
            "ok",
        ),
    ],
)
def test_directions_warn_when_a_line_of_mics_cannot_tell_the_parties_apart_well(
    tmp_path: Path, array: dict[str, object], parties: dict[str, object], status: str
) -> None:
    check = doctor.check_directions(config(tmp_path, array=array, parties=parties))
    assert check.status == status, check.line()
    if status == "warn":
        assert "along 0 deg" in check.detail and "mic line points from the rep to the customer" in check.fix
        assert "rep_azimuth_deg = 0 and customer_azimuth_deg = 180" in check.fix, check.fix


def test_a_listed_array_that_will_not_open_gives_the_opens_own_fix(
    tmp_path: Path, test_array: TestDevice, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A busy card (another program holds it) is listed, then refuses the stream: the fix was "see the audio line
    above", a line that said ok, and the real advice sat inside the detail, where a fleet script does not read."""
    import pyaudio

    def busy(*args: object, **kwargs: object) -> None:
        raise OSError(pyaudio.paDeviceUnavailable, "Device unavailable")  # what PyAudio raises for a held card

    monkeypatch.setattr(pyaudio.PyAudio, "open", busy)
    checks = by_name(doctor.check_audio(config(tmp_path)))
    assert checks["audio"].status == "ok"
    levels = checks["levels"]
    assert levels.status == "FAIL" and "Device unavailable" in levels.detail and "Fix:" not in levels.detail
    assert "fuser -v /dev/snd/*" in levels.fix and "see the audio line" not in levels.fix, levels.fix


def test_a_hot_clipping_channel_is_named_not_the_healthy_mics(tmp_path: Path, alsa_config: AlsaConfig) -> None:
    """One channel 32 dB hot and clipped (its gain far up, or a shorted mic): doctor said the three good mics
    were "more than 20 dB below the loudest", and the installer checked those."""
    signal = tones(16000, 2.0, 4, amplitude=0.05)  # -29 dBFS each
    signal[:, 2] = np.clip(signal[:, 2].astype(np.int32) * 40, -32768, 32767)
    alsa_config.add("listener_test_array", signal, 16000)
    levels = by_name(doctor.check_audio(config(tmp_path)))["levels"]
    assert levels.status == "warn", levels.line()
    assert re.search(r"channel 2 is \d+ dB above the other mics", levels.detail), levels.detail
    assert "below the loudest" not in levels.detail and "[0, 1, 3]" not in levels.detail
    assert "channel 2's capture gain" in levels.fix and "shorted or oscillating" in levels.fix
    assert re.search(r"clipped \(samples at full scale: ch2 \d+%", levels.detail), levels.detail
    assert "lower the capture gain" in levels.fix and "alsamixer" in levels.fix


def test_a_hot_channel_beside_a_weak_one_names_each() -> None:
    both = doctor_levels.level_check([-30.0, -29.0, -3.0, -60.0], [0, 1, 2, 3])
    assert "channel 2 is 27 dB above the other mics" in both.detail, both.detail
    assert "channel(s) [3] are more than 20 dB below the loudest of the others" in both.detail


def test_two_mics_far_apart_name_both_as_either_may_be_odd() -> None:
    """With two mics the odd one cannot be told: the quieter may be covered, or the louder hot."""
    two = doctor_levels.level_check([-40.0, -70.0], [0, 1])
    assert two.status == "warn", two.line()
    assert "channels 0 and 1 differ by 30 dB" in two.detail and "doctor cannot tell which" in two.detail
    assert "channel 1, the quieter, is covered or broken, or channel 0, the louder, is hot" in two.detail
    assert "speak at each mic in turn" in two.fix and "nothing rests on the array" in two.fix
    assert doctor_levels.level_check([-40.0, -55.0], [0, 1]).status == "ok"


def test_a_clipping_channel_warns_with_the_gain_to_lower() -> None:
    samples = np.random.default_rng(1).normal(0.0, 0.1, (16000, 4)).astype(np.float32)
    samples[:, 1] = np.clip(samples[:, 1] * 9.0, -1.0, 1.0)  # within 20 dB of the others, clipping
    shares = doctor_levels.clipped_shares(samples)
    assert shares[1] >= 0.01 and max(shares[0], shares[2], shares[3]) < 0.01
    check = doctor_levels.level_check(rms_dbfs(samples), [0, 1, 2, 3], (), None, shares)
    assert check.status == "warn" and "clipped (samples at full scale: ch1 " in check.detail, check.line()
    assert "lower the capture gain" in check.fix
    assert doctor_levels.level_check(rms_dbfs(samples), [0, 1, 2, 3]).status == "ok"  # not measured: not said


def test_clipping_is_said_from_one_percent_of_the_samples_on() -> None:
    """Doctor says "1% or more distorts speech": 160 of a second's 16000 samples at full scale warn, 159 do not."""
    samples = np.random.default_rng(2).normal(0.0, 0.1, (16000, 4)).astype(np.float32)
    samples[:160, 2] = 1.0
    check = doctor_levels.level_check(rms_dbfs(samples), [0, 1, 2, 3], (), None, doctor_levels.clipped_shares(samples))
    assert check.status == "warn" and "clipped (samples at full scale: ch2 1%; 1% or more" in check.detail, check.line()
    samples[159, 2] = 0.5
    check = doctor_levels.level_check(rms_dbfs(samples), [0, 1, 2, 3], (), None, doctor_levels.clipped_shares(samples))
    assert check.status == "ok", check.line()


def test_a_loud_copy_whose_copies_differ_a_little_is_still_one_signal() -> None:
    """Two channels whose difference stays 60 dB under the quieter carry one signal (levels.TWIN_DB): a loud copied
    mic too, whose copies differ by more than the dither floor (-91 dBFS) alone would let pass."""
    rng = np.random.default_rng(2)
    loud = rng.normal(0.0, 0.1, 48000)  # -20 dBFS
    for difference_dbfs, twins in ((-85.0, [(0, 1)]), (-75.0, [])):  # 65 and 55 dB under it
        other = loud + rng.normal(0.0, 10 ** (difference_dbfs / 20), loud.size)
        assert twin_channels(np.stack([loud, other], axis=1), [0, 1]) == twins, difference_dbfs


def test_alsa_without_a_configuration_is_a_fail_line_and_the_other_checks_still_run(tmp_path: Path) -> None:
    """No ALSA configuration to read ($ALSA_CONFIG_PATH naming no file; alsa-lib without alsa.conf): PortAudio
    aborts the process as it lists the devices, which ended doctor at its audio check with a Python stack dump
    ('Fatal Python error: Aborted') and none of the checks after it. Now the audio line says so, with the fix: the
    start refused before PortAudio is reached (listener/audio/alsa_config.py), so the child doctor tries it in
    first (sound_start.py) lives."""
    path = tmp_path / "listener.toml"
    path.write_text(f'[service]\nstate_dir = "{tmp_path / "state"}"\n')
    done = listener_cli("doctor", "--config", str(path), env={**ENV, "ALSA_CONFIG_PATH": str(tmp_path / "none.conf")})
    assert done.returncode == 1 and done.stderr == "", done.stderr
    audio = [line for line in done.stdout.splitlines() if line.startswith("FAIL  audio")]
    assert len(audio) == 1 and "the sound system cannot start: $ALSA_CONFIG_PATH names " in audio[0], audio
    assert "none.conf (does not exist)" in audio[0] and "fix: check the ALSA configuration: `arecord -L`" in audio[0]
    ran = [line.split()[1] for line in done.stdout.splitlines()]
    after = ["directions", "turn", "memory", "asr", "gpio", "mqtt", "disk", "clock"]
    assert ran[ran.index("audio") + 1 :] == after, ran
