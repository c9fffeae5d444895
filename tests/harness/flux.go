package harness

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/gitlab-kapsule/gitlab-kapsule/internal/testenv"
)

// FluxCRDsEnv names the folder of Flux's CRDs, generated from Flux's own Go
// API modules by tools/build-fluxcrds.
const FluxCRDsEnv = "GLK_FLUX_CRDS"

// fluxCRDsOnce installs Flux's CRDs once per test binary: a CRD deleted and
// created again at once would still be terminating.
var fluxCRDsOnce struct {
	sync.Once
	err error
}

// FluxCRDs installs Flux's generated CRDs into the shared test cluster, once
// per package; they go when the package's tests end (Main).
func FluxCRDs(t testing.TB, kube *Kube) {
	t.Helper()
	how := `run eval "$(tools/build-fluxcrds)"`
	dir := testenv.Env(t, FluxCRDsEnv, how)
	if _, err := os.Stat(filepath.Join(dir, "source.toolkit.fluxcd.io_gitrepositories.yaml")); err != nil {
		testenv.Missing(t, "Flux's GitRepository CRD in "+dir, how)
	}
	fluxCRDsOnce.Do(func() {
		crds, err := envtest.InstallCRDs(kube.Config, envtest.CRDInstallOptions{Paths: []string{dir}, ErrorIfPathMissing: true})
		fluxCRDsOnce.err = err
		if err == nil {
			AtExit(func() error {
				return envtest.UninstallCRDs(kube.Config, envtest.CRDInstallOptions{CRDs: crds})
			})
		}
	})
	if fluxCRDsOnce.err != nil {
		t.Fatalf("install Flux's CRDs from %s: %v", dir, fluxCRDsOnce.err)
	}
}
