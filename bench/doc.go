// Package bench holds the project's benchmarks (program evaluation under
// the mock engine, user-data rendering, the offline plan); sim is the
// deployment simulator and bench/run prints every figure in one table.
package bench
