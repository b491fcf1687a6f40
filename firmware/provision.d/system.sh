# shellcheck shell=bash disable=SC2034,SC2153
# Sourced by firmware/provision.sh, whose settings and helpers these functions use. Checked alone, this
# file reads settings it does not set (SC2153) and sets some that other files read (SC2034): checking
# firmware/provision.sh follows it there with both in view (firmware/.shellcheckrc).
# The boot config, the unit, swap, udev and ALSA files, and applying changes on a running system.

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
	local reloaded=0
	if ((unit_changed)); then
		change "reload systemd units" systemctl daemon-reload
	elif unit_reload_due; then # else a restart (service_stale: the unit is newer) reran the old unit
		change "reload systemd units ($UNIT changed on disk since systemd loaded it)" systemctl daemon-reload
		reloaded=1
	fi
	if ((reboot_due)); then
		# it ran before this run stopped it for pip, and can until that boot as it did (a dry run that said
		# "would: stop" says this start too: else its plan left the service down until the reboot)
		((!SERVICE_STOPPED)) || change "start $UNIT again (stopped for pip above)" restart_service
		return 0
	fi
	local why
	if ((service_changed)); then
		change "restart $UNIT" restart_service
	elif ((reloaded)) && systemctl --quiet is-enabled "$UNIT" 2>/dev/null; then
		# restarted since the unit was written (by hand, by Restart=), it still runs the old one: its start
		# time alone says nothing is stale
		change "restart $UNIT (it runs the unit systemd had loaded before)" restart_service
	elif why=$(service_stale); then # nothing changed here, but what it runs on is not what is there
		change "restart $UNIT ($why)" restart_service
	fi
}

# Whether systemd holds an older $UNIT than the one on disk (a run stopped between writing the unit and its
# reload, an edit by hand): a restart alone starts the loaded one again.
unit_reload_due() {
	[[ $(systemctl show -p NeedDaemonReload --value "$UNIT" 2>/dev/null) == yes ]]
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
	local since reason every
	SERVICE_STOPPED=0 # started here, or a failed start said why: not started again on the way out
	since=$(date +%s)
	systemctl restart "$UNIT" && return 0
	if [[ $(systemctl show -p ExecMainStatus --value "$UNIT" 2>/dev/null) == 75 ]]; then
		# EX_TEMPFAIL (a run by hand holds the state folder, a wedged driver): Restart= tries again every
		# RestartSec until it starts, so the new build is in place and nothing is left to fix here
		reason=$(journalctl -u "$UNIT" -p warning -o cat --since "@$since" 2>/dev/null |
			sed -n 's/^listener: //p' | tail -n 1) || true
		# the unit's own delay ("20s"), so a fleet's drop-in that changes RestartSec is told as it is
		every=$(systemctl show -p RestartUSec --value "$UNIT" 2>/dev/null) || true
		warn "$UNIT is not running yet: ${reason:-it exited 75 (see \`journalctl -u $UNIT\`)}; systemd starts \
it again ${every:+every $every }on its own"
		return 0
	fi
	reason=$(journalctl -u "$UNIT" -p err -n 1 -o cat --since "@$since" 2>/dev/null | tail -n 1) || true
	[[ -n $reason ]] || die "$UNIT did not start: see \`systemctl status $UNIT\` and \`journalctl -u $UNIT\` for \
why; fix that, then run this again"
	die "$UNIT did not start: $reason (its last error in the journal); then run this again"
}

# pip swaps the package's files under a running service, which imports some of them only when it first needs them
# (the listener's function-level imports, its libraries' own): it could load a new module beside an old one, or
# one pip has removed, and crash, and Restart= start it again on a half-installed package; a crash loses the
# session in progress, which a graceful stop publishes. Stopped before pip, then, on a running system only, and
# only when pip will change something; also while it waits for a restart after a crash (activating), which would
# come during pip.
stop_service_for_pip() {
	local state
	[[ $ROOT == / && -d $SYSTEMD_RUNNING ]] && ((NO_SYSTEMCTL == 0)) || return 0
	command -v systemctl >/dev/null || return 0
	state=$(systemctl is-active "$UNIT" 2>/dev/null) || true
	case $state in
	active | activating | reloading | deactivating) ;;
	*) return 0 ;;
	esac
	SERVICE_STOPPED=1 # set first: a stop that failed halfway is started again too (a dry run's: only said)
	change "stop $UNIT ($state) before pip replaces its package, half of which it could load: the stop publishes \
the session in progress; it is started again at the end, or before the error if the run stops" stop_service
}

stop_service() {
	systemctl stop "$UNIT" || die "$UNIT did not stop (\`systemctl status $UNIT\` says why): pip was not run, \
the package is as it was; then run this again"
}

# The service this run stopped for pip, started again when the run ends before its restart (pip failed, a later
# step stopped the run): it ran before. Not from a command substitution's copy of the script, which ends alone,
# nor in a dry run, which stopped nothing.
start_stopped_service() {
	((SERVICE_STOPPED && !DRY_RUN)) && [[ $BASHPID == "$$" ]] || return 0
	SERVICE_STOPPED=0
	say "change: start $UNIT again (stopped for pip above; this run stops before its restart)"
	systemctl start "$UNIT" || warn "$UNIT did not start again: \`systemctl status $UNIT\` says why"
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

# The OS of the root, from its os-release: Debian 12 (Bookworm, Python 3.11) and 13 (Trixie, Python 3.13) are
# what this script and the pins were rehearsed on (bench/pi_rehearsal.py --release), Raspberry Pi OS being one
# of them. An older Debian is refused before any change: its Python is older than the listener's 3.11, and pip
# failed after apt and the user were done. Another apt-based OS, or a newer Debian, is tried with a warning.
check_os_release() {
	local file name id like version codename debian=false
	file=$(target /etc/os-release)
	[[ -f $file ]] || file=$(target /usr/lib/os-release)
	if [[ ! -f $file ]]; then
		warn "$ROOT has no /etc/os-release: cannot tell which OS it is; this script is for Raspberry Pi OS, Debian 12 or 13"
		return 0
	fi
	name=$(os_release_value "$file" PRETTY_NAME)
	id=$(os_release_value "$file" ID)
	like=" $(os_release_value "$file" ID_LIKE) "
	version=$(os_release_value "$file" VERSION_ID)
	codename=$(os_release_value "$file" VERSION_CODENAME)
	name=${name:-$id $version}
	[[ $id == debian || $id == raspbian ]] && debian=true
	if [[ $debian == false && $like != *" debian "* ]]; then
		die "this is $name, not Raspberry Pi OS or Debian: this script installs with apt what Debian 12 and 13 \
name; nothing was changed. $OS_ADVICE"
	fi
	if [[ $debian == true && $version =~ ^[0-9]+$ ]] && ((version < 12)); then
		die "this is $name: the listener needs Debian 12 (Bookworm) or 13 (Trixie), whose Python is 3.11 or \
newer (Debian $version's is older); nothing was changed. $OS_ADVICE"
	fi
	[[ $debian == true && ($codename == bookworm || $codename == trixie) ]] && return 0
	warn "this is $name, on which this script was never tried (it is for Raspberry Pi OS, Debian 12 Bookworm or 13 \
Trixie): it may lack an apt package or a pinned wheel, and stop halfway. $OS_ADVICE"
}

# What an installer images a Pi with, in Raspberry Pi Imager's words.
OS_ADVICE="For a device, image the card with Raspberry Pi OS (64-bit), which is Trixie, or Raspberry Pi OS \
(Legacy, 64-bit), which is Bookworm (Raspberry Pi Imager offers both; Lite or with desktop)."

# Field $2 of os-release file $1, unquoted (the file is shell syntax, but read, not run: it may be a card's).
os_release_value() {
	sed -n "s/^$2=//p" "$1" | tail -n 1 | sed -e 's/^"\(.*\)"$/\1/' -e "s/^'\(.*\)'$/\1/"
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
