// Package bench holds cluster-scale benchmarks of drover: scheduler
// placement against a large state, and the write rate of a real server
// (raft over bbolt). Run them with `make bench` or
// `go test -run '^$' -bench . ./bench/`; docs/benchmarks.md records results.
package bench
