package offline

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/gitlab-kapsule/gitlab-kapsule/internal/mockcloud"
	"github.com/pulumi/pulumi/sdk/v3/go/common/encoding"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/config"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
)

// StackConfig is a stack file's configuration as the mock engine takes it.
type StackConfig struct {
	// Values maps "namespace:key" to the value, lists and objects as JSON.
	Values map[string]string
	// Encrypted lists the keys whose secure values cannot be read offline.
	Encrypted []string
}

// Keys lists every configured key, readable or encrypted, sorted.
func (sc StackConfig) Keys() []string {
	return slices.Sorted(slices.Values(append(slices.Collect(maps.Keys(sc.Values)), sc.Encrypted...)))
}

// ReadStackConfig reads Pulumi.<stack>.yaml from dir the way the Pulumi CLI
// does, with the SDK's own loader (workspace.LoadProjectStackBytes and the
// encoding.YAML marshaler, gopkg.in/yaml.v3: YAML 1.2, so `no` is the string
// "no", not false), bare keys in the project's namespace. It is stricter in
// one way: a top-level key the CLI does not know, which the CLI would ignore
// with everything under it, is an error. A missing file is no error: the
// stack then runs on the defaults.
func ReadStackConfig(dir, stack string) (StackConfig, error) {
	sc := StackConfig{Values: map[string]string{}}
	path := filepath.Join(dir, "Pulumi."+stack+".yaml")
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return sc, nil
	}
	if err != nil {
		return sc, err
	}
	if err := checkTopLevel(raw); err != nil {
		return sc, fmt.Errorf("%s: %w", path, err)
	}
	project := &workspace.Project{Name: tokens.PackageName(mockcloud.Project)}
	ps, err := workspace.LoadProjectStackBytes(nil, project, raw, path, encoding.YAML)
	if err != nil {
		return sc, fmt.Errorf("%s: %w", path, err)
	}
	for key, v := range ps.Config {
		if v.Secure() {
			sc.Encrypted = append(sc.Encrypted, key.String())
			continue
		}
		// The engine hands the program each value as Value returns it:
		// strings as they are, lists and objects as JSON.
		s, err := v.Value(config.NopDecrypter)
		if err != nil {
			return sc, fmt.Errorf("%s: %s: %w", path, key, err)
		}
		sc.Values[key.String()] = s
	}
	slices.Sort(sc.Encrypted)
	return sc, nil
}

// checkTopLevel refuses top-level keys that are not stack file keys.
func checkTopLevel(raw []byte) error {
	var top map[string]any
	if err := encoding.YAML.Unmarshal(raw, &top); err != nil {
		return err
	}
	known := stackFileKeys()
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(top)) {
		if !slices.Contains(known, k) {
			errs = append(errs, fmt.Errorf("top-level key %q is not a stack file key, so the Pulumi CLI would ignore it and everything under it: rename it to one of %s (configuration goes under config)", k, strings.Join(known, ", ")))
		}
	}
	return errors.Join(errs...)
}

// stackFileKeys are the top-level keys of a stack file: the yaml names of the
// fields of the SDK's workspace.ProjectStack (sdk/go/common/workspace/
// project.go), which the CLI loads a stack file into: config, encryptedkey,
// encryptionsalt, environment and secretsprovider, sorted.
func stackFileKeys() []string {
	var keys []string
	t := reflect.TypeFor[workspace.ProjectStack]()
	for i := range t.NumField() {
		f := t.Field(i)
		if name, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); f.IsExported() && name != "" && name != "-" {
			keys = append(keys, name)
		}
	}
	slices.Sort(keys)
	return keys
}
