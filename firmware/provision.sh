#!/usr/bin/env bash
# Provision Raspberry Pi OS Bookworm or Trixie (or a Debian 12 or 13 root) for the
# listener service: boot overlays for the array, ALSA devices named by card name, udev
# rules, the service user, the package in a venv, the optional vosk model,
# /etc/listener/listener.toml and the enabled systemd unit.
#
# Every change goes through a few functions that compare first and print
# "would: ..." under --dry-run, so a second run changes nothing and says so.
set -euo pipefail
# sudo keeps the caller's umask: under 077 the folders made here (/etc/listener, /etc/alsa/conf.d, the
# venv) would be drwx------, and the service user could read neither its config nor its package
umask 022

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$SCRIPT_DIR")

# The official small English vosk model. alphacephei publishes no digest:
# this is the SHA-256 of the published 41,205,931-byte zip as pinned by
# several unrelated projects. A mismatch aborts; nothing is unpacked.
VOSK_EN_SMALL_NAME=vosk-model-small-en-us-0.15
VOSK_EN_SMALL_URL=https://alphacephei.com/vosk/models/$VOSK_EN_SMALL_NAME.zip
VOSK_EN_SMALL_SHA256=30f26242c4eb449f948e42cb302dd7a686cb29a3423a8367f99ff41780942498

# No clock reading earlier than this (UTC) can be right: this script did not exist yet. The listener's own
# floor (listener/clock.py's EARLIEST). A floor, not the true time, which the script has no way to learn
# when NTP is what is missing; but it catches the case that matters: a fresh image boots on its build
# date (fake-hwclock), months before any release of this script.
CLOCK_FLOOR=2026-11-25

PREFIX=/opt/listener
VENV=$PREFIX/venv
MODELS_DIR=$PREFIX/models
SOURCE_STAMP=$PREFIX/.source-sha256
# The exact versions scripts/test ran: every device provisioned from one checkout runs the same ones.
CONSTRAINTS=$SCRIPT_DIR/constraints.txt
CONF_DIR=/etc/listener
UNIT=listener.service
UNIT_PATH=/etc/systemd/system/$UNIT
ALSA_CONF=/etc/alsa/conf.d/60-listener.conf
UDEV_RULES=/etc/udev/rules.d/99-listener.rules
BOOT_CONFIG=/boot/firmware/config.txt
# On tmpfs: gone at the next boot. Says that this boot predates a boot config change (listener doctor
# reads it too); /run/reboot-required is Debian's own flag, which the login banner shows.
REBOOT_DUE=/run/listener-reboot-due
REBOOT_REQUIRED=/run/reboot-required
SYSTEMD_RUNNING=/run/systemd/system  # present only where systemd is the running init
SYS_BLOCK=/sys/block
SERVICE_USER=listener
# What listener.service's ProtectHome=yes and PrivateTmp=yes hide from it (or show it empty)
HIDDEN_FROM_SERVICE=(/home/ /root/ /run/user/ /tmp/ /var/tmp/)
SERVICE_GROUPS=(audio gpio spi plugdev)
# python3-pyaudio and python3-numpy from apt: no compiler needed on the Pi,
# and the venv sees them through --system-site-packages. libatomic1: vosk's
# aarch64 library links it, and a minimal Debian 12 arm64 root lacks it.
APT_PACKAGES=(python3 python3-venv python3-pip python3-numpy python3-pyaudio python3-gpiozero
	python3-spidev libatomic1 alsa-utils curl ca-certificates)
# Only in the Raspberry Pi OS archive; gpiozero needs it on a Pi 5.
APT_PI_PACKAGES=(python3-lgpio)
# apt's locks, by the step that takes them: apt-get update the lists', apt-get install dpkg's (which it waits for
# with DPkg::Lock::Timeout) and the downloads'. A lock another program holds is waited for up to APT_LOCK_WAIT_S:
# PackageKit's refresh on a desktop image, or an apt in another ssh session, ends within minutes.
APT_UPDATE_LOCKS=(/var/lib/apt/lists/lock)
APT_INSTALL_LOCKS=(/var/lib/dpkg/lock-frontend /var/lib/dpkg/lock /var/cache/apt/archives/lock)
APT_LOCK_WAIT_S=300
APT_LOCK_POLL_S=5
# What pip builds the package from in a checkout, as pyproject.toml says: itself, its readme (the
# package's description), the package (listener/, with its package data). No license file: its
# license is an SPDX expression. One list for the digest and the staged copy, so hashing and installing
# see the same files; the rest of a checkout (a fleet's configs, docs, tests) neither reinstalls the
# package nor is copied to the device. The pins ($CONSTRAINTS) are hashed and staged beside it.
PACKAGE_FILES=(pyproject.toml README.md listener)
# Caches in those (a test run's, a build's): no part of the package.
NOT_PACKAGE=(__pycache__ '*.egg-info' '.*_cache' .cache .hypothesis)
BLOCK_BEGIN="# >>> listener: managed by firmware/provision.sh, edits here are replaced >>>"
BLOCK_END="# <<< listener <<<"

ROOT=/
DRY_RUN=0
PRESET=respeaker-4mic
SOURCE=$REPO_DIR
VOSK_MODEL=""
VOSK_URL=""
VOSK_SHA256=""
NO_APT=0
NO_PIP=0
NO_SYSTEMCTL=0
UNFINISHED="" # what the device still lacks (the array's driver) after an otherwise complete run: exit 3
FORCE_CONFIG=0
CONFIG_FILE=""
CONFIG_CALIBRATED=0 # the installed config differs from --config only in what calibrate set
CONFIG_LAYOUT_ONLY=0 # ... and not even there: only in comments or spacing
CHANGES=0
BOOT_CHANGED=0 # changes ensure_audio_files made to the boot config (a reboot is due) and the udev rules
UDEV_CHANGED=0
APT_LOCKED="" # which of apt's locks another program held when an apt step failed, and which program
SERVICE_STOPPED=0 # this run stopped the running service for pip (a dry run: said it would), not started again yet
PIP_PLANNED=0 # ensure_package installs the package (a dry run: would): report_build names the source's build
TMPD=""
STAGED="" # the source's copy pip installs from, in the target's /tmp (removed at exit, pip failed or not)

usage() {
	cat <<EOF
Usage: $(basename "$0") [options]

Provision 64-bit Raspberry Pi OS Bookworm or Trixie (Debian 12 or 13) for the listener service.

  --root DIR            target root filesystem (default /)
  --dry-run             print every change, write nothing
  --preset NAME         respeaker-4mic (default), respeaker-2mic-v1, respeaker-2mic-v2,
                        respeaker-6mic or respeaker-usb-v2
  --source PATH         checkout, wheel or sdist to pip-install (default: $REPO_DIR)
  --vosk-model en-small install $VOSK_EN_SMALL_NAME and enable on-device ASR
  --vosk-url URL        another model zip (with --vosk-sha256), e.g. a local mirror; its one
                        top-level folder is installed in $MODELS_DIR
  --vosk-sha256 HEX     SHA-256 the --vosk-url file must have
  --config FILE         install this listener.toml (one per device: its device_id, broker,
                        parties) instead of the template; checked first
  --force-config        replace an existing /etc/listener/listener.toml, its calibrated
                        [parties] azimuths or lapel mics' order too (the old one is kept as
                        listener.toml.bak);
                        without it, one that differs from --config only there is kept
  --no-apt              skip apt packages
  --no-pip              skip the venv and the package
  --no-systemctl        skip enabling (and restarting) the service
  -h, --help            this help

A second run with the same options reports "no changes".
EOF
}

say() { printf '%s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
	((SERVICE_STOPPED == 0)) || start_stopped_service # before the error, which stays the last line
	printf 'error: %s\n' "$*" >&2
	exit 1
}
usage_error() {
	printf 'error: %s (see --help)\n' "$*" >&2
	exit 2
}

# The path $1 (absolute, as on the device) inside the target root.
target() { printf '%s%s' "${ROOT%/}" "$1"; }

# Count one change and carry it out, or under --dry-run only announce it.
change() {
	local what=$1
	shift
	CHANGES=$((CHANGES + 1))
	if ((DRY_RUN)); then
		say "would: $what"
		return 0
	fi
	say "change: $what"
	"$@"
}

# Run a command inside the target root. Without the run's lock (lock_root): a daemon that apt's maintainer
# scripts start in a chroot would hold it on, and refuse every later run, long after this one ended.
run() {
	if [[ $ROOT == / ]]; then
		"$@" 9<&-
	else
		chroot "$ROOT" "$@" 9<&-
	fi
}

# The steps, by what they change (each file's functions; main below runs them in order).
for part in options files apt packages config named_files system; do
	[[ -r $SCRIPT_DIR/provision.d/$part.sh ]] || die "$SCRIPT_DIR/provision.d/$part.sh is missing: \
run this script from a listener checkout (it uses its steps and templates there)"
done
# shellcheck source=SCRIPTDIR/provision.d/options.sh
source "$SCRIPT_DIR/provision.d/options.sh"
# shellcheck source=SCRIPTDIR/provision.d/files.sh
source "$SCRIPT_DIR/provision.d/files.sh"
# shellcheck source=SCRIPTDIR/provision.d/apt.sh
source "$SCRIPT_DIR/provision.d/apt.sh"
# shellcheck source=SCRIPTDIR/provision.d/packages.sh
source "$SCRIPT_DIR/provision.d/packages.sh"
# shellcheck source=SCRIPTDIR/provision.d/config.sh
source "$SCRIPT_DIR/provision.d/config.sh"
# shellcheck source=SCRIPTDIR/provision.d/named_files.sh
source "$SCRIPT_DIR/provision.d/named_files.sh"
# shellcheck source=SCRIPTDIR/provision.d/system.sh
source "$SCRIPT_DIR/provision.d/system.sh"

report_changes() {
	local noun=changes
	((CHANGES != 1)) || noun=change
	if ((CHANGES == 0)); then
		say "no changes"
	elif ((DRY_RUN)); then
		say "$CHANGES $noun planned; dry run, nothing written"
	else
		say "$CHANGES $noun made"
	fi
}

# One run at a time on a root: two at once (a fleet script's retry while the first run still works, a device
# listed twice) raced through groupadd, the files' temporary copies and pip, and one stopped halfway with a
# command's own exit code (groupadd's 9). A lock on the root folder itself: the device's own run and one
# with --root of the same folder meet there. The kernel lets go of it however the holder ends.
lock_root() {
	local held=0
	command -v flock >/dev/null || {
		warn "flock is missing (util-linux): a second run on $ROOT at the same time is not kept out"
		return 0
	}
	if ! { exec 9<"$ROOT"; } 2>/dev/null; then # bash's own "Permission denied" ended the run, naming no fix
		root_unreadable
		return 0
	fi
	flock -n -E 200 9 || held=$?
	((held != 200)) || die "another provision.sh run is at work on $ROOT (one whose ssh session dropped may still \
be: \`pgrep -af provision.sh\` shows it); nothing was changed: let it finish, then run this again"
	((held == 0)) || warn "could not lock $ROOT (flock exit $held): a second run at the same time is not kept out"
}

# The root folder may be entered (parse_args went in) but not read, so not opened to lock it: a --root another
# account owns, by a user's dry run. That changes nothing, so it goes on, saying what the missing lock means;
# a run that would change the root stops before any change.
root_unreadable() {
	local why="$ROOT cannot be read by this user" fix="run as root (sudo)"
	# root is refused only where a network file system maps it to nobody
	[[ $(id -u) != 0 ]] || fix="make it readable to root (\`ls -ld $ROOT\` shows its owner and mode)"
	((DRY_RUN)) || die "$why, so it cannot be locked against a second run at the same time; nothing was changed: \
$fix, or add --dry-run"
	warn "$why, so this dry run cannot lock it against a run at work on it (the plan would be half of that run's, \
where one is): $fix to be sure"
}

main() {
	local before unit_changed service_start
	parse_args "$@"
	lock_root
	check_os_release
	select_preset "$PRESET"
	check_config_preset
	check_config_device
	check_config_replacement
	check_kept_preset
	check_config_early
	check_named_files_early
	check_secrets_file
	check_can_run
	check_clock_early
	TMPD=$(mktemp -d)
	trap 'start_stopped_service; rm -rf "$TMPD" "$STAGED"' EXIT # a command the script foresaw no failure of, too
	say "listener provisioning: root $ROOT, preset $PRESET$( ((DRY_RUN)) && printf ', dry run')"

	service_start=$CHANGES
	ensure_apt_packages
	ensure_user
	ensure_package
	ensure_command_link
	ensure_vosk_model
	ensure_audio_files
	ensure_config_files
	vosk_model_note
	ensure_readable_dirs
	check_config_for_service

	before=$CHANGES
	write_file_if_changed "$REPO_DIR/systemd/$UNIT" "$UNIT_PATH" 0644
	unit_changed=$((CHANGES - before))
	ensure_service_enabled
	ensure_no_disk_swap

	apply_live "$unit_changed" "$UDEV_CHANGED" "$BOOT_CHANGED" $((CHANGES - service_start))
	report_build # before the count, which stays the last line
	report_changes
	if [[ -n $UNFINISHED ]]; then
		# all else is in place; a fleet script must still not count this device as done
		warn "not finished, the array cannot work: $UNFINISHED; then run this again (exit 3)"
		exit 3
	fi
}

# sourced (the tests load the functions without running them): main is not run
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	main "$@"
fi
