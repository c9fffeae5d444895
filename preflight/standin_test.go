package preflight

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	iam "github.com/scaleway/scaleway-sdk-go/api/iam/v1alpha1"
	"github.com/scaleway/scaleway-sdk-go/api/instance/v1"
	k8s "github.com/scaleway/scaleway-sdk-go/api/k8s/v1"
	marketplace "github.com/scaleway/scaleway-sdk-go/api/marketplace/v2"
	"github.com/scaleway/scaleway-sdk-go/scw"
)

// standIn mimics the Scaleway API as scaleway-sdk-go v1.39.0's request and
// response types define it, for exactly the calls NewAPI makes, on
// 127.0.0.1. Every answer is one of the SDK's own response types marshalled
// to JSON, so the shapes are the SDK's, not beliefs about them:
//
//   - GET /k8s/v1/regions/{region}/versions: k8s.ListVersionsResponse
//     (ListVersions, api/k8s/v1/k8s_sdk.go);
//   - GET /k8s/v1/regions/{region}/clusters?project_id&name&page&page_size:
//     k8s.ListClustersResponse, name a substring filter as ListClustersRequest
//     documents it (ListClusters, api/k8s/v1/k8s_sdk.go);
//   - GET /instance/v1/zones/{zone}/products/servers?page&per_page:
//     instance.ListServersTypesResponse plus the X-Total-Count header the SDK
//     reads for the instance API (ListServersTypes, api/instance/v1/instance_sdk.go;
//     Client.do, scw/client.go);
//   - GET /marketplace/v2/local-images?zone&image_label&type&page&page_size:
//     marketplace.ListLocalImagesResponse (ListLocalImages,
//     api/marketplace/v2/marketplace_sdk.go);
//   - GET /iam/v1alpha1/ssh-keys?project_id&page&page_size:
//     iam.ListSSHKeysResponse (ListSSHKeys, api/iam/v1alpha1/iam_sdk.go);
//   - GET /metadata: scw.ApiMetadata, which list calls fetch to fill SRNs
//     (Client.GetAPIMetadata, scw/client.go).
//
// Lists are paginated by pageSize when the request names no size, so
// scw.WithAllPages must walk the pages as Client.doListAll (scw/client.go)
// does. Requests must carry the secret key in X-Auth-Token
// (internal/auth/token.go); otherwise the answer is the 401
// denied_authentication body that hasResponseError (scw/errors.go) maps to
// scw.DeniedAuthenticationError. Any other path fails the test.
type standIn struct {
	t         *testing.T
	secretKey string
	pageSize  int

	versions    map[string][]*k8s.Version // by region
	clusters    []*k8s.Cluster
	serverTypes map[string]map[string]*instance.ServerType // by zone
	localImages []*marketplace.LocalImage
	sshKeys     []*iam.SSHKey
	// forbidden answers 403 permissions_denied on these paths.
	forbidden map[string]bool

	mu   sync.Mutex
	seen []string // "path?query" of every request
}

func (s *standIn) start() *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metadata", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, scw.ApiMetadata{Platform: "scaleway", Partition: "scaleway", Domain: "scw.cloud"})
	})
	mux.HandleFunc("GET /k8s/v1/regions/{region}/versions", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, k8s.ListVersionsResponse{Versions: s.versions[r.PathValue("region")]})
	})
	mux.HandleFunc("GET /k8s/v1/regions/{region}/clusters", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		var all []*k8s.Cluster
		for _, c := range s.clusters {
			if string(c.Region) == r.PathValue("region") && within(q, "project_id", c.ProjectID) && strings.Contains(c.Name, q.Get("name")) {
				all = append(all, c)
			}
		}
		reply(w, http.StatusOK, k8s.ListClustersResponse{TotalCount: uint64(len(all)), Clusters: page(s, q, "page_size", all)})
	})
	mux.HandleFunc("GET /instance/v1/zones/{zone}/products/servers", func(w http.ResponseWriter, r *http.Request) {
		types := s.serverTypes[r.PathValue("zone")]
		names := page(s, r.URL.Query(), "per_page", slices.Sorted(maps.Keys(types)))
		servers := map[string]*instance.ServerType{}
		for _, n := range names {
			servers[n] = types[n]
		}
		w.Header().Set("X-Total-Count", strconv.Itoa(len(types)))
		reply(w, http.StatusOK, instance.ListServersTypesResponse{TotalCount: uint32(len(types)), Servers: servers})
	})
	mux.HandleFunc("GET /marketplace/v2/local-images", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		var all []*marketplace.LocalImage
		for _, img := range s.localImages {
			if within(q, "zone", string(img.Zone)) && within(q, "image_label", img.Label) && within(q, "type", string(img.Type)) {
				all = append(all, img)
			}
		}
		reply(w, http.StatusOK, marketplace.ListLocalImagesResponse{TotalCount: uint32(len(all)), LocalImages: page(s, q, "page_size", all)})
	})
	mux.HandleFunc("GET /iam/v1alpha1/ssh-keys", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		var all []*iam.SSHKey
		for _, k := range s.sshKeys {
			if within(q, "project_id", k.ProjectID) {
				all = append(all, k)
			}
		}
		reply(w, http.StatusOK, iam.ListSSHKeysResponse{TotalCount: uint32(len(all)), SSHKeys: page(s, q, "page_size", all)})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.t.Errorf("stand-in Scaleway API: unexpected %s %s", r.Method, r.URL)
		w.WriteHeader(http.StatusNotFound)
	})

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.seen = append(s.seen, r.URL.Path+"?"+r.URL.RawQuery)
		s.mu.Unlock()
		switch {
		case r.Header.Get("X-Auth-Token") != s.secretKey:
			reply(w, http.StatusUnauthorized, struct {
				scw.ResponseError
				scw.DeniedAuthenticationError
			}{
				scw.ResponseError{Type: "denied_authentication", Message: "authentication is denied"},
				scw.DeniedAuthenticationError{Method: "api_key", Reason: "not_found"},
			})
		case s.forbidden[r.URL.Path]:
			forbidden := scw.PermissionsDeniedError{}
			forbidden.Details = append(forbidden.Details, struct {
				Resource string `json:"resource"`
				Action   string `json:"action"`
			}{Resource: "ssh_keys", Action: "read"})
			reply(w, http.StatusForbidden, struct {
				scw.ResponseError
				scw.PermissionsDeniedError
			}{scw.ResponseError{Type: "permissions_denied", Message: "insufficient permissions"}, forbidden})
		default:
			mux.ServeHTTP(w, r)
		}
	}))
	s.t.Cleanup(srv.Close)
	return srv
}

// requests returns the requests seen whose path starts with prefix.
func (s *standIn) requests(prefix string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, r := range s.seen {
		if strings.HasPrefix(r, prefix) {
			out = append(out, r)
		}
	}
	return out
}

// calls returns the calls seen whose path starts with prefix: their first
// requests, whatever the number of pages each walks.
func (s *standIn) calls(prefix string) []string {
	var out []string
	for _, r := range s.requests(prefix) {
		if p := query(r).Get("page"); p == "" || p == "1" {
			out = append(out, r)
		}
	}
	return out
}

// query is the query of a request seen.
func query(request string) url.Values {
	_, raw, _ := strings.Cut(request, "?")
	q, _ := url.ParseQuery(raw)
	return q
}

// within is true when the query does not filter on key or filters on value.
func within(q url.Values, key, value string) bool {
	v := q.Get(key)
	return v == "" || v == value
}

// page cuts the page the query asks for (page, from 1) out of all, of the
// query's size (sizeKey) or else the stand-in's own.
func page[T any](s *standIn, q url.Values, sizeKey string, all []T) []T {
	size, _ := strconv.Atoi(q.Get(sizeKey))
	if size <= 0 {
		size = s.pageSize
	}
	n, _ := strconv.Atoi(q.Get("page"))
	n = max(n, 1)
	lo, hi := min((n-1)*size, len(all)), min(n*size, len(all))
	return all[lo:hi]
}

// reply answers v as JSON with status: the SDK decodes bodies, errors
// included, only under a JSON content type.
func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		panic(fmt.Sprint("stand-in Scaleway API: ", err))
	}
}
