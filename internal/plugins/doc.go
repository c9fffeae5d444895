// Package plugins pins the version of every Pulumi resource plugin the
// program uses to the version its Go SDK was generated for, so the engine
// never picks whichever plugin happens to be installed, or the newest.
package plugins
