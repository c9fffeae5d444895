package engine

import (
	"os"
	"testing"

	"github.com/gitlab-kapsule/gitlab-kapsule/tests/harness"
)

// TestMain starts nothing: tests that need the shared test cluster start it
// on first use (harness.SharedKube), and Main stops it after the last test.
func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }
