// Command sleeper is the task the multi-host tests run with raw_exec in
// containers that have no shell: it prints a line and waits for SIGINT
// or SIGTERM, then exits 0. Started without arguments inside an
// allocation, it first replaces itself (same process) with a copy whose
// arguments name the job and the allocation, so that the processes of a
// container (docker top) tell which allocations really run there.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if alloc := os.Getenv("NOMAD_ALLOC_ID"); len(os.Args) == 1 && alloc != "" {
		if self, err := os.Executable(); err == nil {
			err = syscall.Exec(self, []string{self, "job=" + os.Getenv("NOMAD_JOB_ID"), "alloc=" + alloc}, os.Environ())
			fmt.Println("sleeper: naming itself:", err)
		}
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	fmt.Println("sleeper running in allocation", os.Getenv("NOMAD_ALLOC_ID"))
	fmt.Println("sleeper stopped by", <-sig)
}
