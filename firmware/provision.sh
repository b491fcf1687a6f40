#!/usr/bin/env bash
# Provision Raspberry Pi OS Bookworm (or a Debian 12 root) for the listener
# service: boot overlays for the array, ALSA devices named by card name, udev
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
CONFIG_CALIBRATED=0 # the installed config differs from --config only in the calibrated azimuths
CHANGES=0
BOOT_CHANGED=0 # changes ensure_audio_files made to the boot config (a reboot is due) and the udev rules
UDEV_CHANGED=0
TMPD=""
STAGED="" # the source's copy pip installs from, in the target's /tmp (removed at exit, pip failed or not)

usage() {
	cat <<EOF
Usage: $(basename "$0") [options]

Provision Raspberry Pi OS Bookworm for the listener service.

  --root DIR            target root filesystem (default /)
  --dry-run             print every change, write nothing
  --preset NAME         respeaker-4mic (default), respeaker-2mic-v1, respeaker-2mic-v2,
                        respeaker-6mic or respeaker-usb-v2
  --source PATH         checkout or wheel to pip-install (default: $REPO_DIR)
  --vosk-model en-small install $VOSK_EN_SMALL_NAME and enable on-device ASR
  --vosk-url URL        another model zip (with --vosk-sha256), e.g. a local mirror; its one
                        top-level folder is installed in $MODELS_DIR
  --vosk-sha256 HEX     SHA-256 the --vosk-url file must have
  --config FILE         install this listener.toml (one per device: its device_id, broker,
                        parties) instead of the template; checked first
  --force-config        replace an existing /etc/listener/listener.toml, its calibrated
                        [parties] azimuths too (the old one is kept as listener.toml.bak);
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

# Run a command inside the target root.
run() {
	if [[ $ROOT == / ]]; then
		"$@"
	else
		chroot "$ROOT" "$@"
	fi
}

parse_args() {
	while (($#)); do
		case $1 in
		--root) need_value "$1" "a directory, e.g. --root /mnt/sdcard" "${2-}"; ROOT=$2; shift ;;
		--dry-run) DRY_RUN=1 ;;
		--preset) need_value "$1" "a board name, e.g. --preset respeaker-4mic" "${2-}"; PRESET=$2; shift ;;
		--source) need_value "$1" "a checkout or wheel, e.g. --source $REPO_DIR" "${2-}"; SOURCE=$2; shift ;;
		--vosk-model) need_value "$1" "a model name: --vosk-model en-small" "${2-}"; VOSK_MODEL=$2; shift ;;
		--vosk-url) need_value "$1" "a zip URL, e.g. --vosk-url file:///srv/vosk-model-small-en-us-0.15.zip" "${2-}"; VOSK_URL=$2; shift ;;
		--vosk-sha256) need_value "$1" "the zip's 64-hex-digit SHA-256" "${2-}"; VOSK_SHA256=$2; shift ;;
		--force-config) FORCE_CONFIG=1 ;;
		--config) need_value "$1" "a listener.toml, e.g. --config fleet/counter-3.toml" "${2-}"; CONFIG_FILE=$2; shift ;;
		--no-apt) NO_APT=1 ;;
		--no-pip) NO_PIP=1 ;;
		--no-systemctl) NO_SYSTEMCTL=1 ;;
		-h | --help) usage; exit 0 ;;
		*) usage_error "unknown option $1" ;;
		esac
		shift
	done
	[[ -d $ROOT ]] || usage_error "--root $ROOT is not a directory: pass the target's root folder (/ for this system)"
	ROOT=$(cd "$ROOT" && pwd)
	check_source
	check_config_file
	select_vosk_model
}

# Option $1 takes a value ($2 says which) and got $3: none when it came last or before another option.
need_value() {
	[[ -n $3 && $3 != --* ]] || usage_error "$1 is missing its value: give $2"
}

# --source must be something pip installs as this package: a checkout (pyproject.toml and the
# listener package) or a listener wheel or sdist, refused here rather than after apt and the user.
check_source() {
	if [[ -d $SOURCE ]]; then
		[[ -f $SOURCE/pyproject.toml && -f $SOURCE/listener/__init__.py ]] || usage_error "--source $SOURCE \
is not a listener checkout (no pyproject.toml and listener/ in it): pass the checkout's top folder or a wheel"
	elif [[ -e $SOURCE ]]; then
		local name
		name=$(basename "$SOURCE")
		[[ $name == listener-*.whl || $name == listener-*.tar.gz ]] || usage_error "--source $SOURCE is \
neither a checkout nor a listener wheel (listener-*.whl) or sdist (listener-*.tar.gz): pass one of those"
		[[ -f $SOURCE && -r $SOURCE ]] || usage_error "--source $SOURCE cannot be read: check its permissions"
	else
		usage_error "--source $SOURCE does not exist: pass a listener checkout or wheel (default: $REPO_DIR)"
	fi
	SOURCE=$(realpath "$SOURCE")
}

check_config_file() {
	[[ -n $CONFIG_FILE ]] || return 0
	[[ -e $CONFIG_FILE ]] || usage_error "--config $CONFIG_FILE does not exist: check the path"
	[[ -f $CONFIG_FILE ]] || usage_error "--config $CONFIG_FILE is not a file: pass the device's listener.toml"
	[[ -r $CONFIG_FILE ]] || usage_error "--config $CONFIG_FILE cannot be read: check its permissions"
	toml_value "$CONFIG_FILE" array preset "" >/dev/null || exit 2
}

select_vosk_model() {
	case $VOSK_MODEL in
	"") [[ -z $VOSK_URL ]] || VOSK_MODEL=custom ;;
	en-small)
		VOSK_URL=${VOSK_URL:-$VOSK_EN_SMALL_URL}
		VOSK_SHA256=${VOSK_SHA256:-$VOSK_EN_SMALL_SHA256}
		;;
	*) usage_error "--vosk-model $VOSK_MODEL is unknown; the one offered is en-small" ;;
	esac
	if [[ -z $VOSK_MODEL ]]; then
		[[ -z $VOSK_SHA256 ]] || usage_error "--vosk-sha256 checks a --vosk-url download: add --vosk-url, or leave it out"
	else
		VOSK_SHA256=${VOSK_SHA256,,} # sha256sum prints lower case; a digest copied in upper case is the same
		[[ $VOSK_SHA256 =~ ^[0-9a-f]{64}$ ]] || usage_error "--vosk-url needs --vosk-sha256 with 64 hex digits"
		[[ $VOSK_URL == *.zip ]] || usage_error "--vosk-url must name a .zip file"
		check_vosk_url
	fi
	VOSK_NAME=$(basename "${VOSK_URL%.zip}")
	if [[ $VOSK_URL == file://* ]]; then
		# a local zip is named by its model folder, read now: a zip named otherwise (model.zip) failed
		# only after the user, the venv and pip
		VOSK_NAME=$(zip_folder "$VOSK_URL") || usage_error "--vosk-url $VOSK_URL: $VOSK_NAME"
	fi
}

# The one top-level folder (a vosk model's) in the zip at URL or path $1; otherwise what is wrong, exit 1.
zip_folder() {
	python3 - "$1" <<'PY'
import sys, urllib.parse, zipfile
where = sys.argv[1]
if where.startswith("file:"):
    where = urllib.parse.unquote(urllib.parse.urlparse(where).path)
try:
    with zipfile.ZipFile(where) as z:
        names = z.namelist()
except (OSError, zipfile.BadZipFile) as exc:
    print(f"cannot be read as a zip file ({exc}): pass a vosk model zip")
    sys.exit(1)
tops = sorted({name.split("/", 1)[0] for name in names})
if len(tops) != 1 or tops[0] in ("", ".", "..") or not all(name.startswith(tops[0] + "/") for name in names):
    held = ", ".join(tops[:5]) + (", ..." if len(tops) > 5 else "") or "nothing"
    print(f"holds {held} at its top, not the one model folder a vosk model zip has (e.g. vosk-model-small-en-us-0.15/)")
    sys.exit(1)
print(tops[0])
PY
}

# A URL curl downloads (https, http or a local file:// one, which must exist), checked before any change.
check_vosk_url() {
	local file
	case $VOSK_URL in
	https://* | http://*) ;;
	file://*)
		file=${VOSK_URL#file://}
		file=${file#localhost}
		[[ $file == *%* || -f $file ]] || usage_error "--vosk-url $VOSK_URL: $file does not exist: check the path"
		;;
	/*) usage_error "--vosk-url $VOSK_URL is a path, not a URL: pass file://$VOSK_URL" ;;
	*) usage_error "--vosk-url $VOSK_URL is not an https://, http:// or file:// URL: pass one of those" ;;
	esac
}

# Card name, channel count and sample format of the array --preset $1 names, the name of its
# geometry in listener.toml, and its device-tree overlay (none for USB).
select_preset() {
	case $1 in
	respeaker-2mic-v1)
		CARD=wm8960soundcard CHANNELS=2 FORMAT=S16_LE ARRAY_PRESET=respeaker-2mic
		OVERLAY=wm8960-soundcard DESCRIPTION="ReSpeaker 2-Mics Pi HAT v1 (WM8960)"
		;;
	respeaker-2mic-v2)
		CARD=seeed2micvoicec CHANNELS=2 FORMAT=S16_LE ARRAY_PRESET=respeaker-2mic
		OVERLAY=respeaker-2mic-v2_0-overlay DESCRIPTION="ReSpeaker 2-Mics Pi HAT v2.0 (TLV320AIC3104)"
		;;
	respeaker-4mic)
		CARD=seeed4micvoicec CHANNELS=4 FORMAT=S32_LE ARRAY_PRESET=respeaker-4mic
		OVERLAY=seeed-4mic-voicecard DESCRIPTION="ReSpeaker 4-Mic Array (AC108)"
		;;
	respeaker-6mic)
		CARD=seeed8micvoicec CHANNELS=8 FORMAT=S32_LE ARRAY_PRESET=respeaker-6mic
		OVERLAY=seeed-8mic-voicecard DESCRIPTION="ReSpeaker 6-Mic Circular Array (2x AC108)"
		;;
	respeaker-usb-v2)
		CARD=ArrayUAC10 CHANNELS=6 FORMAT=S16_LE ARRAY_PRESET=respeaker-usb-v2
		OVERLAY="" DESCRIPTION="ReSpeaker USB Mic Array v2.0 (6-channel firmware)"
		;;
	*) usage_error "$(unknown_preset "$1")" ;;
	esac
}

PROVISION_PRESETS=(respeaker-2mic-v1 respeaker-2mic-v2 respeaker-4mic respeaker-6mic respeaker-usb-v2)

# The --preset names whose array.preset (listener.toml's name for the geometry) is $1.
provision_names_for() {
	# local: select_preset fills these, and the caller's must stay as they are (bash scopes dynamically)
	local name found=() CARD CHANNELS FORMAT ARRAY_PRESET OVERLAY DESCRIPTION
	for name in "${PROVISION_PRESETS[@]}"; do
		select_preset "$name"
		[[ $ARRAY_PRESET != "$1" ]] || found+=("$name")
	done
	printf '%s\n' "${found[*]}"
}

# What to pass instead of the --preset $1: listener.toml's own name for the array (respeaker-2mic
# stands for two board revisions) gets the names of its boards, anything else the whole list.
unknown_preset() {
	local name boards="" CARD CHANNELS FORMAT ARRAY_PRESET OVERLAY DESCRIPTION
	for name in $(provision_names_for "$1"); do
		select_preset "$name"
		boards+="${boards:+, or }--preset $name for the $DESCRIPTION"
	done
	if [[ -n $boards ]]; then
		say "--preset $1 is unknown: that is listener.toml's array.preset name; provision.sh names the board: $boards"
	else
		local IFS=,
		say "--preset $1 is unknown; the presets are:${PROVISION_PRESETS[*]/#/ }" # ", "-separated
	fi
}

# --config's array.preset must be the array --preset sets the ALSA device and overlay up for: a
# 6-mic config over a 4-channel ALSA device fails only once the service runs.
check_config_preset() {
	local preset names what
	[[ -n $CONFIG_FILE ]] || return 0
	preset=$(toml_value "$CONFIG_FILE" array preset "") || exit 2
	what="array.preset = \"$preset\""
	if [[ -z $preset ]]; then # a file with its own mics and no preset still looks for the default's card
		preset=respeaker-4mic
		what="no array.preset, so the default \"$preset\" (its mics do not change which card is used)"
	fi
	# generic: the file gives its own mics and channels, which no preset name can be compared with
	[[ $preset != "$ARRAY_PRESET" && $preset != generic ]] || return 0
	names=$(provision_names_for "$preset")
	names=${names:+--preset ${names// / or --preset }}
	usage_error "--config $CONFIG_FILE has $what, but --preset $PRESET sets up the ALSA device \
and overlay for $ARRAY_PRESET ($CHANNELS channels): the two must name the same array; pass \
${names:-the --preset of this board}, or set array.preset = \"$ARRAY_PRESET\" in the file"
}

# The shared ALSA device is what lets calibrate, doctor's level check and arecord listen beside the
# service; a config that opens the card itself takes it from them (device busy). Said, not refused:
# a board that needs its own device name is the installer's call.
check_config_device() {
	local device
	[[ -n $CONFIG_FILE ]] || return 0
	device=$(toml_value "$CONFIG_FILE" array device "") || exit 2
	[[ $device != listener_array ]] || return 0
	local what="array.device = \"$device\""
	[[ -n $device ]] || what="no array.device (so the preset's card, opened directly)"
	warn "--config $CONFIG_FILE has $what, not the listener_array this script sets up: \
the service then holds the card alone, and calibrate, doctor's level check and arecord -D listener_array \
fail while it runs (device busy); set device = \"listener_array\" under [array], as an installed \
/etc/listener/listener.toml has it (start fleet files from one)"
}

# An explicit --config that would be kept out by the installed one must not pass as "no changes":
# a fleet script would never notice that the device runs another config.
check_config_replacement() {
	local installed differs calibration
	installed=$(target "$CONF_DIR/listener.toml")
	[[ -n $CONFIG_FILE && -f $installed ]] && ((!FORCE_CONFIG)) || return 0
	cmp -s "$CONFIG_FILE" "$installed" && return 0
	# listener calibrate --write (README step 2) rewrites only the two azimuths in the installed file
	if differs=$(config_differences "$CONFIG_FILE" "$installed"); then
		CONFIG_CALIBRATED=1
		return 0
	fi
	# the keys, never their values: a fleet file's may be credentials' names, and the line stays short
	calibration=$(sed -n 2p <<<"$differs")
	usage_error "--config $CONFIG_FILE differs from the installed $CONF_DIR/listener.toml in $(sed -n 1p <<<"$differs"), \
not only in the calibrated [parties] azimuths, and is installed over it only with --force-config (the old one is kept \
as listener.toml.bak): ${calibration:+copy the installed calibration ($calibration) into $CONFIG_FILE first, then }\
add --force-config, or leave --config out to keep the installed one"
}

# A run that keeps the installed listener.toml (no --config, no --force-config) for another array than
# --preset's would rewrite the boot overlay and the ALSA device under a config that still opens the old
# board; --force-config would replace it with the bare template (device_id, broker and calibration
# lost). Refused before any change, as the same mismatch through --config is (check_config_preset).
check_kept_preset() {
	local installed current
	installed=$(target "$CONF_DIR/listener.toml")
	[[ -z $CONFIG_FILE && -f $installed ]] && ((!FORCE_CONFIG)) || return 0
	current=$(toml_value "$installed" array preset respeaker-4mic) || exit 2
	# generic: the file gives its own mics and channels, which no preset name can be compared with
	[[ $current != "$ARRAY_PRESET" && $current != generic ]] || return 0
	usage_error "the installed $CONF_DIR/listener.toml has array.preset = \"$current\", but --preset $PRESET \
sets up $ARRAY_PRESET; nothing was changed: to switch this device's board, set preset = \"$ARRAY_PRESET\" \
under [array] in $CONF_DIR/listener.toml (its device_id, broker and calibration stay), or pass the fleet's \
file for this board with --config FILE --force-config; otherwise pass this board's --preset"
}

# Whether TOML files $1 and $2 hold the same settings once [parties]' rep_azimuth_deg and
# customer_azimuth_deg (what listener calibrate --write sets) are left out. When they differ (or one
# cannot be read), prints the differing keys' dotted paths, then the azimuths $2 has, and fails.
config_differences() {
	python3 - "$@" 2>/dev/null <<'PY'
import sys, tomllib
CALIBRATED = ("rep_azimuth_deg", "customer_azimuth_deg")
def flat(table, prefix=""):
    for key, value in table.items():
        if isinstance(value, dict) and value:
            yield from flat(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value
def settings(path):
    with open(path, "rb") as f:
        doc = tomllib.loads(f.read().decode("utf-8-sig"))
    return dict(flat(doc))
try:
    new, installed = settings(sys.argv[1]), settings(sys.argv[2])
except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
    print(f"its content (it cannot be read as TOML: {exc})")
    sys.exit(1)
# calibrate adds [parties] when the file had none, so an empty table is no setting
calibrated = {f"parties.{key}" for key in CALIBRATED} | {"parties"}
differ = sorted(k for k in new.keys() | installed.keys() if k not in calibrated and new.get(k) != installed.get(k))
if not differ:
    sys.exit(0)
shown = ", ".join(differ[:8]) + (f" and {len(differ) - 8} more keys" if len(differ) > 8 else "")
print(shown)
print(", ".join(f"{k} = {installed[f'parties.{k}']}" for k in CALIBRATED if f"parties.{k}" in installed))
sys.exit(1)
PY
}

# The Python that runs this source's own listener (its checkout's venv, or python3 where that has the
# package's dependencies), to check a config before anything is written; none prints nothing.
source_python() {
	local py candidates=("$REPO_DIR/.venv/bin/python")
	# on the device, the venv of the install before this one has the dependencies python3 lacks
	[[ $ROOT == / ]] && candidates+=("$VENV/bin/python")
	for py in "${candidates[@]}" python3; do
		command -v "$py" >/dev/null || continue
		if PYTHONPATH=$SOURCE "$py" -c 'import listener.cli' 2>/dev/null; then
			printf '%s\n' "$py"
			return 0
		fi
	done
}

# The config the device will start with (--config, or a kept one), checked by the listener being
# installed before any change: under --root no installed listener can run it afterwards.
check_config_early() {
	local file=$CONFIG_FILE py
	if [[ -z $file || $CONFIG_CALIBRATED == 1 ]] && ((!FORCE_CONFIG)) && [[ -f $(target "$CONF_DIR/listener.toml") ]]; then
		file=$(target "$CONF_DIR/listener.toml")
		# a kept file that is no TOML stopped kept_config_note only after apt and the user (--config's
		# own file was read when the options were)
		toml_value "$file" array preset "" >/dev/null || exit 2
	fi
	[[ -n $file ]] || return 0 # the template, which tests/test_provision.py loads for every preset
	py=$(source_python)
	if [[ -z $py ]]; then
		# on the device, check_config_for_service runs the installed listener on it instead
		[[ $ROOT == / ]] || warn "$file is not checked with listener check-config: no Python here imports \
listener from $SOURCE (make $REPO_DIR/.venv with the package installed)"
		return 0
	fi
	if ! PYTHONPATH=$SOURCE "$py" -m listener check-config "$file" >/dev/null; then
		printf 'error: %s\n' "$file is not valid for this listener (above): fix it, then run this again" >&2
		exit 2
	fi
}

# Copy $1 to $2 through a temporary file, so a reader never sees half a file.
install_file() {
	local src=$1 path=$2 mode=$3
	mkdir -p "$(dirname "$path")"
	cp "$src" "$path.listener-new"
	if [[ -n $mode ]]; then
		chmod "$mode" "$path.listener-new"
	elif [[ -f $path ]]; then
		# FAT (the boot partition) refuses some modes; its own default is fine there.
		chmod --reference="$path" "$path.listener-new" 2>/dev/null || true
	else
		chmod 0644 "$path.listener-new" 2>/dev/null || true
	fi
	mv -f "$path.listener-new" "$path"
}

# Make file $2 (a path on the device) hold exactly file $1, with mode $3
# ("" keeps whatever the file system gives, as on the FAT boot partition).
write_file_if_changed() {
	local src=$1 dest=$2 mode=$3 path
	path=$(target "$dest")
	if [[ -f $path ]] && cmp -s "$src" "$path"; then
		if [[ -n $mode && $(stat -c %a "$path") != "${mode#0}" ]]; then
			change "chmod $mode $dest" chmod "$mode" "$path"
		fi
		return 0
	fi
	if [[ -f $path ]]; then
		show_diff "$path" "$src" "$dest"
		change "update $dest" install_file "$src" "$path" "$mode"
	else
		show_diff /dev/null "$src" "$dest"
		change "create $dest${mode:+ (mode $mode)}" install_file "$src" "$path" "$mode"
	fi
}

show_diff() {
	diff -u --label "$3 (now)" --label "$3 (new)" "$1" "$2" | sed 's/^/    /' || true
}

# Make file $1 hold the lines of file $2 between BLOCK_BEGIN and BLOCK_END,
# in place of an earlier block, or at the end; an empty $2 removes the block.
ensure_block_in_file() {
	local dest=$1 block=$2 path new
	path=$(target "$dest")
	new=$(mktemp "$TMPD/block.XXXXXX")
	if [[ -f $path ]]; then
		awk -v b="$BLOCK_BEGIN" -v e="$BLOCK_END" -v blockfile="$block" '
			function emit(  line) {
				if (done) return
				done = 1
				if ((getline line < blockfile) <= 0) return
				print b; print line
				while ((getline line < blockfile) > 0) print line
				print e
			}
			$0 == b { skip = 1; emit(); next }
			$0 == e && skip { skip = 0; next }
			!skip { print }
			END { emit() }' "$path" >"$new"
	elif [[ -s $block ]]; then
		{ say "$BLOCK_BEGIN"; cat "$block"; say "$BLOCK_END"; } >"$new"
	else
		return 0
	fi
	write_file_if_changed "$new" "$dest" ""
}

# Fill the @KEY@ placeholders of template $1 from KEY=value arguments.
render() {
	local template=$1 out=$2 text pair
	shift 2
	text=$(cat "$template"; printf x)
	text=${text%x}
	for pair in "$@"; do
		text=${text//"@${pair%%=*}@"/"${pair#*=}"}
	done
	[[ $text != *@[A-Z_]*@* ]] || die "template $template has a placeholder left: fill it in render()"
	printf '%s' "$text" >"$out"
}

has_entry() { # FILE NAME: is NAME in the passwd/group-style FILE of the target?
	local file
	file=$(target "$1")
	[[ -f $file ]] && awk -F: -v n="$2" '$1 == n { found = 1 } END { exit !found }' "$file"
}

in_group() { # GROUP USER
	local file
	file=$(target /etc/group)
	[[ -f $file ]] && awk -F: -v g="$1" -v u="$2" '
		$1 == g { n = split($4, m, ","); for (i = 1; i <= n; i++) if (m[i] == u) found = 1 }
		END { exit !found }' "$file"
}

# useradd and friends edit the target's /etc/passwd and /etc/group in place.
shadow_args() {
	if [[ $ROOT != / ]]; then printf '%s\n' --prefix "$ROOT"; fi
}

ensure_group() {
	local -a pfx
	mapfile -t pfx < <(shadow_args)
	has_entry /etc/group "$1" || change "create system group $1" groupadd "${pfx[@]}" --system "$1"
}

ensure_user() {
	local group
	local -a pfx
	mapfile -t pfx < <(shadow_args)
	for group in "${SERVICE_GROUPS[@]}"; do ensure_group "$group"; done
	if ! has_entry /etc/passwd "$SERVICE_USER"; then
		change "create system user $SERVICE_USER" useradd "${pfx[@]}" --system --user-group \
			--no-create-home --home-dir /var/lib/listener --shell /usr/sbin/nologin \
			--comment "listener service" "$SERVICE_USER"
	fi
	for group in "${SERVICE_GROUPS[@]}"; do
		in_group "$group" "$SERVICE_USER" ||
			change "add $SERVICE_USER to group $group" usermod "${pfx[@]}" --append --groups "$group" "$SERVICE_USER"
	done
}

pkg_installed() {
	# shellcheck disable=SC2016 # ${Status} is dpkg-query's field, not a shell variable
	dpkg-query --admindir="$(target /var/lib/dpkg)" -W -f='${Status}' "$1" 2>/dev/null |
		grep -q 'install ok installed'
}

apt_install() {
	local again="then run this again (what it did so far is kept)"
	run apt-get update || die "apt-get update failed (its reason above): check the network and /etc/apt/sources.list*; $again"
	run env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" ||
		die "apt-get could not install $* (its reason above): check the network, or that the image is Raspberry Pi OS / Debian 12 Bookworm; $again"
}

ensure_apt_packages() {
	local pkg found
	local -a missing=()
	if ((NO_APT)); then
		say "skip: apt packages (--no-apt)"
		return 0
	fi
	for pkg in "${APT_PACKAGES[@]}"; do pkg_installed "$pkg" || missing+=("$pkg"); done
	for pkg in "${APT_PI_PACKAGES[@]}"; do
		pkg_installed "$pkg" && continue
		found=0
		in_apt_sources "$pkg" || found=$?
		case $found in
		1) skip_pi_package "$pkg" ;;
		2)
			say "note: $pkg is installed only if the apt sources in $ROOT have it; a dry run not as root cannot look there"
			missing+=("$pkg")
			;;
		*) missing+=("$pkg") ;;
		esac
	done
	((${#missing[@]} == 0)) || change "apt-get install ${missing[*]}" apt_install "${missing[@]}"
}

# Whether the target's apt sources offer package $1, asked the same way in a dry run as in a real one
# (apt-cache there, before apt-get update): 0 yes, 1 no, 2 cannot tell (a dry run not as root cannot chroot).
in_apt_sources() {
	[[ $ROOT == / || $(id -u) == 0 ]] || return 2
	run apt-cache show "$1" >/dev/null 2>&1 || return 1
}

skip_pi_package() {
	local why="not in this system's apt sources (it comes from the Raspberry Pi OS archive); gpiozero falls back to other pin libraries"
	if ((DRY_RUN)); then
		say "would skip $1: $why"
	else
		warn "skipping $1: $why"
	fi
}

# A digest of what --source holds and of the pinned versions, so an unchanged source is not reinstalled.
# Content only, read from stdin: sha256sum FILE prints FILE's path into what is hashed, so the same
# checkout (or wheel) at another path reinstalled (pip, which fails offline) and restarted the service.
# A checkout's files are named relative to it (tree_digest), which a move does not change.
source_digest() {
	{
		sha256sum <"$CONSTRAINTS"
		if [[ -f $SOURCE ]]; then sha256sum <"$SOURCE"; else tree_digest; fi
	} | sha256sum | cut -d' ' -f1
}

tree_digest() {
	package_files | (cd "$SOURCE" && xargs -0 -r sha256sum)
}

# The files of the checkout $SOURCE that pip builds the package from (PACKAGE_FILES, less the caches
# in NOT_PACKAGE), relative to it, sorted, NUL-separated: what tree_digest hashes and what is staged.
package_files() {
	local name present=() prune=()
	for name in "${PACKAGE_FILES[@]}"; do [[ ! -e $SOURCE/$name ]] || present+=("$name"); done
	for name in "${NOT_PACKAGE[@]}"; do prune+=(-o -name "$name"); done
	(cd "$SOURCE" && find "${present[@]}" \( "${prune[@]:1}" \) -prune -o -type f -print0) | LC_ALL=C sort -z
}

install_package() {
	local digest=$1 spec constraints staged
	# pip runs inside the root, so the source and the pins have to be there too. Staged on the device
	# itself as well: pip building the checkout in place leaves root-owned build/ and *.egg-info in it,
	# which its owner's pip install -e . then fails on, and whose build/lib keeps installing a module
	# that a git pull deleted.
	mkdir -p "$(target /tmp)"
	staged=$(mktemp -d "$(target /tmp)/listener-src.XXXXXX")
	STAGED=$staged
	cp "$CONSTRAINTS" "$staged/constraints.txt"
	constraints=/tmp/$(basename "$staged")/constraints.txt
	if [[ -f $SOURCE ]]; then
		cp "$SOURCE" "$staged/"
		spec=/tmp/$(basename "$staged")/$(basename "$SOURCE")
	else
		package_files | tar -C "$SOURCE" --null -T - -cf - | tar -C "$staged" -xf -
		spec=/tmp/$(basename "$staged")
	fi
	local failed="pip could not install $SOURCE into $VENV (its reason above): check that the device reaches PyPI \
(the network, a proxy in pip.conf); then run this again (what it did so far is kept)"
	run "$VENV/bin/pip" install --disable-pip-version-check --no-input --upgrade -c "$constraints" "$spec" || die "$failed"
	if [[ -f $SOURCE ]]; then
		# pip keeps an installed wheel of the same version even if its content changed.
		run "$VENV/bin/pip" install --disable-pip-version-check --no-input --force-reinstall --no-deps "$spec" ||
			die "$failed"
	fi
	rm -rf "$staged"
	printf '%s\n' "$digest" >"$(target "$SOURCE_STAMP")"
}

ensure_package() {
	local digest
	if ((NO_PIP)); then
		say "skip: venv and package (--no-pip)"
		return 0
	fi
	# both programs: a venv cut short while ensurepip ran (Ctrl-C, a power cut) has python and no pip
	if [[ ! -x $(target "$VENV/bin/python") || ! -x $(target "$VENV/bin/pip") ]]; then
		change "create venv $VENV (--system-site-packages, so apt's python3-lgpio serves gpiozero)" \
			run python3 -m venv --clear --system-site-packages "$VENV"
	fi
	digest=$(source_digest)
	# the stamp lives outside the venv: a venv made again (or emptied by hand) needs the package again
	if [[ -x $(target "$VENV/bin/listener") && -f $(target "$SOURCE_STAMP") &&
		$(<"$(target "$SOURCE_STAMP")") == "$digest" ]]; then
		return 0
	fi
	change "pip install $SOURCE into $VENV, versions from $CONSTRAINTS" install_package "$digest"
}

# The fixes the listener prints name `listener ...`, and sudo's secure_path has /usr/local/bin.
ensure_command_link() {
	local link=/usr/local/bin/listener
	[[ $(readlink "$(target "$link")" 2>/dev/null) == "$VENV/bin/listener" ]] && return 0
	if [[ -e $(target "$link") && ! -L $(target "$link") ]]; then
		warn "kept $link, which is not a link to $VENV/bin/listener: the listener's own advice names 'listener'"
		return 0
	fi
	change "link $link to $VENV/bin/listener" link_command "$link"
}

link_command() {
	mkdir -p "$(target "$(dirname "$1")")"
	ln -sfn "$VENV/bin/listener" "$(target "$1")"
}

download() {
	if command -v curl >/dev/null; then
		curl -fsSL --retry 3 -o "$2" "$1"
	else
		wget -q -O "$2" "$1"
	fi
}

fetch_vosk_model() {
	local dir=$1 zip=$TMPD/model.zip unpacked=$TMPD/model actual folder
	download "$VOSK_URL" "$zip" || die "could not download $VOSK_URL: check the network, or pass --vosk-url with a reachable copy"
	actual=$(sha256sum "$zip" | cut -d' ' -f1)
	[[ $actual == "$VOSK_SHA256" ]] ||
		die "$VOSK_URL has SHA-256 $actual, expected $VOSK_SHA256: the download is damaged or not the model pinned here; nothing was installed"
	mkdir -p "$unpacked"
	if command -v unzip >/dev/null; then
		unzip -q "$zip" -d "$unpacked"
	else
		python3 -m zipfile -e "$zip" "$unpacked"
	fi
	# the zip's own folder name: a download's URL (which names $dir) need not match it
	folder=$(zip_folder "$zip") || die "$VOSK_URL $folder; nothing was installed"
	[[ -d $unpacked/$folder ]] || die "$VOSK_URL: its folder $folder/ was not unpacked; nothing was installed"
	rm -rf "$(target "$dir")"
	mkdir -p "$(target "$MODELS_DIR")"
	chmod -R u=rwX,go=rX "$unpacked/$folder"
	mv "$unpacked/$folder" "$(target "$dir")"
	printf '%s\n' "$VOSK_SHA256" >"$(target "$dir/.sha256")"
}

ensure_vosk_model() {
	local dir=$MODELS_DIR/$VOSK_NAME stamp
	[[ -n $VOSK_MODEL ]] || return 0
	stamp=$(target "$dir/.sha256")
	[[ -f $stamp && $(<"$stamp") == "$VOSK_SHA256" ]] && return 0
	change "download $VOSK_URL, check SHA-256 $VOSK_SHA256, unpack to $dir" fetch_vosk_model "$dir"
}

ensure_boot_config() {
	local block=$TMPD/boot-block
	: >"$block"
	if [[ -n $OVERLAY ]]; then
		{ say "[all]"; cat "$SCRIPT_DIR/boot-config/$PRESET.txt"; } >"$block"
		if [[ ! -f $(target "/boot/firmware/overlays/$OVERLAY.dtbo") ]]; then
			UNFINISHED=$(overlay_hint)
			warn "$UNFINISHED"
		fi
	fi
	ensure_block_in_file "$BOOT_CONFIG" "$block"
}

overlay_hint() {
	local where="/boot/firmware/overlays/$OVERLAY.dtbo is missing"
	case $PRESET in
	respeaker-2mic-v1) say "$where: update the kernel (sudo apt full-upgrade), it ships this overlay" ;;
	respeaker-2mic-v2) say "$where: build it from Seeed-Studio/seeed-linux-dtoverlays (make overlays/rpi/$OVERLAY.dtbo) and copy it there" ;;
	*) say "$where: install the seeed-voicecard driver (HinTak/seeed-voicecard, branch of your kernel version), which builds the AC108 codec module and this overlay" ;;
	esac
}

ensure_config_files() {
	local rendered=$TMPD/listener.toml asr_enabled=false model_path=""
	if [[ -n $VOSK_MODEL ]]; then
		asr_enabled=true
		model_path=$MODELS_DIR/$VOSK_NAME
	fi
	if [[ -n $CONFIG_FILE ]]; then
		cp "$CONFIG_FILE" "$rendered"
	else
		render "$SCRIPT_DIR/listener.toml.in" "$rendered" PRESET="$PRESET" ARRAY_PRESET="$ARRAY_PRESET" \
			ASR_ENABLED="$asr_enabled" ASR_MODEL_PATH="$model_path"
	fi
	if [[ ! -f $(target "$CONF_DIR/listener.toml") ]] || ((FORCE_CONFIG)); then
		backup_replaced_config "$rendered"
		write_file_if_changed "$rendered" "$CONF_DIR/listener.toml" 0644
	else
		kept_config_note
		ensure_config_readable
	fi
	ensure_secrets_file
}

# Secrets are the operator's: create the file once, only ever fix its owner and mode. systemd reads it
# as root (EnvironmentFile=), so root's and 0600 is all it needs; one copied in by the Pi's login user
# (owned 1000:1000) and only chmodded stayed readable to that user, broker password and all.
ensure_secrets_file() {
	local secrets=$CONF_DIR/secrets.env path
	path=$(target "$secrets")
	if [[ ! -f $path ]]; then
		write_file_if_changed "$SCRIPT_DIR/secrets.env.in" "$secrets" 0600
		return 0
	fi
	[[ $(stat -c %u:%g "$path") == 0:0 ]] || change "chown root:root $secrets" chown 0:0 "$path"
	[[ $(stat -c %a "$path") == 600 ]] || change "chmod 0600 $secrets" chmod 0600 "$path"
}

# --force-config keeps what it replaces: per-device settings (device_id, broker, calibrated parties).
# An older backup is never replaced: a second --force-config would lose the calibration the first kept.
backup_replaced_config() {
	local file backup
	file=$(target "$CONF_DIR/listener.toml")
	if [[ -f $file ]] && ! cmp -s "$1" "$file"; then
		backup=listener.toml.bak
		if [[ -f $file.bak ]] && ! cmp -s "$file" "$file.bak"; then
			backup=listener.toml.bak.$(date +%Y%m%d-%H%M%S)
		fi
		change "keep the replaced $CONF_DIR/listener.toml as $backup" cp -p "$file" "$(target "$CONF_DIR/$backup")"
	fi
}

# A TOML value as the listener reads it (any quoting, comments, spacing); $4 when the key is absent.
toml_value() {
	python3 - "$@" <<'PY'
import sys
try:
    import tomllib
except ImportError:
    sys.exit(f"provision.sh reads TOML with Python 3.11's tomllib, which this python3 ({sys.version.split()[0]}) "
             "lacks: run it where python3 is 3.11 or newer (Debian 12, Raspberry Pi OS Bookworm)")
path, section, key, default = sys.argv[1:5]
try:
    with open(path, "rb") as f:  # utf-8-sig: a Notepad file's byte-order mark, as the listener reads it
        doc = tomllib.loads(f.read().decode("utf-8-sig"))
except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
    sys.exit(f"{path} cannot be read as TOML ({exc}): fix it (listener check-config shows where)")
print(doc.get(section, {}).get(key, default))
PY
}

# What a run that keeps the installed listener.toml says about it.
kept_config_note() {
	if ((CONFIG_CALIBRATED)); then
		say "kept: $CONF_DIR/listener.toml, which differs from --config $CONFIG_FILE only in the calibrated [parties] azimuths"
	elif [[ -n $CONFIG_FILE ]]; then
		say "kept: $CONF_DIR/listener.toml (the same as --config $CONFIG_FILE)" # any other was refused above
	else # one for another array was refused before any change (check_kept_preset)
		say "kept: $CONF_DIR/listener.toml (an existing config is never overwritten without --force-config)"
	fi
}

# A kept listener.toml is the operator's, but the service (User=$SERVICE_USER) must be able to read it:
# one left 0600 root's by hand or by an editor exits 2 at every start, with "no changes" said here. It
# holds no password (the listener refuses mqtt.password: those go in secrets.env, which stays 0600),
# so it is opened to all, as the script writes it (0644).
ensure_config_readable() {
	local dest=$CONF_DIR/listener.toml
	service_can_read "$dest" && return 0
	# what the listener refuses is never opened up, should a run get here without its check
	[[ $(toml_value "$(target "$dest")" mqtt password "") == "" ]] ||
		die "$dest holds mqtt.password, and the service user $SERVICE_USER cannot read it: move the password to \
$CONF_DIR/secrets.env (LISTENER_MQTT_PASSWORD=...) and delete the key, then run this again"
	change "chmod a+r $dest (the service user $SERVICE_USER could not read it)" chmod a+r "$(target "$dest")"
}

# Whether the service user may read file $1 (a path on the device), by its mode, owner and group as
# the target's accounts have them (a user this run has yet to create owns nothing and is in no group).
service_can_read() {
	local mode uid gid user_id="" user_gids="" passwd group
	passwd=$(target /etc/passwd) group=$(target /etc/group)
	read -r mode uid gid < <(stat -c '%a %u %g' "$(target "$1")")
	if [[ -f $passwd ]]; then # its id and its own group's
		read -r user_id user_gids < <(awk -F: -v u="$SERVICE_USER" '$1 == u { print $3, $4 }' "$passwd") || true
	fi
	if [[ -n $user_id && -f $group ]]; then # and the groups it is a member of
		user_gids+=" $(awk -F: -v u="$SERVICE_USER" '
			{ n = split($4, m, ","); for (i = 1; i <= n; i++) if (m[i] == u) print $3 }' "$group" | tr '\n' ' ')"
	fi
	mode=$((8#$mode))
	if [[ $uid == "$user_id" ]]; then
		((mode & 8#400))
	elif [[ " $user_gids " == *" $gid "* ]]; then
		((mode & 8#040))
	else
		((mode & 8#004))
	fi
}

# --vosk-model with a config that does not use it (kept, or from --config): the download is not the use.
vosk_model_note() {
	local file
	[[ -n $VOSK_MODEL ]] || return 0
	file=$(target "$CONF_DIR/listener.toml")
	[[ -f $file ]] || return 0 # a dry run's config is not written
	if [[ $(toml_value "$file" asr enabled False) != True ||
		$(toml_value "$file" asr model_path "") != "$MODELS_DIR/$VOSK_NAME" ]]; then
		warn "$CONF_DIR/listener.toml does not use the vosk model installed in $MODELS_DIR/$VOSK_NAME: set [asr] enabled = true and model_path = \"$MODELS_DIR/$VOSK_NAME\" there (or in --config)"
	fi
}

# On the device, the installed listener checks the config it will start with (kept, new or from
# --config) before the service is restarted: an upgrade that retired a key must not loop the service.
# It runs as the service user, so a config or folder the service could not read fails here, as it
# would there; then the files the config names are looked at as that user too (check_named_files).
check_config_for_service() {
	local listener=$VENV/bin/listener
	((!DRY_RUN)) || return 0 # a dry run wrote no config
	if [[ $ROOT == / && -x $listener ]]; then
		runuser -u "$SERVICE_USER" -- "$listener" check-config "$CONF_DIR/listener.toml" >/dev/null ||
			die "$CONF_DIR/listener.toml is not valid for the installed listener, or the service user $SERVICE_USER \
cannot read it (above): fix it (its mode, or its folders', if so), then run this again"
	fi
	check_named_files
}

# check-config does not open the files the config names. The service does at its start, and one it
# cannot read (a CA file not copied yet, a root-only key) stops it with exit 2, which systemd does not
# restart: refused here, before the (re)start, with the key and the fix.
check_named_files() {
	local config key path why
	config=$(target "$CONF_DIR/listener.toml")
	[[ -f $config ]] || return 0
	while IFS=$'\t' read -r key path; do
		why=$(named_file_problem "$key" "$path") || continue
		die "$CONF_DIR/listener.toml has $key = \"$path\", which $why; then run this again"
	done < <(config_named_files "$config")
}

# The files config $1 makes the service open, as listener doctor opens them: the broker's TLS files
# with mqtt.tls, its password file with mqtt.username, both only with mqtt.enabled; "key<TAB>path"
# lines. Relative and ~ paths (the service's folder, its home) are left to doctor.
config_named_files() {
	python3 - "$1" 2>/dev/null <<'PY'
import sys, tomllib
with open(sys.argv[1], "rb") as f:
    mqtt = tomllib.loads(f.read().decode("utf-8-sig")).get("mqtt", {})
keys = []
if mqtt.get("enabled") is True:
    keys = (["ca_file", "cert_file", "key_file"] if mqtt.get("tls") is True else [])
    keys += ["password_file"] if mqtt.get("username") else []
for key in keys:
    path = mqtt.get(key)
    if isinstance(path, str) and path.startswith("/") and "\t" not in path and "\n" not in path:
        print(f"mqtt.{key}\t{path}")
PY
}

# Why the service user could not read file $2 (a path on the device, config key $1), with the fix;
# fails when it can.
named_file_problem() {
	local key=$1 path=$2 open="sudo chmod a+r $2 (a certificate is no secret)"
	[[ $key == mqtt.key_file || $key == mqtt.password_file ]] &&
		open="sudo chown $SERVICE_USER: $path && sudo chmod 0600 $path (it is the service's secret)"
	local hidden
	for hidden in "${HIDDEN_FROM_SERVICE[@]}"; do
		[[ $path == "$hidden"* ]] || continue
		say "the service never sees (its unit has ProtectHome=yes and PrivateTmp=yes): copy the file to $CONF_DIR/ and set $key to that path"
		return 0
	done
	if [[ ! -e $(target "$path") ]]; then
		say "does not exist: copy the file there first (a fleet's CA file goes in $CONF_DIR/ on every device), or fix $key"
	elif [[ ! -f $(target "$path") ]]; then
		say "is not a file: set $key to the file itself"
	elif ! readable_by_service "$path"; then
		say "the service user $SERVICE_USER cannot read: $open, and let it into the folders above"
	else
		return 1
	fi
}

# On the device the service user's own try (folders included); under --root, the file's mode and owner.
readable_by_service() {
	if [[ $ROOT == / ]] && command -v runuser >/dev/null; then
		runuser -u "$SERVICE_USER" -- test -r "$1"
	else
		service_can_read "$1"
	fi
}

# What an earlier run made under a strict umask: the service user must be able to enter the folders,
# and to read (and run) the whole venv and the models, which python -m venv, pip and unzip left
# 0700/0600 then. An unchanged source is not reinstalled, so nothing else would reopen them.
ensure_readable_dirs() {
	local dir path
	for dir in /etc/alsa /etc/alsa/conf.d /etc/udev /etc/udev/rules.d "$CONF_DIR"; do
		path=$(target "$dir")
		[[ -d $path ]] || continue
		(((8#$(stat -c %a "$path") & 8#055) != 8#055)) || continue
		change "chmod go+rx $dir (a strict umask made it unreadable to the service)" chmod go+rx "$path"
	done
	# the prefix holds the venv and the models, and no secret (secrets.env is in $CONF_DIR)
	path=$(target "$PREFIX")
	[[ -d $path && -n $(closed_in_tree "$path") ]] || return 0
	change "chmod -R go+rX $PREFIX (a strict umask made files in it unreadable to the service)" chmod -R go+rX "$path"
}

# The first entry under folder $1 (itself included) that chmod go+rX would change: a folder the
# others cannot enter, a file they cannot read, or one only its owner may run; nothing when none.
closed_in_tree() {
	find "$1" \( -type d ! -perm -055 \) -o \( -type f \( ! -perm -044 -o -perm /111 ! -perm -011 \) \) \
		-print -quit
}

ensure_service_enabled() {
	if ((NO_SYSTEMCTL)); then
		say "skip: enabling $UNIT (--no-systemctl)"
		return 0
	fi
	if ! command -v systemctl >/dev/null; then
		((DRY_RUN)) || die "systemctl is missing: install systemd, or pass --no-systemctl"
	elif systemctl --root="$ROOT" --quiet is-enabled "$UNIT" 2>/dev/null; then
		return 0
	fi
	change "enable $UNIT" systemctl --root="$ROOT" --quiet enable "$UNIT"
}

# A swap file on the SD card would let the kernel write the listener's memory (the audio being
# analysed, the words being counted) to disk, where the promise is that neither ever goes: the device
# runs without one. Raspberry Pi OS makes it with dphys-swapfile; swap in RAM (zram) is not disk.
ensure_no_disk_swap() {
	local unit=dphys-swapfile.service swap
	if ((NO_SYSTEMCTL == 0)) && command -v systemctl >/dev/null &&
		systemctl --root="$ROOT" --quiet is-enabled "$unit" 2>/dev/null; then
		change "disable $unit (a swap file on the SD card could hold audio and words)" \
			systemctl --root="$ROOT" --quiet disable "$unit"
	fi
	if [[ $ROOT == / ]] && command -v swapon >/dev/null; then
		while read -r swap; do
			if [[ $swap == /dev/zram* ]]; then
				zram_writeback_note "$swap"
			elif [[ -n $swap ]]; then
				change "turn off swap on $swap" swapoff "$swap"
			fi
		done < <(swapon --show=NAME --noheadings 2>/dev/null)
	fi
	[[ ! -e $(target /var/swap) ]] || change "remove the swap file /var/swap" rm -f "$(target /var/swap)"
	if [[ -f $(target /etc/fstab) ]] && awk '$3 == "swap" && $1 !~ /^\/dev\/zram/ && $1 !~ /^#/ { found = 1 } END { exit !found }' "$(target /etc/fstab)"; then
		warn "/etc/fstab turns on swap on disk: remove that line, or the listener's memory (audio, words) may be written there"
	fi
}

# zram is swap in RAM, unless it has a backing device: then idle pages are written out to it.
zram_writeback_note() {
	local backing
	backing=$(cat "$SYS_BLOCK/${1#/dev/}/backing_dev" 2>/dev/null) || return 0
	[[ -z $backing || $backing == none ]] && return 0
	warn "$1 (swap in RAM) writes idle pages to $backing: the listener's memory (audio, words) may land on that disk; remove its writeback device (zram-generator's writeback-device, or turn that swap off)"
}

# On the running system, make the new files take effect.
apply_live() {
	local unit_changed=$1 udev_changed=$2 boot_changed=$3 service_changed=$4
	[[ $ROOT == / && -d $SYSTEMD_RUNNING ]] || return 0
	# and applied to the devices already there (the GPIO chips, a USB array plugged in before)
	((udev_changed == 0)) || change "reload udev rules and apply them to the devices present" reload_udev
	local reboot_due=0
	reboot_note "$boot_changed" || reboot_due=1
	((NO_SYSTEMCTL == 0)) || return 0
	((unit_changed == 0)) || change "reload systemd units" systemctl daemon-reload
	((!reboot_due)) || return 0
	local why
	if ((service_changed)); then
		change "restart $UNIT" restart_service
	elif why=$(service_stale); then # nothing changed here, but what it runs on is not what is there
		change "restart $UNIT ($why)" restart_service
	fi
}

# Why the enabled service needs a (re)start although this run changed nothing: it is not running (a
# start that failed, which exit 2 keeps down; a run stopped before its restart), or a file it reads at
# its start changed since (secrets.env or listener.toml edited by hand, a run stopped between writing
# and restarting). Says why; fails when it runs on what is there, or is not enabled.
service_stale() {
	local state started file
	systemctl --quiet is-enabled "$UNIT" 2>/dev/null || return 1
	if ! state=$(systemctl is-active "$UNIT" 2>/dev/null); then
		say "it is ${state:-not running}"
		return 0
	fi
	started=$(systemctl show --timestamp=unix -p ActiveEnterTimestamp --value "$UNIT" 2>/dev/null) || return 1
	[[ $started =~ ^@[0-9]+$ ]] || return 1
	for file in "$CONF_DIR/listener.toml" "$CONF_DIR/secrets.env" "$UNIT_PATH" "$SOURCE_STAMP"; do
		if [[ -f $file ]] && (($(stat -c %Y "$file") > ${started#@})); then
			say "$file changed since it started"
			return 0
		fi
	done
	return 1
}

# systemctl restart, and when the service does not come up, one line with its reason: systemd's own
# ("Job for listener.service failed") names none, and the service's is in the journal only.
restart_service() {
	local since reason
	since=$(date +%s)
	systemctl restart "$UNIT" && return 0
	reason=$(journalctl -u "$UNIT" -p err -n 1 -o cat --since "@$since" 2>/dev/null | tail -n 1) || true
	[[ -n $reason ]] || die "$UNIT did not start: see \`systemctl status $UNIT\` and \`journalctl -u $UNIT\` for \
why; fix that, then run this again"
	die "$UNIT did not start: $reason (its last error in the journal); then run this again"
}

# Says (and flags, when this run changed it) that the boot config waits for a reboot; fails then, so
# that the service is not restarted: it starts at that boot, with its array.
reboot_note() {
	local boot_changed=$1
	if ((boot_changed)); then
		change "flag the reboot the boot config needs ($REBOOT_DUE, $REBOOT_REQUIRED)" flag_reboot_due
		say "note: reboot to load the audio overlay; $UNIT starts at boot"
		return 1
	elif [[ -e $REBOOT_DUE ]]; then
		say "note: a reboot is still due to load the audio overlay an earlier run set in $BOOT_CONFIG; $UNIT starts at boot"
		return 1
	fi
}

# Debian's flag holds the line its own notify-reboot-required writes, which the tools that read it show.
flag_reboot_due() {
	printf '%s changed; the audio overlay loads at the next boot\n' "$BOOT_CONFIG" >"$REBOOT_DUE"
	[[ -s $REBOOT_REQUIRED ]] || echo "*** System restart required ***" >"$REBOOT_REQUIRED"
	grep -qx listener "$REBOOT_REQUIRED.pkgs" 2>/dev/null || echo listener >>"$REBOOT_REQUIRED.pkgs"
}

reload_udev() {
	udevadm control --reload-rules
	udevadm trigger --action=change --subsystem-match=gpio --subsystem-match=spidev --subsystem-match=usb
}

# The boot partition the overlay goes to, checked before any change (apt, the user) is made.
check_boot_partition() {
	if [[ ! -d $(target /boot/firmware) && -f $(target /boot/config.txt) ]]; then
		die "$(target /boot/config.txt) exists but /boot/firmware does not: this OS is older than Bookworm; upgrade it first"
	fi
	# an empty /boot/firmware is the boot partition's mount point with nothing mounted: a config.txt
	# written there lands on the root partition, and the reboot would load no overlay
	if [[ -n $OVERLAY && -d $(target /boot/firmware) && ! -f $(target "$BOOT_CONFIG") ]]; then
		die "$(target "$BOOT_CONFIG") is missing: mount the boot partition at $(target /boot/firmware) (with --root: the image's first partition) and run again"
	fi
}

# Refuse a run that would fail halfway: not root, a --root that is no system, no checkout, 32-bit ARM,
# no boot partition.
check_can_run() {
	((DRY_RUN)) || [[ $(id -u) == 0 ]] || die "run as root (sudo), or add --dry-run"
	if ((!DRY_RUN)) && [[ ! -f $(target /etc/passwd) ]]; then
		die "$ROOT has no /etc/passwd: --root must be a Debian root file system"
	fi
	[[ -f $REPO_DIR/systemd/$UNIT ]] || die "$REPO_DIR/systemd/$UNIT is missing: run this script from a listener checkout"
	local arch
	arch=$(userland_architecture)
	if [[ $arch == armhf || $arch == armel || ($ROOT == / && -z $arch && $(uname -m) == armv[67]*) ]]; then
		die "this is a 32-bit system (${arch:-$(uname -m)}); onnxruntime publishes no 32-bit ARM wheels: install the 64-bit Raspberry Pi OS (Bookworm, arm64)"
	fi
	check_boot_partition
}

# The architecture of the root's packages, from dpkg's own entry ('' where there is none). Not uname:
# the 32-bit Raspberry Pi OS runs a 64-bit kernel on a Pi 4 or 5, so uname says aarch64 there.
userland_architecture() {
	awk '$0 == "Package: dpkg" { p = 1 } p && /^Architecture:/ { print $2; exit } $0 == "" { p = 0 }' \
		"$(target /var/lib/dpkg/status)" 2>/dev/null || true
}

# The boot overlay, the ALSA device and the udev rules; BOOT_CHANGED and UDEV_CHANGED count their changes.
ensure_audio_files() {
	local before rendered=$TMPD/alsa.conf
	before=$CHANGES
	ensure_boot_config
	BOOT_CHANGED=$((CHANGES - before))

	render "$SCRIPT_DIR/asound.conf.in" "$rendered" PRESET="$PRESET" CARD="$CARD" CHANNELS="$CHANNELS" \
		FORMAT="$FORMAT" DESCRIPTION="$DESCRIPTION"
	write_file_if_changed "$rendered" "$ALSA_CONF" 0644

	before=$CHANGES
	write_file_if_changed "$SCRIPT_DIR/99-listener.rules" "$UDEV_RULES" 0644
	UDEV_CHANGED=$((CHANGES - before))
}

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

main() {
	local before unit_changed service_start
	parse_args "$@"
	select_preset "$PRESET"
	check_config_preset
	check_config_device
	check_config_replacement
	check_kept_preset
	check_config_early
	check_can_run
	TMPD=$(mktemp -d)
	trap 'rm -rf "$TMPD" "$STAGED"' EXIT
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
	report_changes
	if [[ -n $UNFINISHED ]]; then
		# all else is in place; a fleet script must still not count this device as done
		warn "not finished, the array cannot work: $UNFINISHED; then run this again (exit 3)"
		exit 3
	fi
}

main "$@"
