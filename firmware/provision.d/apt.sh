# shellcheck shell=bash disable=SC2034,SC2153
# Sourced by firmware/provision.sh, whose settings and helpers these functions use. Checked alone, this
# file reads settings it does not set (SC2153) and sets some that other files read (SC2034): checking
# firmware/provision.sh follows it there with both in view (firmware/.shellcheckrc).
# apt-get in the target, run once no other program holds the locks its step takes (packages.sh's apt_install
# uses it).

# apt-get $@ in the target, once no other program holds a lock its step takes (PackageKit on a desktop image, an
# apt in another ssh session), waiting for that up to APT_LOCK_WAIT_S: apt failed at once, and the script blamed
# the network. apt-get install could wait for dpkg's lock itself (DPkg::Lock::Timeout), but apt-get update fails
# at once on the lists' lock whatever that option says (apt 2.6, Debian 12's: measured), so the script waits for
# both, and keeps the option for a lock taken between its look and apt's. Fails with APT_LOCKED naming the lock
# and its holder when one is held still.
apt_get() {
	local deadline=$((SECONDS + APT_LOCK_WAIT_S)) left
	while apt_lock_wait "$1" "$deadline"; do
		left=$((deadline - SECONDS))
		((left > 0)) || left=0
		run env DEBIAN_FRONTEND=noninteractive apt-get -o "DPkg::Lock::Timeout=$left" "$@" && return 0
		# failed for another reason, its own words above say which; or taken since the look: wait again
		APT_LOCKED=$(apt_lock_held "$1") || return 1
	done
	return 1
}

# Waits until no process holds a lock of apt step $1 (update, or install), or fails once the deadline $2 (in
# SECONDS) has passed with APT_LOCKED naming the lock that is held.
apt_lock_wait() {
	local said=0
	while APT_LOCKED=$(apt_lock_held "$1"); do
		((SECONDS < $2)) || return 1
		((said)) || say "note: $APT_LOCKED: waiting for it, up to $APT_LOCK_WAIT_S s"
		said=1
		sleep "$APT_LOCK_POLL_S"
	done
	APT_LOCKED=""
}

# The end of a run whose apt step $1 failed while another program holds its lock, naming it: not the network's.
apt_lock_die() {
	[[ -z $APT_LOCKED ]] || die "$1 could not run: $APT_LOCKED, still after $APT_LOCK_WAIT_S s (PackageKit on a \
desktop image, an apt or unattended-upgrades at work): let it finish, then run this again (what it did so far is kept)"
}

# Which of apt's locks for step $1 (update, or install) another process holds, and which process (from the kernel's
# /proc/locks: no fuser, which is in psmisc, and no parsing of apt's words, which are in the device's language);
# fails when none is.
apt_lock_held() {
	local lock pid name locks=("${APT_INSTALL_LOCKS[@]}")
	[[ $1 != update ]] || locks=("${APT_UPDATE_LOCKS[@]}")
	for lock in "${locks[@]}"; do
		[[ -f $(target "$lock") ]] || continue
		pid=$(lock_holder "$(target "$lock")") || continue
		name=$(cat "/proc/$pid/comm" 2>/dev/null) || continue # it ended since: the lock is free
		say "$lock is held by process $pid ($name; \`ps -fp $pid\` shows it)"
		return 0
	done
	return 1
}

# The process that holds a lock on file $1, from /proc/locks, whose lines name a file by its device (major:minor,
# in hex) and inode: "1: POSIX  ADVISORY  WRITE 8081 fe:00:2713952 0 EOF"; a "->" line is one waiting for it.
lock_holder() {
	local id dev major minor
	id=$(stat -c '%D %i' "$1") || return 1
	dev=$((16#${id% *}))
	major=$((((dev >> 8) & 0xfff) | ((dev >> 32) & ~0xfff)))
	minor=$(((dev & 0xff) | ((dev >> 12) & ~0xff)))
	awk -v file="$(printf '%02x:%02x' "$major" "$minor"):${id#* }" \
		'$2 != "->" && $6 == file { print $5; found = 1; exit } END { exit !found }' /proc/locks
}
