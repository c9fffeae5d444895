package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestAllowReplaceIsUpsOwnFlag: up documents --allow-replace and what it
// confirms; the other operations refuse it as a usage error.
func TestAllowReplaceIsUpsOwnFlag(t *testing.T) {
	code, _, errOut := runCLI("up", "-h")
	assert.Equal(t, 0, code)
	assert.Contains(t, errOut, "-allow-replace")
	assert.Contains(t, errOut, "its data volume, the private network")
	for _, op := range []string{"preview", "refresh", "destroy"} {
		code, _, errOut := runCLI(op, "--allow-replace")
		assert.Equal(t, exitUsage, code, op)
		assert.Contains(t, errOut, "flag provided but not defined: -allow-replace", op)
	}
}
