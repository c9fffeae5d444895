package preflight

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	iam "github.com/scaleway/scaleway-sdk-go/api/iam/v1alpha1"
	"github.com/scaleway/scaleway-sdk-go/api/instance/v1"
	k8s "github.com/scaleway/scaleway-sdk-go/api/k8s/v1"
	marketplace "github.com/scaleway/scaleway-sdk-go/api/marketplace/v2"
	"github.com/scaleway/scaleway-sdk-go/scw"
	"github.com/scaleway/scaleway-sdk-go/validation"
)

// API is the few Scaleway calls Check needs, one per fact. Check calls them
// at the same time: each method once, but ServerTypes once per zone. NewAPI
// implements it on the official SDK, with a client per method.
type API interface {
	// DefaultProjectID is the credentials' project, used when Input.ProjectID is empty.
	DefaultProjectID() string
	// KapsuleVersions lists the Kubernetes versions Kapsule offers in region.
	KapsuleVersions(ctx context.Context, region string) ([]*k8s.Version, error)
	// KapsuleClusters lists the project's clusters in region whose name
	// contains name (all of them when name is empty).
	KapsuleClusters(ctx context.Context, region, projectID, name string) ([]*k8s.Cluster, error)
	// ServerTypes lists the instance types of zone, by commercial type.
	ServerTypes(ctx context.Context, zone string) (map[string]*instance.ServerType, error)
	// LocalImages lists the marketplace images of zone with label, for an
	// SBS root volume (the GitLab host's, components/gitlabhost.go).
	LocalImages(ctx context.Context, zone, label string) ([]*marketplace.LocalImage, error)
	// SSHKeys lists the project's IAM SSH keys, disabled ones included.
	SSHKeys(ctx context.Context, projectID string) ([]*iam.SSHKey, error)
}

// Credentials are what NewAPI needs to call Scaleway.
type Credentials struct {
	AccessKey, SecretKey string
	// ProjectID is the default project (SCW_DEFAULT_PROJECT_ID).
	ProjectID string
	// Region and Zone are the client's defaults; optional.
	Region, Zone string
	// APIURL replaces https://api.scaleway.com; optional.
	APIURL string
}

// The variables and Pulumi configuration keys credentials come from. The
// Scaleway Pulumi provider reads the same pairs, the configuration key first
// (pulumiverse/pulumi-scaleway sdk go/scaleway/config/config.go: GetAccessKey,
// GetSecretKey, GetProjectId, GetRegion, GetZone, GetApiUrl), so preflight
// sees the account the resources will be created in.
const (
	EnvAccessKey = "SCW_ACCESS_KEY"
	EnvSecretKey = "SCW_SECRET_KEY"
	EnvProjectID = "SCW_DEFAULT_PROJECT_ID"
	EnvRegion    = "SCW_DEFAULT_REGION"
	EnvZone      = "SCW_DEFAULT_ZONE"
	EnvAPIURL    = "SCW_API_URL"

	KeyAccessKey = "scaleway:accessKey"
	KeySecretKey = "scaleway:secretKey"
	KeyProjectID = "scaleway:projectId"
	KeyRegion    = "scaleway:region"
	KeyZone      = "scaleway:zone"
	KeyAPIURL    = "scaleway:apiUrl"
)

// CredentialsFromEnv reads the credentials as the Scaleway Pulumi provider
// does: each Pulumi configuration key ("scaleway:accessKey", ...) when set,
// else its variable. It returns the names of the required variables that are
// missing both ways (access key, secret key, project), in that order.
func CredentialsFromEnv(getenv func(string) string, pulumiConfig map[string]string) (Credentials, []string) {
	read := func(key, env string) string {
		if v := strings.TrimSpace(pulumiConfig[key]); v != "" {
			return v
		}
		return strings.TrimSpace(getenv(env))
	}
	c := Credentials{
		AccessKey: read(KeyAccessKey, EnvAccessKey),
		SecretKey: read(KeySecretKey, EnvSecretKey),
		ProjectID: read(KeyProjectID, EnvProjectID),
		Region:    read(KeyRegion, EnvRegion),
		Zone:      read(KeyZone, EnvZone),
		APIURL:    read(KeyAPIURL, EnvAPIURL),
	}
	var missing []string
	for _, r := range []struct{ value, env string }{
		{c.AccessKey, EnvAccessKey}, {c.SecretKey, EnvSecretKey}, {c.ProjectID, EnvProjectID},
	} {
		if r.value == "" {
			missing = append(missing, r.env)
		}
	}
	return c, missing
}

// userAgent tells Scaleway's logs who asked.
const userAgent = "gitlab-kapsule-preflight"

// NewAPI returns the API on scaleway-sdk-go. It checks the credentials'
// format without echoing the secret, and sends nothing yet. Options come
// last, so tests can point it at a stand-in server with scw.WithAPIURL.
func NewAPI(creds Credentials, opts ...scw.ClientOption) (API, error) {
	var errs []error
	if !validation.IsAccessKey(creds.AccessKey) {
		errs = append(errs, fmt.Errorf("the Scaleway access key is malformed (expected SCW and 17 capitals or digits): check %s (or %s)", EnvAccessKey, KeyAccessKey))
	}
	if !validation.IsSecretKey(creds.SecretKey) {
		errs = append(errs, fmt.Errorf("the Scaleway secret key is malformed (expected a UUID): check %s (or %s)", EnvSecretKey, KeySecretKey))
	}
	if creds.ProjectID != "" && !validation.IsProjectID(creds.ProjectID) {
		errs = append(errs, fmt.Errorf("the Scaleway project id %q is not a UUID: check %s (or %s)", creds.ProjectID, EnvProjectID, KeyProjectID))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	options := []scw.ClientOption{scw.WithAuth(creds.AccessKey, creds.SecretKey), scw.WithUserAgent(userAgent)}
	if creds.ProjectID != "" {
		options = append(options, scw.WithDefaultProjectID(creds.ProjectID))
	}
	if creds.Region != "" {
		options = append(options, scw.WithDefaultRegion(scw.Region(creds.Region)))
	}
	if creds.Zone != "" {
		options = append(options, scw.WithDefaultZone(scw.Zone(creds.Zone)))
	}
	if creds.APIURL != "" {
		options = append(options, scw.WithAPIURL(strings.TrimRight(creds.APIURL, "/")))
	}
	options = append(options, opts...)

	// One client per method: scw.Client caches the API metadata that some
	// list calls fetch (GetAPIMetadata in scw/client.go) without a lock, so
	// clients shared by concurrent calls would race. ListServersTypes, which
	// runs once per zone at the same time, does not fetch it
	// (api/instance/v1/instance_sdk.go).
	var clients [5]*scw.Client
	for i := range clients {
		c, err := scw.NewClient(options...)
		if err != nil {
			// The SDK's messages may quote the keys; never print the secret.
			msg := err.Error()
			if creds.SecretKey != "" {
				msg = strings.ReplaceAll(msg, creds.SecretKey, "<secret key>")
			}
			return nil, fmt.Errorf("scaleway client: %s", msg)
		}
		clients[i] = c
	}
	return &sdkAPI{
		projectID:   creds.ProjectID,
		versions:    k8s.NewAPI(clients[0]),
		clusters:    k8s.NewAPI(clients[1]),
		instance:    instance.NewAPI(clients[2]),
		marketplace: marketplace.NewAPI(clients[3]),
		iam:         iam.NewAPI(clients[4]),
	}, nil
}

type sdkAPI struct {
	projectID   string
	versions    *k8s.API
	clusters    *k8s.API
	instance    *instance.API
	marketplace *marketplace.API
	iam         *iam.API
}

func (a *sdkAPI) DefaultProjectID() string { return a.projectID }

func (a *sdkAPI) KapsuleVersions(ctx context.Context, region string) ([]*k8s.Version, error) {
	resp, err := a.versions.ListVersions(&k8s.ListVersionsRequest{Region: scw.Region(region)}, scw.WithContext(ctx))
	if err != nil {
		return nil, err
	}
	return resp.Versions, nil
}

func (a *sdkAPI) KapsuleClusters(ctx context.Context, region, projectID, name string) ([]*k8s.Cluster, error) {
	req := &k8s.ListClustersRequest{Region: scw.Region(region)}
	if name != "" {
		req.Name = scw.StringPtr(name)
	}
	if projectID != "" {
		req.ProjectID = scw.StringPtr(projectID)
	}
	resp, err := a.clusters.ListClusters(req, scw.WithContext(ctx), scw.WithAllPages())
	if err != nil {
		return nil, err
	}
	return resp.Clusters, nil
}

func (a *sdkAPI) ServerTypes(ctx context.Context, zone string) (map[string]*instance.ServerType, error) {
	resp, err := a.instance.ListServersTypes(&instance.ListServersTypesRequest{Zone: scw.Zone(zone)}, scw.WithContext(ctx), scw.WithAllPages())
	if err != nil {
		return nil, err
	}
	return resp.Servers, nil
}

func (a *sdkAPI) LocalImages(ctx context.Context, zone, label string) ([]*marketplace.LocalImage, error) {
	z := scw.Zone(zone)
	resp, err := a.marketplace.ListLocalImages(&marketplace.ListLocalImagesRequest{
		Zone:       &z,
		ImageLabel: scw.StringPtr(label),
		// The GitLab host boots from an SBS volume; the Terraform provider
		// under the Pulumi one asks for this type then
		// (volumeTypeToMarketplaceFilter in terraform-provider-scaleway
		// internal/services/instance/helpers_instance_block.go).
		Type: marketplace.LocalImageTypeInstanceSbs,
	}, scw.WithContext(ctx), scw.WithAllPages())
	if err != nil {
		return nil, err
	}
	return resp.LocalImages, nil
}

func (a *sdkAPI) SSHKeys(ctx context.Context, projectID string) ([]*iam.SSHKey, error) {
	resp, err := a.iam.ListSSHKeys(&iam.ListSSHKeysRequest{ProjectID: scw.StringPtr(projectID)}, scw.WithContext(ctx), scw.WithAllPages())
	if err != nil {
		return nil, err
	}
	return resp.SSHKeys, nil
}

// ErrUnauthorized is wrapped by Check's error when Scaleway refuses the API
// key itself (HTTP 401): nothing else was checked, and nothing should run.
var ErrUnauthorized = errors.New("scaleway refused the API key")

// apiError turns an SDK error into one that says what to do: a refused key
// (401) or a missing permission (403) say which; other errors keep the SDK's.
func apiError(what string, err error) error {
	var denied *scw.DeniedAuthenticationError
	var forbidden *scw.PermissionsDeniedError
	var resp *scw.ResponseError
	status := 0
	if errors.As(err, &resp) {
		status = resp.StatusCode
	}
	switch {
	case errors.As(err, &denied) || status == http.StatusUnauthorized:
		return fmt.Errorf("%w while %s (%v): check %s and %s (or %s and %s): the key may be mistyped, deleted or expired",
			ErrUnauthorized, what, err, EnvAccessKey, EnvSecretKey, KeyAccessKey, KeySecretKey)
	case errors.As(err, &forbidden) || status == http.StatusForbidden:
		return fmt.Errorf("the Scaleway API key may not do this while %s (%v): give the key's IAM application or user a policy that allows it in the project", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}
