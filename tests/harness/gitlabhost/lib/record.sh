# Sourced by every stand-in of the GitLab-host sandbox (tests/harness/gitlabhost.go).
#   record NAME ARGS...  appends "NAME ARGS..." to /standin/log/calls.log, the
#                        ordered call log tests read, and every process's
#                        command line (what ps shows) to /standin/log/ps.log,
#                        where tests look for leaked secrets
#   record_env NAME VAR...  the values of VAR... as NAME got them, in
#                        /standin/secrets/env.log (root-only, outside the
#                        sandbox's scanned files): tests check the new value arrived
# GLK_STANDIN_QUIET=1 (the harness's own set-up) records nothing.
# shellcheck shell=bash

record() {
	[[ -z "${GLK_STANDIN_QUIET:-}" ]] || return 0
	local IFS=' '
	printf '%s\n' "$*" >>/standin/log/calls.log
	local p
	# Every process but the sandbox's init (bwrap itself, whose arguments
	# are the harness's).
	for p in /proc/[0-9]*; do
		[[ "$p" != /proc/1 && -r "$p/cmdline" ]] || continue
		tr '\0' ' ' <"$p/cmdline" 2>/dev/null || true
		printf '\n'
	done >>/standin/log/ps.log
}

record_env() {
	[[ -z "${GLK_STANDIN_QUIET:-}" ]] || return 0
	local name=$1 v
	shift
	for v in "$@"; do
		if [[ -n "${!v+set}" ]]; then
			printf '%s %s=%s\n' "$name" "$v" "${!v}" >>/standin/secrets/env.log
		fi
	done
}

standin_fail() {
	printf '%s stand-in: %s\n' "$(basename "$0")" "$*" >&2
	exit 1
}

# Service states of the stand-in runit (gitlab-ctl start/stop), on the sandbox's /run.
readonly standin_services=/run/glk-standin/services
# shellcheck disable=SC2034 # used by the stand-ins that source this file
readonly standin_all_services="gitaly gitlab-kas gitlab-workhorse logrotate nginx postgresql puma redis sidekiq"

service_state() { cat "$standin_services/$1" 2>/dev/null || echo down; }
set_service() {
	mkdir -p "$standin_services"
	printf '%s\n' "$2" >"$standin_services/$1"
}

# The GitLab version the installed package carries, as the Rails app's
# VERSION file holds it: 18.5.2 for 18.5.2-ce.0, 18.5.2-ee for 18.5.2-ee.0.
gitlab_version_of() {
	local v=$1
	case "$v" in
	*-ee.*) printf '%s-ee' "${v%%-ee.*}" ;;
	*) printf '%s' "${v%%-ce.*}" ;;
	esac
}

# The stand-in data disk (tests/harness/gitlabhost.go): the device file holds
# the filesystem's superblock as KEY=value lines (TYPE, UUID, BLOCK_SIZE,
# BLOCK_COUNT, BLOCKS_PER_GROUP, RESERVED_BLOCKS), written by mkfs.ext4 and
# resize2fs; its contents are the directory /var/lib/glk-standin/volumes/<by-id name>.fs.
#   disk_name DEV       the kernel's name of DEV (sdb), through its by-id link
#   device_bytes DEV    the size the kernel knows (/sys/block/<disk>/size,
#                       512-byte sectors), which takes the cloud's capacity
#                       (/standin/cloud/<disk>.capacity) once 1 was written to
#                       /sys/block/<disk>/device/rescan since it changed, as
#                       the SCSI rescan attribute makes the kernel re-read it
#   sb DEV KEY          a superblock field; sb_set DEV KEY VALUE
disk_name() { basename "$(readlink -f "$1")"; }
device_bytes() {
	local disk sys
	disk=$(disk_name "$1")
	sys=/sys/block/$disk
	[[ -f "$sys/size" ]] || standin_fail "$1 is not a (stand-in) disk"
	if [[ -s "$sys/device/rescan" && -f "/standin/cloud/$disk.capacity" ]]; then
		printf '%s\n' "$(($(cat "/standin/cloud/$disk.capacity") / 512))" >"$sys/size"
	fi
	printf '%s' "$(($(cat "$sys/size") * 512))"
}
sb() { sed -n "s/^$2=//p" "$1" | head -n 1; }
sb_set() {
	local tmp
	tmp=$(grep -v "^$2=" "$1" || true)
	printf '%s\n%s=%s\n' "$tmp" "$2" "$3" | sed '/^$/d' >"$1"
}

# record_archive ID FILE: the archive gitlab-backup made, "<ID> <sha256>", in
# /standin/log/archives.log: tests check the bucket holds the same bytes.
record_archive() {
	[[ -z "${GLK_STANDIN_QUIET:-}" ]] || return 0
	printf '%s %s\n' "$1" "$(sha256sum "$2" | cut -d ' ' -f 1)" >>/standin/log/archives.log
}
