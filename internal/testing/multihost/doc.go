// Package multihost holds the multi-host tests of the reference agent
// (examples/agent): each agent runs in a Docker container of its own, with
// its own address on a private Docker network, and the tests drive the
// cluster through the HTTP API with Nomad's Go client. The tests build the
// agent and their images themselves and pull nothing; they skip without a
// reachable Docker engine and under -short. See docs/multihost.md.
package multihost
