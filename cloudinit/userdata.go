package cloudinit

import (
	"fmt"

	"sigs.k8s.io/yaml"
)

const cloudConfigHeader = "#cloud-config\n"

// CloudConfig is the subset of cloud-config the host needs. It is built as
// data and marshalled, so no value can break the YAML around it; tests read
// the rendered user-data back into it.
type CloudConfig struct {
	PackageUpdate bool     `json:"package_update"`
	Packages      []string `json:"packages"`
}

// BasePackages are what the host needs before GitLabConfigured first reaches
// it: the tools its scripts use to add GitLab's package repository (curl,
// gnupg, ca-certificates) and Omnibus's own dependencies (perl, tzdata;
// GitLab's install docs for Ubuntu), plus the SSH server it is reached by.
var BasePackages = []string{"ca-certificates", "curl", "gnupg", "openssh-server", "perl", "tzdata"}

// UserData returns the host's #cloud-config user-data. It holds no secret and
// nothing that changes with the configuration: changing it does nothing on a
// running host (cloud-init applies it at the first boot only), so it never
// needs to.
func UserData() (string, error) {
	body, err := yaml.Marshal(CloudConfig{PackageUpdate: true, Packages: BasePackages})
	if err != nil {
		return "", fmt.Errorf("marshal cloud-config: %w", err)
	}
	return cloudConfigHeader + string(body), nil
}
