package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestAllowReplaceIsUpsOwnFlag: up documents --allow-replace, what it
// confirms and the backup first, and --no-backup; the other operations
// refuse both as usage errors.
func TestAllowReplaceIsUpsOwnFlag(t *testing.T) {
	errOut := helpOf(t, "up")
	assert.Contains(t, errOut, "-allow-replace")
	assert.Contains(t, errOut, "its data volume, the private network")
	assert.Contains(t, errOut, "backed up first, on the old host")
	assert.Contains(t, errOut, "-no-backup")
	for _, op := range []string{"preview", "refresh", "destroy"} {
		for _, flag := range []string{"allow-replace", "no-backup"} {
			code, _, errOut := runCLI(op, "--"+flag)
			assert.Equal(t, exitUsage, code, op)
			assert.Contains(t, errOut, "flag provided but not defined: -"+flag, op)
		}
	}
}
