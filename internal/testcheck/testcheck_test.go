package testcheck

import (
	"errors"
	"testing"
)

// recorder is a testing.TB that records failures instead of stopping the test.
type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Errorf(string, ...any) { r.failed = true }
func (r *recorder) FailNow()              { r.failed = true }
func (r *recorder) Helper()               {}

func TestErrorMentions(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		err      error
		want     []string
		wantFail bool
	}{
		{"no error wanted, none", nil, nil, false},
		{"no error wanted, one", errors.New("boom"), nil, true},
		{"error wanted, none", nil, []string{"boom"}, true},
		{"every fragment", errors.New("network:cidr is bad: use 10.0.0.0/24"), []string{"network:cidr", "10.0.0.0/24"}, false},
		{"a fragment missing", errors.New("network:cidr is bad"), []string{"network:cidr", "10.0.0.0/24"}, true},
	} {
		r := &recorder{TB: t}
		ErrorMentions(r, tt.err, tt.want)
		if r.failed != tt.wantFail {
			t.Errorf("%s: failed = %v, want %v", tt.name, r.failed, tt.wantFail)
		}
	}
}
