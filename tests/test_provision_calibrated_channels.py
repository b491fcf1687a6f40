"""provision.sh keeps a lapel-mic device's calibration: `listener calibrate --write` swapped its channels.

In channel-map mode calibrate swaps rep_channel and customer_channel when the mics were plugged in the
other way round. The next run with the fleet's same --config took the swap for a fleet difference and
offered --force-config, which put the plugs' wrong order back: every figure of the rep the customer's.
"""

from __future__ import annotations

from pathlib import Path

from listener.config import load_config
from listener.service.calibrate.write import edit_parties
from tests.provision_root import FILES_ONLY, provision, snapshot

LAPEL = '[array]\npreset = "generic"\nchannels = 4\n\n'
LAPEL += '[parties]\nmode = "channels"\nrep_channel = 0\ncustomer_channel = 1\n'


def test_lapel_mics_swapped_by_calibrate_are_kept_and_named_as_calibration(pi_root: Path, tmp_path: Path) -> None:
    fleet = tmp_path / "counter-5.toml"
    fleet.write_text(LAPEL + '\n[mqtt]\nhost = "192.0.2.10"\n')
    provision(pi_root, "--config", str(fleet), *FILES_ONLY)
    installed = pi_root / "etc/listener/listener.toml"
    swapped = edit_parties(installed.read_text(), {"rep_channel": 1, "customer_channel": 0})
    installed.write_text(swapped)  # as calibrate --write leaves it

    before = snapshot(pi_root)
    again = provision(pi_root, "--config", str(fleet), *FILES_ONLY)
    assert "only in the calibrated [parties] azimuths or lapel mics' order" in again.stdout, again.stdout
    assert again.stdout.rstrip().endswith("no changes") and snapshot(pi_root) == before
    assert (load_config(installed).parties.rep_channel, load_config(installed).parties.customer_channel) == (1, 0)

    moved = tmp_path / "counter-5-new.toml"
    moved.write_text(fleet.read_text().replace("192.0.2.10", "192.0.2.20"))
    refused = provision(pi_root, "--config", str(moved), *FILES_ONLY, check=False)
    assert refused.returncode == 2 and "listener.toml in mqtt.host, not only" in refused.stderr, refused.stderr
    assert "copy the installed calibration (rep_channel = 1, customer_channel = 0)" in refused.stderr

    other = tmp_path / "counter-5-other.toml"  # other channels are the fleet's, not calibrate's
    other.write_text(fleet.read_text().replace("rep_channel = 0", "rep_channel = 2"))
    refused = provision(pi_root, "--config", str(other), *FILES_ONLY, check=False)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "listener.toml in parties.customer_channel, parties.rep_channel, not only" in refused.stderr
    assert snapshot(pi_root) == before
