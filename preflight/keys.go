package preflight

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	iam "github.com/scaleway/scaleway-sdk-go/api/iam/v1alpha1"
	"golang.org/x/crypto/ssh"
)

// keyMaterial is an OpenSSH public key without its comment: "type base64".
// IAM stores keys without their comment, so two lines that differ only there
// are the same key. Lines that do not parse keep their first two fields.
func keyMaterial(line string) (string, bool) {
	if pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line)); err == nil {
		return string(bytes.TrimSpace(ssh.MarshalAuthorizedKey(pk))), true
	}
	f := strings.Fields(line)
	if len(f) < 2 {
		return strings.TrimSpace(line), false
	}
	return f[0] + " " + f[1], false
}

// keyCheck is what checkKeys needs.
type keyCheck struct {
	operatorKey string   // network:sshPublicKey, may be empty
	managed     []string // names of the keys the stack creates itself
	keys        []*iam.SSHKey
}

// checkKeys finds the operator's key among the project's keys and digests
// the keys the bastion imports.
//
// The operator's key is "in the project" when a key with the same material
// exists under a name the stack does not manage: the bastion already trusts
// it, and a second copy would only be a duplicate that the stack's destroy
// removes while the person's own stays. Under a managed name it is the
// stack's own, created by an earlier run.
//
// The digest covers the enabled keys under names the stack does not manage,
// as sorted "id type base64" lines: the bastion imports the project's enabled
// keys, so a key added, removed, replaced, enabled or disabled there changes
// the digest. The stack's own keys are left out: they do not exist yet on
// the first run, and their resource ids already mark their changes, so the
// digest stays the same from one run to the next while the project does.
func checkKeys(c keyCheck) (inProject bool, digest string, warnings []string, errs []error) {
	var operator string
	if c.operatorKey != "" {
		m, ok := keyMaterial(c.operatorKey)
		if !ok {
			errs = append(errs, fmt.Errorf("network:sshPublicKey is not an OpenSSH public key (type, base64 and an optional comment, as in ~/.ssh/id_ed25519.pub): set it to the content of your .pub file, or leave it empty"))
		} else {
			operator = m
		}
	}

	var lines []string
	for _, k := range c.keys {
		if k == nil {
			continue
		}
		material, _ := keyMaterial(k.PublicKey)
		managed := slices.Contains(c.managed, k.Name)
		if operator != "" && material == operator && !managed {
			inProject = true
			if k.Disabled {
				warnings = append(warnings, fmt.Sprintf("network:sshPublicKey is the project's IAM SSH key %q (%s), which is disabled, so the bastion will not accept it: enable it (Scaleway console, IAM, SSH keys) or set network:sshPublicKey to another key", k.Name, k.ID))
			} else {
				warnings = append(warnings, fmt.Sprintf("network:sshPublicKey is already the project's IAM SSH key %q (%s): the stack uses it as it is and does not create a copy", k.Name, k.ID))
			}
		}
		if managed || k.Disabled {
			continue
		}
		lines = append(lines, k.ID+" "+material+"\n")
	}
	slices.Sort(lines)
	sum := sha256.Sum256([]byte(strings.Join(lines, "")))
	return inProject, hex.EncodeToString(sum[:]), warnings, errs
}
