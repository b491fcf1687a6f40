# shellcheck shell=bash disable=SC2034,SC2153
# Sourced by firmware/provision.sh, whose settings and helpers these functions use. Checked alone, this
# file reads settings it does not set (SC2153) and sets some that other files read (SC2034): checking
# firmware/provision.sh follows it there with both in view (firmware/.shellcheckrc).
# The command line and the checks made before anything changes: options, the vosk model's
# source, the preset, and a --config file against the preset and the installed config.

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
	check_config_password "$CONFIG_FILE"
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
		[[ -n $VOSK_SHA256 ]] || usage_error "--vosk-url needs --vosk-sha256 with the zip's SHA-256 (64 hex digits)"
		[[ $VOSK_SHA256 =~ ^[0-9a-f]{64}$ ]] ||
			usage_error "--vosk-sha256 $VOSK_SHA256 is not a SHA-256: give the 64 hex digits sha256sum prints"
		[[ $VOSK_URL == *.zip ]] || usage_error "--vosk-url must name a .zip file"
		check_vosk_url
	fi
	VOSK_NAME=$(basename "${VOSK_URL%.zip}")
	if [[ $VOSK_URL == file://* ]]; then
		# a local zip is named by its model folder, read now: a zip named otherwise (model.zip) failed
		# only after the user, the venv and pip
		VOSK_NAME=$(zip_folder "$VOSK_URL" "$VOSK_SHA256") || usage_error "--vosk-url $VOSK_URL: $VOSK_NAME"
	fi
}

# The one top-level folder (a vosk model's) in the zip at URL or path $1, whose SHA-256 must be $2 when
# given; otherwise what is wrong, exit 1.
zip_folder() {
	python3 - "$1" "${2-}" <<'PY'
import hashlib, sys, urllib.parse, zipfile
where, digest = sys.argv[1], sys.argv[2]
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
if digest:  # a local zip is checked now, before any change; a download by fetch_vosk_model, once fetched
    with open(where, "rb") as f:
        found = hashlib.file_digest(f, "sha256").hexdigest()
    if found != digest:
        print(f"has SHA-256 {found}, not the --vosk-sha256 given ({digest}): check the digest, or the file")
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
	# one mic per party on an input of their own (lapel mics on a USB interface, as README.md sets them
	# up): listener_array is the board's card, no fix for them, and the service holds their input alone
	if [[ -n $device ]] && { toml_has_key "$CONFIG_FILE" parties rep_channel ||
		toml_has_key "$CONFIG_FILE" parties customer_channel; }; then
		warn "--config $CONFIG_FILE has $what and one mic per party: the service opens that input itself, not \
through listener_array (this script's shared device, which is the $CARD card's): keep the device as it is; \
if calibrate or doctor's level check find it busy while the service runs, stop the service for them \
(sudo systemctl stop listener)"
		return 0
	fi
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
	# listener calibrate --write (README step 2) rewrites only the two azimuths in the installed file, or
	# swaps the two lapel mics' channels
	if differs=$(config_differences "$CONFIG_FILE" "$installed"); then
		CONFIG_CALIBRATED=1
		[[ $differs != layout ]] || CONFIG_LAYOUT_ONLY=1
		return 0
	fi
	# the keys, never their values: a fleet file's may be credentials' names, and the line stays short
	calibration=$(sed -n 2p <<<"$differs")
	local fix="${calibration:+copy the installed calibration ($calibration) into $CONFIG_FILE first, then }add --force-config"
	if [[ -n $calibration && $(sed -n 3p <<<"$differs") == other-device ]]; then
		# a card imaged from a calibrated device: its azimuths are that counter's, and copied into this device's
		# file they would pass for a calibration here
		fix="the installed file names another mqtt.device_id: on a card imaged from another device, its calibration \
($calibration) is that counter's, so add --force-config, then calibrate this one (sudo listener calibrate --write); \
for a device renamed, copy the calibration into $CONFIG_FILE first, then add --force-config"
	fi
	usage_error "--config $CONFIG_FILE differs from the installed $CONF_DIR/listener.toml in $(sed -n 1p <<<"$differs"), \
not only in the calibrated [parties] azimuths or lapel mics' order, and is installed over it only with --force-config (the old one is kept \
as listener.toml.bak): $fix, or leave --config out to keep the installed one"
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

# Whether TOML files $1 and $2 hold the same settings once what listener calibrate --write sets is left
# out: [parties]' rep_azimuth_deg and customer_azimuth_deg, and rep_channel and customer_channel when $2
# has the same two channels the other way round. When they differ (or one cannot be read), prints the
# differing keys' dotted paths, then the calibration $2 has, and fails.
config_differences() {
	python3 - "$@" 2>/dev/null <<'PY'
import sys, tomllib
CALIBRATED = ("rep_azimuth_deg", "customer_azimuth_deg")
CHANNELS = ("rep_channel", "customer_channel")
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
# in channel-map mode calibrate swaps lapel mics plugged in the other way round: the same two channels,
# the other way round, are its; other channels are the fleet's
def channels(doc):
    return sorted(repr(doc.get(f"parties.{key}")) for key in CHANNELS)
swapped = channels(new) == channels(installed) and any(
    new.get(f"parties.{key}") != installed.get(f"parties.{key}") for key in CHANNELS
)
if swapped:
    calibrated |= {f"parties.{key}" for key in CHANNELS}
differ = sorted(k for k in new.keys() | installed.keys() if k not in calibrated and new.get(k) != installed.get(k))
# a calibration is what calibrate changed: a value the fleet file gives too (or the listener's default, which
# the template writes) is no measurement to copy; one the installed file lacks is a difference all the same
DEFAULTS = {"rep_azimuth_deg": 0.0, "customer_azimuth_deg": 180.0}
def value(doc, key):
    return doc.get(f"parties.{key}", DEFAULTS.get(key))
changed = [k for k in CALIBRATED + CHANNELS if value(installed, k) != value(new, k)]
if not differ:
    print("calibrated" if changed else "layout")  # layout: the same settings, other comments or spacing
    sys.exit(0)
shown = ", ".join(differ[:8]) + (f" and {len(differ) - 8} more keys" if len(differ) > 8 else "")
print(shown)
copy = [k for k in CALIBRATED + (CHANNELS if swapped else ()) if k in changed and f"parties.{k}" in installed]
print(", ".join(f"{k} = {installed[f'parties.{k}']}" for k in copy))
# the installed file names a device id the new one does not: it may be another device's (a card imaged from it)
print("other-device" if "mqtt.device_id" in differ and "mqtt.device_id" in installed else "")
sys.exit(1)
PY
}

# The Python that runs this source's own listener (its checkout's venv, or python3 where that has the
# package's dependencies), to check a config before anything is written; none prints nothing.
# -P (3.11): python -c and -m put the current folder ahead of PYTHONPATH, so a run from a checkout
# checked with the checkout's listener, not the --source's. One whose listener still comes from
# elsewhere (an sdist is no importable path: its Python's own; a package whose modules an editable
# install's finder maps to another checkout) cannot check for this source: the module that runs is judged.
source_python() {
	local py where candidates=("$REPO_DIR/.venv/bin/python")
	# on the device, the venv of the install before this one has the dependencies python3 lacks
	[[ $ROOT == / ]] && candidates+=("$VENV/bin/python")
	for py in "${candidates[@]}" python3; do
		command -v "$py" >/dev/null || continue
		where=$(PYTHONPATH=$SOURCE "$py" -P -c 'import listener.cli; print(listener.cli.__file__)' \
			2>/dev/null) || continue
		if [[ $where == "$SOURCE"/* ]]; then
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
		check_config_password "$file"
	fi
	[[ -n $file ]] || return 0 # the template, which tests/test_provision.py loads for every preset
	py=$(source_python)
	if [[ -z $py ]]; then
		local why="no Python here imports listener from $SOURCE (make $REPO_DIR/.venv with the package installed)"
		[[ $SOURCE != *.tar.gz ]] || why="$SOURCE is an sdist, which no Python imports unbuilt (pass the wheel \
built from it as --source, or check the file with that version's listener check-config)"
		# a real run on the device has the listener it installs check the file (check_config_for_service),
		# but only after its changes; a dry run, or one under --root, never checks it
		if [[ $ROOT == / ]] && ((!DRY_RUN)); then
			warn "$file is checked with listener check-config only by the installed listener, after this run's \
changes and before the restart: $why"
		else
			warn "$file is not checked with listener check-config: $why"
		fi
		return 0
	fi
	if ! PYTHONPATH=$SOURCE "$py" -P -m listener check-config "$file" >/dev/null; then
		printf 'error: %s\n' "$file is not valid for this listener (above): fix it, then run this again" >&2
		exit 2
	fi
}
