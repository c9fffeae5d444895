#!/bin/bash
# First boot of the GitLab host, run once by cloud-init (runcmd).
# Installs the pinned GitLab Omnibus package with the gitlab.rb that cloud-init
# wrote, sets the initial root password, creates the automation token the
# program's GitLab provider uses, then removes the secrets from disk.
set -euo pipefail

readonly env_file=/etc/gitlab-bootstrap/secrets.env
readonly done_marker=/var/lib/gitlab-bootstrap/done

log() { printf 'gitlab-bootstrap: %s\n' "$*" >&2; }

if [[ -e "$done_marker" ]]; then
	log "already done"
	exit 0
fi

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
	# The package's post-install reconfigure reads /etc/gitlab/gitlab.rb and, on
	# this first run only, GITLAB_ROOT_PASSWORD.
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
	# The value travels in the environment, never on a command line (ps shows those).
	GITLAB_ADMIN_TOKEN="$GITLAB_ADMIN_TOKEN" gitlab-rails runner /etc/gitlab-bootstrap/create-admin-token.rb
}

wait_for_network
add_repository
install_gitlab
install_kas_key
create_admin_token
shred -u "$env_file"
mkdir -p "$(dirname "$done_marker")"
touch "$done_marker"
log "GitLab ${GITLAB_VERSION} is installed"
