package k8s

import (
	"os"
	"testing"

	"github.com/gitlab-kapsule/gitlab-kapsule/tests/harness"
)

// TestMain shares one test cluster among the package's tests and stops it
// at the end.
func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }
