package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
)

// projectFile is the project settings file --dir must hold.
const projectFile = "Pulumi.yaml"

// noStackFileError is a --stack whose Pulumi.<stack>.yaml is not in --dir:
// a missing prerequisite (exit code 2).
type noStackFileError struct{ msg string }

func (e *noStackFileError) Error() string { return e.msg }
func (e *noStackFileError) Unwrap() error { return errMissing }

// checkFlags refuses a --dir that is not a project folder and a --stack
// that is not a stack name, before anything runs.
func checkFlags(o *options) error {
	if _, err := tokens.ParseStackName(o.stack); err != nil {
		return fmt.Errorf("--stack %q is not a stack name (%v): use letters, digits, '-', '_' and '.': %w", o.stack, err, errUsage)
	}
	st, err := os.Stat(o.dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("--dir %s does not exist: give the project folder, which holds %s (the repository root): %w", o.dir, projectFile, errUsage)
	case err != nil:
		return fmt.Errorf("--dir %s cannot be read (%v): give the project folder, which holds %s: %w", o.dir, err, projectFile, errUsage)
	case !st.IsDir():
		return fmt.Errorf("--dir %s is a file: give the project folder, which holds %s: %w", o.dir, projectFile, errUsage)
	}
	if _, err := os.Stat(filepath.Join(o.dir, projectFile)); err != nil {
		return fmt.Errorf("--dir %s holds no %s: run from the repository root or pass --dir with the folder that holds it: %w", o.dir, projectFile, errUsage)
	}
	return nil
}

// stackFileName is the stack's configuration file in --dir.
func stackFileName(stack string) string { return "Pulumi." + stack + ".yaml" }

// checkStackFile fails with a *noStackFileError when --dir has no
// Pulumi.<stack>.yaml, naming the stack files it has and how to go on.
func checkStackFile(o *options) error {
	name := stackFileName(o.stack)
	_, err := os.Stat(filepath.Join(o.dir, name))
	if err == nil {
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read the stack file %s: %w", filepath.Join(o.dir, name), err)
	}
	others := stackFiles(o.dir)
	if len(others) == 0 {
		return &noStackFileError{fmt.Sprintf("no %s in %s, and no other stack file there: create it with a config: section (README, Configuration) setting at least network:allowedIpRanges and network:sshPublicKey",
			name, o.dir)}
	}
	var passes []string
	for _, s := range others {
		passes = append(passes, "--stack "+s)
	}
	return &noStackFileError{fmt.Sprintf("no %s in %s (found: %s): create it, e.g. `cp %s %s` then set at least network:allowedIpRanges and network:sshPublicKey in it, or pass %s",
		name, o.dir, strings.Join(fileNames(others), ", "), stackFileName(others[0]), name, strings.Join(passes, " or "))}
}

// stackFiles are the stacks with a Pulumi.<stack>.yaml in dir, sorted.
func stackFiles(dir string) []string {
	matches, _ := filepath.Glob(filepath.Join(dir, "Pulumi.*.yaml"))
	var stacks []string
	for _, m := range matches {
		s := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(m), "Pulumi."), ".yaml")
		if s != "" {
			stacks = append(stacks, s)
		}
	}
	return stacks
}

func fileNames(stacks []string) []string {
	names := make([]string, len(stacks))
	for i, s := range stacks {
		names[i] = stackFileName(s)
	}
	return names
}

// upCommand is the command that brings o's stack up, flags included.
func upCommand(o *options) string {
	cmd := "gitlab-kapsule"
	if o.dir != "." {
		cmd += " --dir " + o.dir
	}
	if o.stack != defaultStack {
		cmd += " --stack " + o.stack
	}
	switch {
	case o.backend == "":
	case strings.Contains(o.backend, "@"):
		cmd += " --backend URL" // the URL may hold a password: not repeated
	default:
		cmd += " --backend " + o.backend
	}
	return cmd + " up"
}
