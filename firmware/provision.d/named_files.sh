# shellcheck shell=bash disable=SC2034,SC2153
# Sourced by firmware/provision.sh, whose settings and helpers these functions use. Checked alone, this
# file reads settings it does not set (SC2153) and sets some that other files read (SC2034): checking
# firmware/provision.sh follows it there with both in view (firmware/.shellcheckrc).
# The files the config names (the broker's TLS and password files, the vosk model folder): checked before any
# change and before the service's (re)start, as the service user would open them, with the fix.

# check-config does not open the files the config names. The service does at its start, and one it
# cannot read (a CA file not copied yet, a root-only key) stops it with exit 2, which systemd does not
# restart: refused here, before the (re)start, with the key and the fix. $1: the config (default the
# installed one), $2: its name in the error; $3 (early): the service user may not exist yet, and a file
# it could not read is left to the check after the run made it.
check_named_files() {
	local config=${1:-$(target "$CONF_DIR/listener.toml")} name=${2:-$CONF_DIR/listener.toml} key path why
	[[ -f $config ]] || return 0
	while IFS=$'\t' read -r key path; do
		if why=$(named_file_problem "$key" "$path" "${3-}"); then
			die "$name has $key = \"$path\", which $why; then run this again$(fleet_fix_note "$key" "$name")"
		fi
		secret_exposure_note "$key" "$path"
	done < <(config_named_files "$config" "$CONF_DIR")
	check_vosk_model "$config" "$name" "${3-}"
}

# The config the device will start with, before any change (a dry run's included: it needs nothing
# written), so that a real run does not stop halfway, its config written, on what a dry run passed.
check_named_files_early() {
	local file=$CONFIG_FILE name="--config $CONFIG_FILE" installed
	installed=$(target "$CONF_DIR/listener.toml")
	if [[ -f $installed ]] && ((!FORCE_CONFIG)); then
		file=$installed name=$CONF_DIR/listener.toml
	fi
	[[ -n $file ]] || return 0 # the template names no files, and its model is the one this run installs
	check_named_files "$file" "$name" early
}

# A config with [asr] enabled names a vosk model folder (model_path) the service loads at its start: without
# one there it stops with exit 2, which systemd does not restart, at the reboot a first run asks for. A
# fleet's config copied from a device provisioned with --vosk-model needs the model on every device.
# $1: the config, $2: its name in the error, $3 (early): before this run's own model is installed.
check_vosk_model() {
	local path name=${2:-$CONF_DIR/listener.toml}
	path=$(config_vosk_model "$1" "$CONF_DIR") || return 0
	[[ -f $(target "$path")/am/final.mdl ]] && return 0
	# early: the model this run installs (then checked as the others are)
	[[ -n ${3-} && -n $VOSK_MODEL && $path == "$MODELS_DIR/$VOSK_NAME" ]] && return 0
	local fix="pass --vosk-model en-small (it installs $MODELS_DIR/$VOSK_EN_SMALL_NAME)"
	[[ $path == "$MODELS_DIR/"* ]] || fix="copy an unzipped vosk model folder there"
	die "$name has [asr] enabled = true and model_path = \"$path\", which holds no vosk model \
(the service would stop at its start): $fix, or set [asr] enabled = false; then run this again$(fleet_fix_note asr.model_path "$name")"
}

# The model folder config $1 makes the service load: [asr] model_path with [asr] enabled, a relative path in
# the config's folder $2; fails without one (transcription off, or the default model, which `listener fetch`
# puts in the state folder and `listener doctor` checks).
config_vosk_model() {
	python3 - "$1" "$2" 2>/dev/null <<'PY'
import posixpath, sys, tomllib
with open(sys.argv[1], "rb") as f:
    asr = tomllib.loads(f.read().decode("utf-8-sig")).get("asr", {})
path = asr.get("model_path") if asr.get("enabled") is True else None
if not isinstance(path, str) or not path.strip() or path.startswith("~") or "\n" in path:
    sys.exit(1)
print(posixpath.normpath(posixpath.join(sys.argv[2], path)))
PY
}

# With --config, the installed file (named $2) is that file as it was: a fix to key $1 made in it differs
# from the installed one, which a run refuses without --force-config.
fleet_fix_note() {
	[[ -n $CONFIG_FILE && $2 == "$CONF_DIR/listener.toml" ]] || return 0
	printf ' (a fix to %s in %s: run again with --force-config, the installed copy is the unfixed one)' "$1" "$CONFIG_FILE"
}

# The files config $1 makes the service open, as listener doctor opens them: the broker's TLS files
# with mqtt.tls, its password file with mqtt.username, both only with mqtt.enabled; "key<TAB>path"
# lines. A relative path is the listener's: in the config's folder $2 ("fleet-ca.pem" is
# /etc/listener/fleet-ca.pem); a ~ path (the service user's home) is left to doctor.
config_named_files() {
	python3 - "$1" "$2" 2>/dev/null <<'PY'
import posixpath, sys, tomllib
with open(sys.argv[1], "rb") as f:
    mqtt = tomllib.loads(f.read().decode("utf-8-sig")).get("mqtt", {})
keys = []
if mqtt.get("enabled") is True:
    keys = (["ca_file", "cert_file", "key_file"] if mqtt.get("tls") is True else [])
    keys += ["password_file"] if mqtt.get("username") else []
for key in keys:
    path = mqtt.get(key)
    if not isinstance(path, str) or not path.strip() or path.startswith("~") or "\t" in path or "\n" in path:
        continue
    print(f"mqtt.{key}\t{posixpath.normpath(posixpath.join(sys.argv[2], path))}")
PY
}

# Why the service user could not read file $2 (a path on the device, config key $1), with the fix;
# fails when it can.
named_file_problem() {
	local key=$1 path=$2 here=$2 early=${3-}
	[[ $ROOT == / ]] || here=$(target "$path")
	local open="sudo chmod a+r $here (a certificate is no secret)"
	! is_secret_key "$key" || open="$(secret_fix "$path") (it is the service's secret)"
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
	elif [[ -n $early ]] && ! has_entry /etc/passwd "$SERVICE_USER"; then
		return 1 # whether the user this run makes can read it is checked once it exists
	elif [[ -n $early ]] && service_can_read "$path"; then
		return 1 # the folders above are this run's to open (ensure_readable_dirs): checked once they are
	elif [[ -n $early ]] || ! readable_by_service "$path"; then
		say "the service user $SERVICE_USER cannot read: $open, and let it into the folders above"
	else
		return 1
	fi
}

is_secret_key() { [[ $1 == mqtt.key_file || $1 == mqtt.password_file ]]; }

# The commands that make secret file $1 (a path on the device) the service user's alone. Under --root they run
# on this machine: the root's path, and the root's own account.
secret_fix() {
	if [[ $ROOT == / ]]; then
		printf 'sudo chown %s: %s && sudo chmod 0600 %s' "$SERVICE_USER" "$1" "$1"
	else
		printf 'sudo chroot %s chown %s: %s && sudo chmod 0600 %s' "$ROOT" "$SERVICE_USER" "$1" "$(target "$1")"
	fi
}

# A password or TLS client key file (config key $1, path $2 on the device) that others than root and the
# service user may read: said once a run, not changed (the file is the operator's, and may be another
# service's too). A copy made under umask 022 is 0644, and the broker login was anyone's who could log in.
declare -A SECRET_NOTED=()
secret_exposure_note() {
	local key=$1 path=$2 who
	is_secret_key "$key" && [[ -f $(target "$path") && -z ${SECRET_NOTED[$path]-} ]] || return 0
	who=$(secret_readers "$path") || return 0
	SECRET_NOTED[$path]=1
	warn "$key $path can be read by $who, not only by the service: $(secret_fix "$path")"
}

# Who besides root and the service user may read file $1 (a path on the device), by its mode and owner as the
# target's accounts have them; fails when nobody. A user this run has yet to create owns nothing.
secret_readers() {
	local mode uid gid user_id="" user_gid="" passwd
	passwd=$(target /etc/passwd)
	read -r mode uid gid < <(stat -c '%a %u %g' "$(target "$1")")
	if [[ -f $passwd ]]; then
		read -r user_id user_gid < <(awk -F: -v u="$SERVICE_USER" '$1 == u { print $3, $4 }' "$passwd") || true
	fi
	if (((8#$mode) & 8#004)); then
		say "every user of the device (mode $mode)"
	elif (((8#$mode) & 8#040)) && [[ $gid != 0 && $gid != "$user_gid" ]]; then
		say "the members of group $(account_name /etc/group "$gid") (mode $mode)"
	elif [[ $uid != 0 && -n $user_id && $uid != "$user_id" ]]; then
		say "its owner, $(account_name /etc/passwd "$uid")"
	else
		return 1
	fi
}

# The name of id $2 in the target's passwd- or group-style file $1, or the id itself.
account_name() {
	local name
	name=$(awk -F: -v id="$2" '$3 == id { print $1; exit }' "$(target "$1")" 2>/dev/null)
	printf '%s' "${name:-$2}"
}

# On the device the service user's own try (folders included); under --root, the file's mode and owner.
readable_by_service() {
	if [[ $ROOT == / ]] && command -v runuser >/dev/null; then
		runuser -u "$SERVICE_USER" -- test -r "$1"
	else
		service_can_read "$1"
	fi
}
