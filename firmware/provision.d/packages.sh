# shellcheck shell=bash disable=SC2034,SC2153
# Sourced by firmware/provision.sh, whose settings and helpers these functions use. Checked alone, this
# file reads settings it does not set (SC2153) and sets some that other files read (SC2034): checking
# firmware/provision.sh follows it there with both in view (firmware/.shellcheckrc).
# apt packages (apt_get, which waits for apt's locks, is in apt.sh), the listener package in its venv
# (reinstalled only when its files or pins change), the command's link and the optional vosk model.

pkg_installed() {
	# shellcheck disable=SC2016 # ${Status} is dpkg-query's field, not a shell variable
	dpkg-query --admindir="$(target /var/lib/dpkg)" -W -f='${Status}' "$1" 2>/dev/null |
		grep -q 'install ok installed'
}

# A clock behind fails apt and https ("not valid yet"), one a few days behind too, which no floor
# catches: every network step's failure names it beside the network.
# shellcheck disable=SC2016 # `date` is for the installer to type, not to run here
CLOCK_BEHIND='the clock (`date`: apt and https refuse files "not valid yet" when it is behind)'

# apt refuses its archive's Release files ("not valid yet") by a clock behind, and curl and pip the servers'
# certificates: an image's first run (its build date, months old where the network blocks NTP) stopped
# halfway, told to check the network. Only a run that will download is checked, as its steps decide it: one
# that downloads nothing (--no-apt --no-pip, a file:// model, or all of it in place already) writes files
# alone, and the listener judges its own clock once it runs (the journal, listener doctor). A run again on
# a provisioned device is not held to it: a card provisioned on a PC (--root) boots on the image's date,
# which fake-hwclock keeps until NTP sets the clock. Under --root, this machine's clock is the one apt
# (chrooted) and pip run on.
check_clock_early() {
	apt_due || package_due || model_due || return 0
	(($(date +%s) >= $(date -u -d "$CLOCK_FLOOR" +%s))) && return 0
	die "the clock reads $(date '+%Y-%m-%d %H:%M %Z'), before $CLOCK_FLOOR 00:00 UTC, when this script was written: \
apt and https downloads (pip, the vosk model) refuse files as \"not valid yet\" by it; nothing was changed. \
Let NTP set it (\`timedatectl status\` says \"System clock synchronized: yes\" once it has; the network must \
let UDP port 123 out), or where the network blocks NTP set it by hand: sudo date -s \"YYYY-MM-DD HH:MM\"; \
then run this again"
}

# Whether this run installs an apt package, as ensure_apt_packages decides.
apt_due() {
	((!NO_APT)) || return 1
	apt_missing
	((${#APT_MISSING[@]} > 0))
}

# Whether this run pip-installs the package, as ensure_package decides (a venv made again has none).
package_due() {
	((!NO_PIP)) || return 1
	! venv_whole || ! package_installed "$(source_digest)"
}

# Whether this run downloads the vosk model, as ensure_vosk_model decides (a file:// one is no download).
model_due() {
	[[ -n $VOSK_MODEL && $VOSK_URL != file://* ]] && ! model_installed
}

apt_install() {
	local again="then run this again (what it did so far is kept)"
	if ! apt_get update; then
		apt_lock_die "apt-get update"
		die "apt-get update failed (its reason above): check the network, $CLOCK_BEHIND and /etc/apt/sources.list*; $again"
	fi
	if ! apt_get install -y --no-install-recommends "$@"; then
		apt_lock_die "apt-get install"
		die "apt-get could not install $* (its reason above): check the network and $CLOCK_BEHIND, or that the image is Raspberry Pi OS / Debian 12 Bookworm or 13 Trixie; $again"
	fi
}

# The apt packages this run installs, in APT_MISSING; of APT_PI_PACKAGES, those not installed that the
# target's apt sources lack in APT_SKIPPED, and in APT_UNSURE (missing too) those a dry run not as root
# cannot look up. One decision for ensure_apt_packages and for check_clock_early (apt_due).
apt_missing() {
	local pkg found
	APT_MISSING=() APT_SKIPPED=() APT_UNSURE=()
	for pkg in "${APT_PACKAGES[@]}"; do pkg_installed "$pkg" || APT_MISSING+=("$pkg"); done
	for pkg in "${APT_PI_PACKAGES[@]}"; do
		pkg_installed "$pkg" && continue
		found=0
		in_apt_sources "$pkg" || found=$?
		case $found in
		1) APT_SKIPPED+=("$pkg") ;;
		2) APT_UNSURE+=("$pkg") APT_MISSING+=("$pkg") ;;
		*) APT_MISSING+=("$pkg") ;;
		esac
	done
}

ensure_apt_packages() {
	local pkg
	if ((NO_APT)); then
		say "skip: apt packages (--no-apt)"
		return 0
	fi
	apt_missing
	for pkg in "${APT_SKIPPED[@]}"; do skip_pi_package "$pkg"; done
	for pkg in "${APT_UNSURE[@]}"; do
		say "note: $pkg is installed only if the apt sources in $ROOT have it; a dry run not as root cannot look there"
	done
	((${#APT_MISSING[@]} == 0)) || change "apt-get install ${APT_MISSING[*]}" apt_install "${APT_MISSING[@]}"
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
(the network, a proxy in pip.conf) and $CLOCK_BEHIND; then run this again (what it did so far is kept)"
	# --use-pep517: a pin without a wheel (srt: a setup.py, no pyproject.toml) is built with
	# setuptools from PyPI, never with what the venv sees. Debian 13's python3-pkg-resources (gpiozero's
	# dependency) leaves a setuptools/ folder without setuptools, which pip took for one and ran setup.py
	# with: "No module named 'distutils'" (gone in Python 3.12) stopped a Trixie device's install.
	local pip=("$VENV/bin/pip" install --disable-pip-version-check --no-input --use-pep517)
	run "${pip[@]}" --upgrade -c "$constraints" "$spec" || die "$failed"
	if [[ -f $SOURCE ]]; then
		# pip keeps an installed wheel of the same version even if its content changed.
		run "${pip[@]}" --force-reinstall --no-deps "$spec" || die "$failed"
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
	digest=$(source_digest)
	venv_whole && package_installed "$digest" && return 0
	stop_service_for_pip
	if ! venv_whole; then
		change "create venv $VENV (--system-site-packages, so apt's python3-lgpio serves gpiozero)" \
			run python3 -m venv --clear --system-site-packages "$VENV"
	fi
	PIP_PLANNED=1
	change "pip install $SOURCE into $VENV, versions from $CONSTRAINTS" install_package "$digest"
}

# The listener the run leaves in the venv, in `listener --version`'s words, one line before the count: a device whose
# checkout missed the pull said "no changes", exit 0, as an up-to-date one does, and a fleet script had to ask each
# device's listener --version apart. A dry run, or --no-pip, names what is there now and what the source holds.
report_build() {
	local now from
	now=$(package_build "$(target "$VENV")")
	if ((NO_PIP)); then
		from=$(package_build "$SOURCE")
		[[ $from != "$now" || $from != listener* ]] || from="the same build"
		say "$now in $VENV, left as it was (--no-pip); $SOURCE holds $from"
	elif ((DRY_RUN && PIP_PLANNED)); then
		say "$(package_build "$SOURCE") would be installed in $VENV (dry run); there now: $now"
	else
		say "$now installed in $VENV"
	fi
}

# What the package at $1 says it is: a venv (its site-packages), a checkout, a wheel or an sdist. Read with this
# machine's python3 by the package's own listener/build.py, so in the words `listener --version` prints; not by
# running the venv's listener, which under --root is a chroot, and under emulation a second's start. -S: no site
# folder's listener (an editable install's finder) is imported instead; -B: nothing is written into the target.
package_build() {
	local said
	command -v python3 >/dev/null || {
		printf 'a listener whose build is not read (no python3 here: listener --version on the device says it)'
		return 0
	}
	if said=$(python3 -I -S -B - "$1" 2>&1 <<'PY'
import sys, tarfile, tempfile, zipfile
from pathlib import Path, PurePosixPath

def unpack(archive, into):
    """The package's files of a wheel (listener/...) or an sdist (listener-0.1.0/listener/...) into ``into``."""
    if zipfile.is_zipfile(archive):
        zf = zipfile.ZipFile(archive)
        members = [(m.filename, lambda m=m: zf.read(m)) for m in zf.infolist() if not m.is_dir()]
    else:
        tf = tarfile.open(archive)
        members = [(m.name.partition("/")[2], lambda m=m: tf.extractfile(m).read()) for m in tf if m.isfile()]
    for name, read in members:
        parts = PurePosixPath(name).parts
        if parts[:1] == ("listener",) and ".." not in parts:
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            (into / name).write_bytes(read())

def site_packages(venv):
    """The venv's own Python's (pyvenv.cfg), where an OS upgrade left another's folder beside it."""
    config = venv / "pyvenv.cfg"
    lines = config.read_text().splitlines() if config.is_file() else []
    keys = {key.strip(): value.strip() for key, _, value in (line.partition("=") for line in lines)}
    found = sorted(venv.glob(f"lib/python{'.'.join(keys.get('version', '3.*').split('.')[:2])}/site-packages"))
    return found[0] if len(found) == 1 else venv

path = Path(sys.argv[1])
with tempfile.TemporaryDirectory() as unpacked:
    folder = Path(unpacked)
    if path.is_file():
        unpack(path, folder)
    else:
        folder = path if (path / "listener").is_dir() else site_packages(path)  # a checkout, or a venv
    if not (folder / "listener" / "__init__.py").is_file():
        print("no listener")
        sys.exit(0)
    sys.path.insert(0, str(folder))
    import listener
    try:
        from listener.build import version_text
    except ImportError:  # installed before builds were fingerprinted
        print(f"listener {listener.__version__} (build not known: older than listener --version's builds)")
    else:
        print(f"listener {version_text()}")
PY
	); then
		printf '%s' "${said##*$'\n'}" # a warning python3 gave is no part of the answer
	else
		printf 'a listener whose build could not be read (python3: %s)' "${said##*$'\n'}"
	fi
}

# both programs: a venv cut short while ensurepip ran (Ctrl-C, a power cut) has python and no pip
venv_whole() {
	[[ -x $(target "$VENV/bin/python") && -x $(target "$VENV/bin/pip") ]]
}

# Whether the venv holds the package of digest $1. The stamp lives outside the venv: a venv made again (or
# emptied by hand) needs the package again.
package_installed() {
	[[ -x $(target "$VENV/bin/listener") && -f $(target "$SOURCE_STAMP") && $(<"$(target "$SOURCE_STAMP")") == "$1" ]]
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
	download "$VOSK_URL" "$zip" || die "could not download $VOSK_URL: check the network and $CLOCK_BEHIND, or pass --vosk-url with a reachable copy"
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
	local dir=$MODELS_DIR/$VOSK_NAME
	[[ -n $VOSK_MODEL ]] || return 0
	model_installed && return 0
	change "download $VOSK_URL, check SHA-256 $VOSK_SHA256, unpack to $dir" fetch_vosk_model "$dir"
}

model_installed() {
	local stamp
	stamp=$(target "$MODELS_DIR/$VOSK_NAME/.sha256")
	[[ -f $stamp && $(<"$stamp") == "$VOSK_SHA256" ]]
}
