#!/usr/bin/env bash
# Provision a fresh Debian 12 chroot for real - apt packages, service user,
# venv with the package, config, enabled unit - then check that a second run
# changes nothing and that the installed CLI loads the written config.
# Needs root, debootstrap and access to the Debian archive and PyPI; it takes
# a few minutes, so it is not part of the pytest suite.
#   firmware/chroot-test.sh [--keep] [--mirror URL] [--preset NAME]
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$SCRIPT_DIR")
MIRROR=""
PRESET=respeaker-4mic
KEEP=0
WORK=""
ROOT=""

while (($#)); do
	case $1 in
	--keep) KEEP=1 ;;
	--mirror) MIRROR=${2:?--mirror needs a URL}; shift ;;
	--preset) PRESET=${2:?--preset needs a name}; shift ;;
	*) printf 'usage: %s [--keep] [--mirror URL] [--preset NAME]\n' "$0" >&2; exit 2 ;;
	esac
	shift
done

# The Debian archive the host's own apt uses (first non-security source).
host_mirror() {
	{
		grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources || true
		grep -hs '^deb ' /etc/apt/sources.list || true
	} | awk '{ for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\// && $i !~ /security/) { print $i; exit } }' | head -n 1
}

fail() {
	printf 'chroot test failed: %s\n' "$*" >&2
	exit 1
}

cleanup() {
	[[ -n $ROOT ]] || return 0
	local mnt
	for mnt in proc dev/pts dev; do
		if mountpoint -q "$ROOT/$mnt"; then umount "$ROOT/$mnt"; fi
	done
	if ((KEEP)); then
		printf 'kept %s\n' "$ROOT"
	else
		# --one-file-system: never follow a mount that failed to come off.
		rm -rf --one-file-system "$WORK"
	fi
}

[[ $(id -u) == 0 ]] || fail "run as root (debootstrap, chroot and mount need it)"
command -v debootstrap >/dev/null || fail "debootstrap is missing: apt-get install debootstrap"
MIRROR=${MIRROR:-$(host_mirror)}
[[ -n $MIRROR ]] || fail "no Debian mirror in the host's apt sources: pass --mirror URL"
WORK=$(mktemp -d /var/tmp/listener-chroot.XXXXXX)
ROOT=$WORK/root
trap cleanup EXIT

# A frozen copy of the checkout, so that edits made meanwhile do not count as
# a changed source on the second run.
mkdir "$WORK/src"
tar -C "$REPO_DIR" --exclude=.git --exclude=.venv --exclude=__pycache__ -cf - . | tar -C "$WORK/src" -xf -

debootstrap --variant=minbase --include=ca-certificates bookworm "$ROOT" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
	fail "debootstrap failed; see $WORK/debootstrap.log (run with --keep to keep it)"
mount --bind /dev "$ROOT/dev"
mount -t devpts devpts "$ROOT/dev/pts"
mount -t proc proc "$ROOT/proc"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
# pip inside the chroot must trust what the host trusts (e.g. a proxy's CA).
cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/ca-certificates.crt"
mkdir -p "$ROOT/boot/firmware"
printf 'dtparam=audio=on\n\n[all]\n' >"$ROOT/boot/firmware/config.txt"
# Stand-ins for the boards' drivers' overlays (as tests/provision_root.py's install_overlays): without
# the preset's .dtbo provision.sh exits 3 ("not finished"), which would stop this script before the check.
mkdir -p "$ROOT/boot/firmware/overlays"
for overlay in wm8960-soundcard respeaker-2mic-v2_0-overlay seeed-4mic-voicecard seeed-8mic-voicecard; do
	printf '\xd0\x0d\xfe\xed' >"$ROOT/boot/firmware/overlays/$overlay.dtbo"
done

"$SCRIPT_DIR/provision.sh" --root "$ROOT" --preset "$PRESET" --source "$WORK/src" | tee "$WORK/first.log" ||
	fail "the first provision.sh run failed (exit ${PIPESTATUS[0]}; its messages are above)"
"$SCRIPT_DIR/provision.sh" --root "$ROOT" --preset "$PRESET" --source "$WORK/src" | tee "$WORK/second.log" ||
	fail "the second provision.sh run failed (exit ${PIPESTATUS[0]}; its messages are above)"
[[ $(tail -n 1 "$WORK/second.log") == "no changes" ]] || fail "the second run changed something"

chroot "$ROOT" /opt/listener/venv/bin/listener --version || fail "the installed listener CLI does not run"
chroot "$ROOT" /opt/listener/venv/bin/python -c '
import pathlib
from listener.config import load_config
print(load_config(pathlib.Path("/etc/listener/listener.toml")).array)' || fail "the written listener.toml does not load"
[[ -L $ROOT/etc/systemd/system/multi-user.target.wants/listener.service ]] || fail "listener.service is not enabled"
grep -q '^listener:' "$ROOT/etc/passwd" || fail "no listener user"
printf 'chroot test: provisioning %s for real, then again with no changes: passed\n' "$PRESET"
