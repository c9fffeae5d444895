package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"

	"github.com/gitlab-kapsule/gitlab-kapsule/deploy"
	"github.com/gitlab-kapsule/gitlab-kapsule/stack"
)

// secretMask stands for a secret value that was not asked for.
const secretMask = "[secret]"

// readOutputs returns the outputs of an existing stack; before its first
// up (no stack, or no outputs) it fails with errNoOutputs, naming up.
func readOutputs(ctx context.Context, o *options) (auto.OutputMap, error) {
	if err := checkBackendFlag(o); err != nil {
		return nil, err
	}
	if err := requirePassphrase(o); err != nil {
		return nil, err
	}
	cli, err := deploy.FindPulumi(ctx, o.installPulumi)
	if err != nil {
		return nil, err
	}
	s, err := deploy.OpenExisting(ctx, deploy.Options{StackName: o.stack, Backend: o.backend, ProjectDir: o.dir, Command: cli})
	if errors.Is(err, deploy.ErrNoStack) {
		return nil, fmt.Errorf("stack %q has no outputs yet: run `%s` first (the backend has no stack %q: if it was deployed, check --stack and --backend): %w", o.stack, upCommand(o), o.stack, errNoOutputs)
	}
	if err != nil {
		return nil, err
	}
	defer s.Close()
	outs, err := s.Outputs(ctx)
	if err != nil {
		return nil, err
	}
	if len(outs) == 0 {
		return nil, fmt.Errorf("stack %q has no outputs yet: run `%s` first: %w", o.stack, upCommand(o), errNoOutputs)
	}
	return outs, nil
}

func cmdOutputs(ctx context.Context, o *options, args []string, stdout, stderr io.Writer) error {
	var showSecrets, asJSON bool
	var cluster string
	fs, err := parseCommandAnyOrder("outputs", o, args, stderr, 1, func(fs *flag.FlagSet) {
		fs.BoolVar(&showSecrets, "show-secrets", false, "print secret outputs (kubeconfig, root password) in plain text")
		fs.BoolVar(&asJSON, "json", false, "print the outputs as one JSON object")
		fs.StringVar(&cluster, "cluster", "", "print the outputs of the cluster named `CLUSTER` (kapsule:clusters) under their one-cluster names, e.g. kubeconfig, with the shared ones")
	})
	if err != nil {
		return err
	}
	outs, err := readOutputs(ctx, o)
	if err != nil {
		return err
	}
	of := fmt.Sprintf("stack %q", o.stack)
	if cluster != "" {
		if outs, err = clusterOutputs(outs, cluster); err != nil {
			return err
		}
		of = fmt.Sprintf("cluster %q of stack %q", cluster, o.stack)
	}
	if name := fs.Arg(0); name != "" {
		v, ok := outs[name]
		if !ok && cluster == "" && slices.Contains(stack.PerCluster, stack.Output(name)) {
			if names := stack.ClusterNames(outs); len(names) > 1 {
				return fmt.Errorf("output %q is one per cluster and stack %q has %d clusters (%s): name one with --cluster, e.g. `outputs --cluster %s %s`: %w",
					name, o.stack, len(names), strings.Join(names, ", "), names[0], name, errUsage)
			}
			// kapsule:clusters with a single cluster: that one's.
			if flat, err := stack.ForCluster(outs, ""); err == nil {
				v, ok = flat[name]
			}
		}
		if !ok {
			return fmt.Errorf("%s has no output %q: it has %s", of, name, strings.Join(sortedKeys(outs), ", "))
		}
		if v.Secret && !showSecrets {
			return fmt.Errorf("output %q is a secret: add --show-secrets to print it", name)
		}
		fmt.Fprintln(stdout, plainValue(v.Value))
		return nil
	}
	if asJSON {
		m := map[string]any{}
		for k, v := range outs {
			m[k] = v.Value
			if v.Secret && !showSecrets {
				m[k] = secretMask
			}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(m)
	}
	for _, k := range sortedKeys(outs) {
		v := outs[k]
		s := plainValue(v.Value)
		if v.Secret && !showSecrets {
			s = secretMask + " (--show-secrets prints it)"
		} else if strings.Contains(s, "\n") {
			s = "\n    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
		}
		fmt.Fprintf(stdout, "%-22s %s\n", k+":", s)
	}
	return nil
}

// clusterOutputs are the outputs as a one-cluster stack has them, for the
// named cluster (stack.ForCluster); a name the stack does not have is a
// usage error that lists the clusters.
func clusterOutputs(outs auto.OutputMap, cluster string) (auto.OutputMap, error) {
	flat, err := stack.ForCluster(outs, cluster)
	if err != nil {
		return nil, fmt.Errorf("--cluster %s: %w: %w", cluster, err, errUsage)
	}
	return flat, nil
}

// plainValue formats an output value: strings as they are, others as JSON.
func plainValue(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func sortedKeys(m auto.OutputMap) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// stringOutput returns a string output, or an error naming it.
func stringOutput(outs auto.OutputMap, name stack.Output) (string, error) {
	v, ok := outs[string(name)]
	if !ok {
		return "", fmt.Errorf("%w: the stack has no %s output: run up (with this version of the program) first", errMissing, name)
	}
	s, ok := v.Value.(string)
	if !ok || s == "" {
		return "", fmt.Errorf("%w: the stack's %s output is empty: run up first", errMissing, name)
	}
	return s, nil
}
