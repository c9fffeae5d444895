// Package cleanup lets the program hand what it holds in the driver's
// process (an SSH tunnel to GitLab) to the driver that runs it, so that each
// operation releases its own when it ends, and never another stack's.
package cleanup
