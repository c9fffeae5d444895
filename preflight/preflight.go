package preflight

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	iam "github.com/scaleway/scaleway-sdk-go/api/iam/v1alpha1"
	"github.com/scaleway/scaleway-sdk-go/api/instance/v1"
	k8s "github.com/scaleway/scaleway-sdk-go/api/k8s/v1"
	marketplace "github.com/scaleway/scaleway-sdk-go/api/marketplace/v2"
)

// Input is what the checks need: plain values of config.Config, which the
// caller copies in. An empty value skips the checks that need it.
type Input struct {
	// Region and Zone are scaleway:region and scaleway:zone.
	Region, Zone string
	// ProjectID is the project to deploy into; empty means the API's default
	// (Credentials.ProjectID).
	ProjectID string
	// KapsuleVersion is kapsule:version: "1.36" (a minor: Scaleway applies
	// patches) or "1.36.1" (a full version).
	KapsuleVersion string
	// KapsuleClusterName is the name the stack gives its cluster, e.g.
	// "glk-dev-kapsule": a live cluster of that name is the stack's.
	KapsuleClusterName string
	// NodeType is kapsule:nodeType, e.g. "PRO2-XXS".
	NodeType string
	// InstanceType and Image are gitlabHost:instanceType and gitlabHost:image
	// (a marketplace label, e.g. "ubuntu_noble").
	InstanceType, Image string
	// OperatorPublicKey is network:sshPublicKey; may be empty.
	OperatorPublicKey string
	// ManagedKeyNames are the names of the IAM SSH keys the stack creates
	// itself, e.g. "glk-dev-automation" and "glk-dev-operator".
	ManagedKeyNames []string
}

// Result is what the program learns from Scaleway.
type Result struct {
	// KapsuleVersion is the version to declare: the configured one, or the
	// live cluster's when Scaleway upgraded it past the configured one (in
	// the configured form, minor or full; with a warning).
	KapsuleVersion string
	// OperatorKeyInProject: network:sshPublicKey is already an IAM SSH key of
	// the project under a name the stack does not manage, so the stack must
	// not create it again.
	OperatorKeyInProject bool
	// ProjectKeysDigest is a hex SHA-256 of the project's enabled IAM SSH
	// keys outside ManagedKeyNames (ids and key material; see checkKeys). The
	// bastion imports the project's keys only when enabled or refreshed: as
	// part of the gateway's refreshSshKeys, a key added or removed in the
	// project makes the next up re-import them.
	ProjectKeysDigest string
	// Warnings are worth a line in the log; none stops the deployment.
	Warnings []string
}

// Timeout bounds Check when ctx has no deadline of its own.
const Timeout = 30 * time.Second

// Check asks Scaleway what only it knows about in and returns every problem
// at once (errors.Join), each naming its configuration key and the fix. A
// refused API key is the only problem reported then (errors.Is
// ErrUnauthorized). It reads only: nothing is created, so it suits preview
// too. The calls run concurrently.
func Check(ctx context.Context, api API, in Input) (Result, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, Timeout)
		defer cancel()
	}
	res := Result{KapsuleVersion: in.KapsuleVersion}
	project := in.ProjectID
	if project == "" {
		project = api.DefaultProjectID()
	}

	var (
		wg          sync.WaitGroup
		versions    []*k8s.Version
		clusters    []*k8s.Cluster
		serverTypes map[string]*instance.ServerType
		images      []*marketplace.LocalImage
		keys        []*iam.SSHKey
		fetchErrs   [5]error
	)
	// fetch asks one question in parallel with the others; its error says what was asked.
	fetch := func(i int, what string, ask func() error) {
		wg.Go(func() {
			if err := ask(); err != nil {
				fetchErrs[i] = apiError(what, err)
			}
		})
	}
	if in.KapsuleVersion != "" {
		fetch(0, fmt.Sprintf("listing the Kapsule versions of %s (scaleway:region)", in.Region), func() (err error) {
			versions, err = api.KapsuleVersions(ctx, in.Region)
			return err
		})
		if in.KapsuleClusterName != "" {
			fetch(1, fmt.Sprintf("looking for Kapsule cluster %q in %s", in.KapsuleClusterName, in.Region), func() (err error) {
				clusters, err = api.KapsuleClusters(ctx, in.Region, project, in.KapsuleClusterName)
				return err
			})
		}
	}
	if in.NodeType != "" || in.InstanceType != "" {
		fetch(2, fmt.Sprintf("listing the instance types of %s (scaleway:zone)", in.Zone), func() (err error) {
			serverTypes, err = api.ServerTypes(ctx, in.Zone)
			return err
		})
	}
	if in.Image != "" {
		fetch(3, fmt.Sprintf("looking up gitlabHost:image %q in %s", in.Image, in.Zone), func() (err error) {
			images, err = api.LocalImages(ctx, in.Zone, in.Image)
			return err
		})
	}
	var errs []error
	if project == "" {
		errs = append(errs, fmt.Errorf("no Scaleway project to check the SSH keys of: set %s (or %s)", EnvProjectID, KeyProjectID))
	} else {
		fetch(4, fmt.Sprintf("listing the IAM SSH keys of project %s", project), func() (err error) {
			keys, err = api.SSHKeys(ctx, project)
			return err
		})
	}
	wg.Wait()

	for _, err := range fetchErrs {
		if errors.Is(err, ErrUnauthorized) {
			return res, fmt.Errorf("preflight against the Scaleway API:\n%w", err)
		}
	}

	// Kapsule version.
	if in.KapsuleVersion != "" && fetchErrs[0] == nil && fetchErrs[1] == nil {
		live, warnings := liveCluster(clusters, in.KapsuleClusterName)
		res.Warnings = append(res.Warnings, warnings...)
		version, warnings, problems := checkVersion(versionCheck{
			configured:  in.KapsuleVersion,
			region:      in.Region,
			clusterName: in.KapsuleClusterName,
			offered:     offeredVersions(versions, time.Now()),
			live:        live,
		})
		res.KapsuleVersion = version
		res.Warnings = append(res.Warnings, warnings...)
		errs = append(errs, problems...)
	}

	// Node and instance types, and the image for the instance type.
	instanceType := ""
	if fetchErrs[2] == nil {
		for _, t := range []struct{ key, name string }{{"kapsule:nodeType", in.NodeType}, {"gitlabHost:instanceType", in.InstanceType}} {
			if t.name == "" {
				continue
			}
			name, st, err := findType(t.key, t.name, in.Zone, serverTypes)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if name != t.name {
				res.Warnings = append(res.Warnings, fmt.Sprintf("%s %q is spelled %q by Scaleway: set it so", t.key, t.name, name))
			}
			if st != nil && st.EndOfService {
				res.Warnings = append(res.Warnings, fmt.Sprintf("%s %q has reached end of service in %s, so Scaleway may refuse new instances of it: set %s to a current type", t.key, name, in.Zone, t.key))
			}
			if t.key == "gitlabHost:instanceType" {
				instanceType = name
			}
		}
	}
	if in.Image != "" && fetchErrs[3] == nil {
		if err := checkImage(in.Image, in.Zone, instanceType, images); err != nil {
			errs = append(errs, err)
		}
	}

	// SSH keys.
	if fetchErrs[4] == nil && project != "" {
		inProject, digest, warnings, problems := checkKeys(keyCheck{
			operatorKey: in.OperatorPublicKey,
			managed:     in.ManagedKeyNames,
			keys:        keys,
		})
		res.OperatorKeyInProject = inProject
		res.ProjectKeysDigest = digest
		res.Warnings = append(res.Warnings, warnings...)
		errs = append(errs, problems...)
	}

	errs = append(errs, fetchErrs[:]...)
	if err := errors.Join(errs...); err != nil {
		return res, fmt.Errorf("preflight against the Scaleway API:\n%w", err)
	}
	return res, nil
}
