package preflight

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	iam "github.com/scaleway/scaleway-sdk-go/api/iam/v1alpha1"
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
	// Clusters are the Kapsule clusters the stack declares, all in Region.
	Clusters []Cluster
	// NodeTypes are the node types of the clusters' pools.
	NodeTypes []NodeType
	// InstanceType and Image are gitlabHost:instanceType and gitlabHost:image
	// (a marketplace label, e.g. "ubuntu_noble"), both checked in Zone.
	InstanceType, Image string
	// OperatorPublicKey is network:sshPublicKey; may be empty.
	OperatorPublicKey string
	// ManagedKeyNames are the names of the IAM SSH keys the stack creates
	// itself, e.g. "glk-dev-automation" and "glk-dev-operator".
	ManagedKeyNames []string
}

// Cluster is one Kapsule cluster of the stack.
type Cluster struct {
	// Name is the name the stack gives it, e.g. "glk-dev-kapsule": a live
	// cluster of that name is the stack's. Each cluster has its own.
	Name string
	// Version is its configured version: "1.36" (a minor: Scaleway applies
	// patches) or "1.36.1" (a full version).
	Version string
	// VersionKey is the configuration key of Version, named in messages,
	// e.g. "kapsule:version" or "kapsule:clusters[1].version".
	VersionKey string
}

// NodeType is the node type of one pool.
type NodeType struct {
	// Key is its configuration key, named in messages, e.g.
	// "kapsule:nodeType" or "kapsule:clusters[0].pools[1].nodeType".
	Key string
	// Name is the type, e.g. "PRO2-XXS".
	Name string
	// Zone is the pool's zone; empty means Input.Zone.
	Zone string
}

// Result is what the program learns from Scaleway.
type Result struct {
	// KapsuleVersions are the versions to declare, by Cluster.Name: the
	// configured one, or the live cluster's when Scaleway upgraded it past
	// the configured one (in the configured form, minor or full; with a
	// warning).
	KapsuleVersions map[string]string
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
// too. Each question is asked once, all of them concurrently: the versions
// of the region, the stack's live clusters, the instance types of each zone,
// the image and the project's SSH keys.
func Check(ctx context.Context, api API, in Input) (Result, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, Timeout)
		defer cancel()
	}
	res := Result{KapsuleVersions: make(map[string]string, len(in.Clusters))}
	for _, c := range in.Clusters {
		res.KapsuleVersions[c.Name] = c.Version
	}
	project := in.ProjectID
	if project == "" {
		project = api.DefaultProjectID()
	}

	var (
		qs                   questions
		versionsQ, clustersQ *question
		imagesQ, keysQ       *question
		versions             []*k8s.Version
		clusters             []*k8s.Cluster
		images               []*marketplace.LocalImage
		keys                 []*iam.SSHKey
		errs                 []error
	)
	versioned := slices.DeleteFunc(slices.Clone(in.Clusters), func(c Cluster) bool { return c.Version == "" })
	if len(versioned) > 0 {
		versionsQ = qs.add(fmt.Sprintf("listing the Kapsule versions of %s (scaleway:region)", in.Region), func() (err error) {
			versions, err = api.KapsuleVersions(ctx, in.Region)
			return err
		})
	}
	if names := clusterNames(versioned); len(names) > 0 {
		clustersQ = qs.add(lookingFor(names, in.Region), func() (err error) {
			clusters, err = api.KapsuleClusters(ctx, in.Region, project, commonPrefix(names))
			return err
		})
	}
	wanted := typesToFind(in)
	zones := map[string]*zoneTypes{}
	for _, t := range wanted {
		if zones[t.zone] != nil {
			continue
		}
		z := &zoneTypes{}
		z.q = qs.add(fmt.Sprintf("listing the instance types of %s (%s)", t.zone, zoneSource(t.zone, in.Zone, wanted)), func() (err error) {
			z.types, err = api.ServerTypes(ctx, t.zone)
			return err
		})
		zones[t.zone] = z
	}
	if in.Image != "" {
		imagesQ = qs.add(fmt.Sprintf("looking up gitlabHost:image %q in %s", in.Image, in.Zone), func() (err error) {
			images, err = api.LocalImages(ctx, in.Zone, in.Image)
			return err
		})
	}
	if project == "" {
		errs = append(errs, fmt.Errorf("no Scaleway project to check the SSH keys of: set %s (or %s)", EnvProjectID, KeyProjectID))
	} else {
		keysQ = qs.add(fmt.Sprintf("listing the IAM SSH keys of project %s", project), func() (err error) {
			keys, err = api.SSHKeys(ctx, project)
			return err
		})
	}
	qs.run()

	if err := qs.unauthorized(); err != nil {
		return res, fmt.Errorf("preflight against the Scaleway API:\n%w", err)
	}

	// Kapsule versions, each cluster against its live namesake.
	errs = append(errs, sharedNames(in.Clusters)...)
	if versionsQ.answered() {
		offered := offeredVersions(versions, time.Now())
		for _, c := range versioned {
			var live *k8s.Cluster
			if c.Name != "" {
				if !clustersQ.answered() {
					continue
				}
				var warnings []string
				live, warnings = liveCluster(clusters, c.Name, c.VersionKey)
				res.Warnings = append(res.Warnings, warnings...)
			}
			version, warnings, problems := checkVersion(versionCheck{
				configured:  c.Version,
				key:         c.VersionKey,
				region:      in.Region,
				clusterName: c.Name,
				offered:     offered,
				live:        live,
			})
			res.KapsuleVersions[c.Name] = version
			res.Warnings = append(res.Warnings, warnings...)
			errs = append(errs, problems...)
		}
	}

	// Node and instance types, each in its zone, and the image for the
	// instance type.
	instanceType := ""
	for _, t := range wanted {
		z := zones[t.zone]
		if !z.q.answered() {
			continue
		}
		name, warnings, err := findType(t, z.types)
		res.Warnings = append(res.Warnings, warnings...)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if t.key == instanceTypeKey {
			instanceType = name
		}
	}
	if imagesQ.answered() {
		if err := checkImage(in.Image, in.Zone, instanceType, images); err != nil {
			errs = append(errs, err)
		}
	}

	// SSH keys.
	if keysQ.answered() {
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

	errs = append(errs, qs.errs()...)
	if err := errors.Join(errs...); err != nil {
		return res, fmt.Errorf("preflight against the Scaleway API:\n%w", err)
	}
	return res, nil
}
