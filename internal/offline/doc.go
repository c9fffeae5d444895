// Package offline shows what `up` would create without touching any cloud:
// it reads a stack's configuration file, runs the real program under the
// mock engine (internal/mockcloud) and prints the resource tree.
package offline
