package deploy

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
)

// Config is stack configuration by fully qualified key ("network:cidr").
type Config map[string]ConfigValue

// ConfigValue is one typed configuration value.
type ConfigValue struct {
	// Value is a string, a number, a bool, or a list or map (stored as
	// JSON, which the program reads with TryObject).
	Value any
	// Secret encrypts the value in the stack's configuration and state.
	Secret bool
}

// Plain is a configuration value stored as it is.
func Plain(v any) ConfigValue { return ConfigValue{Value: v} }

// Secret is a configuration value stored encrypted.
func Secret(v any) ConfigValue { return ConfigValue{Value: v, Secret: true} }

// encode turns c into the strings `pulumi config set` takes.
func (c Config) encode() (auto.ConfigMap, error) {
	out := auto.ConfigMap{}
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := c[k]
		var s string
		switch x := v.Value.(type) {
		case string:
			s = x
		case bool, int, int32, int64, uint, uint32, uint64, float32, float64:
			s = fmt.Sprint(x)
		case nil:
			return nil, fmt.Errorf("config key %s has no value: give one, or leave the key out for its default", k)
		default:
			b, err := json.Marshal(x)
			if err != nil {
				// The value is not shown: it may be a secret.
				return nil, fmt.Errorf("config key %s: a %T cannot be stored as JSON: give a string, number, bool, list or map", k, x)
			}
			s = string(b)
		}
		out[k] = auto.ConfigValue{Value: s, Secret: v.Secret}
	}
	return out, nil
}
