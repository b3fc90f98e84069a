// Command agent is drover's reference agent: a server, a client, or both
// in one process, configured as Nomad's agent is (HCL files and flags),
// serving the Nomad-compatible HTTP API. It uses only drover's public
// packages. See docs/agent.md.
//
//	agent -dev
//	agent -config /etc/drover.d
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1)
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, signals))
}
