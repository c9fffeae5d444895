// Package testcheck holds the assertions many table tests share, so each
// table says only its cases.
package testcheck

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ErrorMentions asserts that err is nil when want is empty, and otherwise an
// error whose message contains every fragment of want.
func ErrorMentions(t testing.TB, err error, want []string) {
	t.Helper()
	if len(want) == 0 {
		require.NoError(t, err)
		return
	}
	if !assert.Error(t, err) {
		t.FailNow()
		return
	}
	for _, w := range want {
		assert.Contains(t, err.Error(), w)
	}
}
