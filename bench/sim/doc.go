// Package sim replays a deployment on paper: it records the resource graph
// the program really builds under the mock engine, gives each resource a
// latency, and computes when each would start and finish, the makespan, and
// the ideal critical path over the dependencies that are truly required.
package sim
