// Package validate runs real validators over what the program deploys:
// cloud-init's own schema check over the rendered user-data, shellcheck over
// its shell, and Ruby's syntax check over the Omnibus configuration.
package validate
