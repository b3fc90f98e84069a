// Command sleeper is the task the multi-host tests run with raw_exec in
// containers that have no shell: it prints a line and waits for SIGINT
// or SIGTERM, then exits 0.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	fmt.Println("sleeper running in allocation", os.Getenv("NOMAD_ALLOC_ID"))
	fmt.Println("sleeper stopped by", <-sig)
}
