// Package config reads the stack's configuration into one typed struct,
// fills the defaults and validates it before any resource is created, with
// messages that name the key and the fix.
package config
