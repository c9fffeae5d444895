package cleanup_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gitlab-kapsule/gitlab-kapsule/internal/cleanup"
	"github.com/gitlab-kapsule/gitlab-kapsule/internal/mockcloud"
)

// run runs program under the mock engine, which refuses resources of
// types it does not know: these programs register none.
func run(t *testing.T, program pulumi.RunFunc) {
	t.Helper()
	_, err := mockcloud.Run("dev", nil, nil, program)
	require.NoError(t, err)
}

// Without a List, Register says no driver collects, and keeps nothing.
func TestRegisterWithoutADriver(t *testing.T) {
	t.Parallel()
	run(t, func(ctx *pulumi.Context) error {
		assert.False(t, cleanup.Register(ctx, func() error { t.Error("never run"); return nil }))
		assert.False(t, cleanup.Register(cleanup.With(ctx, nil), func() error { return nil }), "a nil List collects nothing")
		return nil
	})
}

// Run runs the cleanups last first, joins every error, and a second Run
// runs nothing again.
func TestRunOrderErrorsAndTwice(t *testing.T) {
	t.Parallel()
	var l cleanup.List
	var order []string
	errA, errC := errors.New("close a"), errors.New("close c")
	run(t, func(ctx *pulumi.Context) error {
		ctx = cleanup.With(ctx, &l)
		for _, c := range []struct {
			name string
			err  error
		}{{"a", errA}, {"b", nil}, {"c", errC}} {
			require.True(t, cleanup.Register(ctx, func() error { order = append(order, c.name); return c.err }))
		}
		assert.True(t, cleanup.Register(ctx, nil), "a nil function is ignored, the List still collects")
		return nil
	})
	assert.Empty(t, order, "nothing runs before Run")
	err := l.Run()
	assert.Equal(t, []string{"c", "b", "a"}, order)
	require.ErrorIs(t, err, errA)
	require.ErrorIs(t, err, errC)
	require.NoError(t, l.Run(), "a second Run runs nothing again")
	assert.Len(t, order, 3)

	// What is registered after a Run (a program finishing after a cancel)
	// runs at once; the next Run reports its error.
	errD := errors.New("close d")
	run(t, func(ctx *pulumi.Context) error {
		assert.True(t, cleanup.Register(cleanup.With(ctx, &l), func() error { order = append(order, "d"); return errD }))
		return nil
	})
	assert.Equal(t, []string{"c", "b", "a", "d"}, order)
	require.ErrorIs(t, l.Run(), errD)
	require.NoError(t, l.Run())
	assert.Len(t, order, 4)
}

// Two Lists in one process keep their own cleanups, also when the programs
// register concurrently.
func TestListsDoNotCross(t *testing.T) {
	t.Parallel()
	var a, b cleanup.List
	var mu sync.Mutex
	ran := map[string]int{}
	var wg sync.WaitGroup
	for name, l := range map[string]*cleanup.List{"a": &a, "b": &b} {
		wg.Go(func() {
			run(t, func(ctx *pulumi.Context) error {
				ctx = cleanup.With(ctx, l)
				for range 50 {
					cleanup.Register(ctx, func() error { mu.Lock(); ran[name]++; mu.Unlock(); return nil })
				}
				return nil
			})
		})
	}
	wg.Wait()
	require.NoError(t, a.Run())
	assert.Equal(t, map[string]int{"a": 50}, ran)
	require.NoError(t, b.Run())
	assert.Equal(t, map[string]int{"a": 50, "b": 50}, ran)
}
