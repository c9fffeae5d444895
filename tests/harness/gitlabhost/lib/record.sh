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
