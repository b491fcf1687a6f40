# shellcheck shell=bash disable=SC2034,SC2153
# Sourced by firmware/provision.sh, whose settings and helpers these functions use. Checked alone, this
# file reads settings it does not set (SC2153) and sets some that other files read (SC2034): checking
# firmware/provision.sh follows it there with both in view (firmware/.shellcheckrc).
# /etc/listener: the config and the secrets file, and what the service user must be able to read (the files
# the config names are checked in named_files.sh).

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

# What ensure_secrets_file cannot mend, refused before any change. Through a link, chown and chmod reach
# a file its owner (the login user, for one in /home/pi) still reads, and a mode read through the link
# never matched, so every run said "change"; into a folder, install_file writes the new file inside it.
check_secrets_file() {
	local secrets=$CONF_DIR/secrets.env path
	path=$(target "$secrets")
	if [[ -L $path ]]; then
		die "$secrets is a symbolic link (to $(readlink "$path")), and the broker password there stays readable \
to the file's owner; nothing was changed: replace the link with the file itself (this script makes it root's, \
mode 0600), then run this again"
	elif [[ -e $path && ! -f $path ]]; then
		die "$secrets is not a regular file but a $(stat -c %F "$path"); nothing was changed: move it out of the \
way (this script creates the file, root's, mode 0600), then run this again"
	fi
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
    sys.exit(f"error: provision.sh reads TOML with Python 3.11's tomllib, which this python3 ({sys.version.split()[0]}) "
             "lacks: run it where python3 is 3.11 or newer (Debian 12 or 13, Raspberry Pi OS Bookworm or Trixie)")
path, section, key, default = sys.argv[1:5]
try:
    with open(path, "rb") as f:  # utf-8-sig: a Notepad file's byte-order mark, as the listener reads it
        doc = tomllib.loads(f.read().decode("utf-8-sig"))
except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
    sys.exit(f"error: {path} cannot be read as TOML ({exc}): fix it (listener check-config shows where)")
print(doc.get(section, {}).get(key, default))
PY
}

# Whether TOML file $1 (read as toml_value reads it) has key $3 in table $2, whatever its value.
toml_has_key() {
	python3 - "$@" 2>/dev/null <<'PY'
import sys, tomllib
with open(sys.argv[1], "rb") as f:
    table = tomllib.loads(f.read().decode("utf-8-sig")).get(sys.argv[2])
sys.exit(0 if isinstance(table, dict) and sys.argv[3] in table else 1)
PY
}

# The listener refuses mqtt.password in its config, whatever its value, and any other key that may hold a
# secret (a misspelt 'pasword', 'api_token': it knows no such key, and hides the value). Refused here, before
# any change, where no listener may run to check the file: installed, it would be readable to all (0644), and
# its value printed in the diff. The value is never read out.
check_config_password() {
	local keys
	keys=$(config_secret_keys "$1") || die "$1 could not be searched for passwords (above): run this script from a \
listener checkout (it uses its listener/config/toml_hints.py)"
	[[ -n $keys ]] || return 0
	usage_error "$1 has ${keys//$'\n'/, }, which the listener refuses (the file is installed readable to all); \
nothing was changed: put the password in $CONF_DIR/secrets.env (LISTENER_MQTT_PASSWORD=...) and delete the key"
}

# The keys of TOML file $1 that may name a secret by the listener's own rule (toml_hints.looks_secret, which
# hides their values in its errors), dotted, one a line; less the two keys that name files.
config_secret_keys() {
	python3 - "$1" "$REPO_DIR" <<'PY'
import importlib.util, sys, tomllib
path, repo = sys.argv[1:3]
sys.path.insert(0, repo)  # toml_hints imports listener.errors (the standard library only), not numpy as listener.config does
spec = importlib.util.spec_from_file_location("toml_hints", f"{repo}/listener/config/toml_hints.py")
hints = importlib.util.module_from_spec(spec)
spec.loader.exec_module(hints)
FILES = {"mqtt.password_file", "mqtt.key_file"}
def secret_keys(table, prefix=""):
    for key, value in table.items():
        if isinstance(value, dict):
            yield from secret_keys(value, f"{prefix}{key}.")
        elif f"{prefix}{key}" not in FILES and hints.looks_secret(key, value):
            yield f"{prefix}{key}"
with open(path, "rb") as f:
    print("\n".join(secret_keys(tomllib.loads(f.read().decode("utf-8-sig")))))
PY
}

# What a run that keeps the installed listener.toml says about it.
kept_config_note() {
	if ((CONFIG_LAYOUT_ONLY)); then
		say "kept: $CONF_DIR/listener.toml, whose settings are those of --config $CONFIG_FILE (only its comments or spacing differ, and stay as installed)"
	elif ((CONFIG_CALIBRATED)); then
		say "kept: $CONF_DIR/listener.toml, which differs from --config $CONFIG_FILE only in the calibrated [parties] azimuths or lapel mics' order"
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
