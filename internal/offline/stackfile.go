package offline

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"sigs.k8s.io/yaml"
)

// StackConfig is a stack file's configuration as the mock engine takes it.
type StackConfig struct {
	// Values maps "namespace:key" to the value, lists and objects as JSON.
	Values map[string]string
	// Encrypted lists the keys whose secure values cannot be read offline.
	Encrypted []string
}

// ReadStackConfig reads Pulumi.<stack>.yaml from dir. A missing file is no
// error: the stack then runs on the defaults.
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
	var file struct {
		Config map[string]any `json:"config"`
	}
	if err := yaml.Unmarshal(raw, &file); err != nil {
		return sc, fmt.Errorf("%s: %w", path, err)
	}
	for key, v := range file.Config {
		switch v := v.(type) {
		case string:
			sc.Values[key] = v
		case map[string]any:
			if _, secure := v["secure"]; secure {
				sc.Encrypted = append(sc.Encrypted, key)
				continue
			}
			b, _ := json.Marshal(v)
			sc.Values[key] = string(b)
		case nil:
		default:
			b, _ := json.Marshal(v)
			sc.Values[key] = string(b)
		}
	}
	slices.Sort(sc.Encrypted)
	return sc, nil
}
