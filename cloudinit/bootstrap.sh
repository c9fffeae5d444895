#!/bin/bash
# First boot of the GitLab host, run once by cloud-init (runcmd).
# Installs the pinned GitLab Omnibus package with the gitlab.rb that cloud-init
# wrote, sets the initial root password, creates the automation token the
# program's GitLab provider uses, then removes the secrets from disk.
#
# If a step fails, the secrets file is kept as cloud-init wrote it (root-only,
# 0600 root:root) so that running this script again as root can finish the
# job: without it the root password and the token could not be set. It is
# shredded only once the token exists. Every step may run again.
set -euo pipefail

readonly env_file=/etc/gitlab-bootstrap/secrets.env
readonly done_marker=/var/lib/gitlab-bootstrap/done
# Root-only as cloud-init writes it (the git group does not exist yet then).
readonly token_script_src=/etc/gitlab-bootstrap/create-admin-token.rb
# The copy gitlab-rails reads as the git user (see create_admin_token).
readonly token_script=/var/lib/gitlab-bootstrap/create-admin-token.rb

log() { printf 'gitlab-bootstrap: %s\n' "$*" >&2; }

step=start
on_exit() {
	local rc=$?
	((rc != 0)) || return 0
	if [[ -e "$env_file" ]]; then
		log "FAILED in step ${step} (exit ${rc}); ${env_file} is kept, readable by root only; fix the cause, then run $0 again as root"
	else
		log "FAILED in step ${step} (exit ${rc})"
	fi
}
trap on_exit EXIT

if [[ -e "$done_marker" ]]; then
	# A run that finished may have been stopped before the shred.
	[[ ! -e "$env_file" ]] || shred -u "$env_file"
	log "already done"
	exit 0
fi

step=secrets
# Only root may read the secrets, also on a rerun whatever happened meanwhile.
chown root:root "$env_file"
chmod 0600 "$env_file"
# shellcheck source=/dev/null
source "$env_file"
: "${GITLAB_PACKAGE:?} ${GITLAB_VERSION:?} ${GITLAB_ROOT_PASSWORD:?} ${GITLAB_ADMIN_TOKEN:?}"

# The host has no public address: its way out is the Public Gateway, whose
# route may arrive a little after boot. Wait for it rather than fail.
wait_for_network() {
	local deadline=$((SECONDS + 1200))
	until curl -fsS --max-time 10 -o /dev/null https://packages.gitlab.com/; do
		if ((SECONDS > deadline)); then
			log "no route to packages.gitlab.com after 20 minutes: check the gateway network (masquerade, default route)"
			return 1
		fi
		sleep 10
	done
}

add_repository() {
	local codename
	# shellcheck source=/dev/null
	codename=$(. /etc/os-release && printf '%s' "$VERSION_CODENAME")
	curl -fsSL "https://packages.gitlab.com/gitlab/${GITLAB_PACKAGE}/gpgkey" |
		gpg --dearmor --yes -o /usr/share/keyrings/gitlab.gpg
	printf 'deb [signed-by=/usr/share/keyrings/gitlab.gpg] https://packages.gitlab.com/gitlab/%s/ubuntu/ %s main\n' \
		"$GITLAB_PACKAGE" "$codename" >/etc/apt/sources.list.d/gitlab.list
	apt-get update -q
}

install_gitlab() {
	# The package's postinst runs `gitlab-ctl upgrade`, which on a fresh host
	# runs reconfigure (external_url is taken from gitlab.rb): that creates the
	# git user and group and, on this first run only, reads GITLAB_ROOT_PASSWORD
	# (omnibus-gitlab config/templates/package-scripts/postinst.erb,
	# files/gitlab-ctl-commands/upgrade.rb, package/recipes/users.rb).
	DEBIAN_FRONTEND=noninteractive GITLAB_ROOT_PASSWORD="$GITLAB_ROOT_PASSWORD" \
		apt-get install -y -q "${GITLAB_PACKAGE}=${GITLAB_VERSION}"
}

# KAS runs as the git user, which the package has just created: give it a
# copy of the TLS key it can read, then restart it. No TLS, nothing to do.
install_kas_key() {
	local key=/etc/gitlab/ssl/gitlab-kapsule.key
	[[ -f "$key" ]] || return 0
	install -o root -g git -m 0640 "$key" /etc/gitlab/ssl/gitlab-kapsule-kas.key
	gitlab-ctl restart gitlab-kas
}

create_admin_token() {
	# /opt/gitlab/bin/gitlab-rails is Omnibus's bundle_exec_wrapper.erb
	# (omnibus-gitlab config/templates/gitlab-rails/bundle_exec_wrapper.erb,
	# installed by config/software/gitlab-rails.rb): it cds to
	# /opt/gitlab/embedded/service/gitlab-rails and runs Rails through
	# `chpst -e .../env -u git:git`, so the runner loads the script as the git
	# user, with git as its only group, keeping the rest of the environment.
	# A root-only script fails there with EACCES. The script holds no secret,
	# so a copy goes where git can read it (root:git 0640, in a directory
	# everyone may traverse), named by an absolute path because of that cd.
	# The token itself travels in the environment, never on a command line
	# (ps shows those) and never in a file git can read.
	install -d -o root -g root -m 0755 "$(dirname "$token_script")"
	install -o root -g git -m 0640 "$token_script_src" "$token_script"
	GITLAB_ADMIN_TOKEN="$GITLAB_ADMIN_TOKEN" gitlab-rails runner "$token_script"
}

for step in wait_for_network add_repository install_gitlab install_kas_key create_admin_token; do
	"$step"
done
step=finish
mkdir -p "$(dirname "$done_marker")"
touch "$done_marker"
shred -u "$env_file"
log "GitLab ${GITLAB_VERSION} is installed"
