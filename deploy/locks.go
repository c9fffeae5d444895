package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
)

// removeStaleLocks deletes the locks of a file backend's stack that a
// process of this host left behind when it died (a CLI killed because it
// did not stop in time after a cancel). A live process's lock, or another
// host's, is never touched. Other backends release or expire their own
// locks.
func removeStaleLocks(backend string, ws auto.Workspace, stackName string) error {
	if !strings.HasPrefix(backend, "file://") {
		return nil
	}
	dir, err := FileBackendDir(backend)
	if err != nil {
		return err
	}
	project := ""
	if ws != nil {
		if p, err := ws.ProjectSettings(context.Background()); err == nil && p != nil {
			project = p.Name.String()
		}
	}
	locks, err := StackLocks(dir, project, stackName)
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	var errs []error
	for _, l := range locks {
		if l.Hostname != host || l.Pid <= 0 || processAlive(l.Pid) {
			continue
		}
		if err := os.Remove(l.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove the stale lock %s of stack %q (left by pid %d): %w: delete it by hand or run `pulumi cancel`", l.Path, stackName, l.Pid, err))
		}
	}
	return errors.Join(errs...)
}

// Lock is a stack lock in a file backend.
type Lock struct {
	// Path is the lock file.
	Path string
	// Pid is the process that took the lock.
	Pid int `json:"pid"`
	// Username is who ran it.
	Username string `json:"username"`
	// Hostname is where it ran.
	Hostname string `json:"hostname"`
}

// StackLocks lists the locks held on a stack in the file backend rooted
// at dir; project may be empty to match the stack in any project.
func StackLocks(dir, project, stackName string) ([]Lock, error) {
	root := filepath.Join(dir, ".pulumi", "locks")
	// A fully qualified name (org/project/stack) ends with the stack's own.
	stackName = stackName[strings.LastIndexByte(stackName, '/')+1:]
	var locks []Lock
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return filepath.SkipDir
			}
			return err
		}
		if d.IsDir() || filepath.Ext(path) != ".json" {
			return nil
		}
		parent := filepath.Dir(path)
		if filepath.Base(parent) != stackName {
			return nil
		}
		if project != "" && filepath.Dir(parent) != root && filepath.Base(filepath.Dir(parent)) != project {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil // released meanwhile
		}
		l := Lock{Path: path}
		if err := json.Unmarshal(b, &l); err != nil {
			return fmt.Errorf("read the lock %s: %w", path, err)
		}
		l.Path = path
		locks = append(locks, l)
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("list the locks in %s: %w", root, err)
	}
	return locks, nil
}

// processAlive reports whether pid is a running process on this host.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
