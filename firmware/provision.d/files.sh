# shellcheck shell=bash disable=SC2034,SC2153
# Sourced by firmware/provision.sh, whose settings and helpers these functions use. Checked alone, this
# file reads settings it does not set (SC2153) and sets some that other files read (SC2034): checking
# firmware/provision.sh follows it there with both in view (firmware/.shellcheckrc).
# Writing files into the target (compare first, "would:" under --dry-run), and its users and groups.

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
