package drover_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/driver/fn"
	"github.com/droverhq/drover/fingerprint"
)

// A host's own fingerprinter publishes a fact that jobs constrain on, and
// a drain moves the work off the node.
func ExampleClientOptions_fingerprinters() {
	dir, _ := os.MkdirTemp("", "drover-example-")
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := drover.NewServer(drover.ServerOptions{DataDir: filepath.Join(dir, "server"), BindAddr: "127.0.0.1:0"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Shutdown(context.Background())
	if err := srv.WaitForLeader(ctx); err != nil {
		fmt.Println(err)
		return
	}
	cli, err := drover.NewClient(drover.ClientOptions{
		DataDir: filepath.Join(dir, "client"), Servers: []string{srv.Addr()},
		Fingerprinters: []fingerprint.Fingerprinter{
			fingerprint.Static("licences", map[string]string{"licence.cad": "enterprise"}),
		},
		Functions: map[string]fn.Func{"cad": func(ctx context.Context, _ *fn.Task) error { <-ctx.Done(); return nil }},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cli.Shutdown(context.Background())
	<-cli.Ready()

	_, err = srv.RegisterJob(ctx, &drover.Job{
		Id:          "cad",
		Constraints: []*drover.Constraint{{LTarget: "${attr.licence.cad}", Operand: "=", RTarget: "enterprise"}},
		TaskGroups: []*drover.TaskGroup{{Name: "g", Count: 1, Tasks: []*drover.Task{{
			Name: "cad", Driver: "fn", Config: drover.TaskConfig(map[string]any{"func": "cad"}), Resources: &drover.Resources{CpuMhz: 10, MemoryMb: 16}}}}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	waitAlloc := func(status string) {
		for allocs := range srv.WatchAllocations(ctx, "", "cad") {
			for _, a := range allocs {
				if a.ClientStatus == status {
					fmt.Printf("allocation %s on the licensed node: %v\n", status, a.NodeId == cli.NodeID())
					return
				}
			}
		}
	}
	waitAlloc(drover.AllocClientRunning)

	// With no other node to take it, a drain stops the work.
	if err := cli.Drain(ctx, 0); err != nil {
		fmt.Println(err)
		return
	}
	waitAlloc(drover.AllocClientComplete)
	// Output:
	// allocation running on the licensed node: true
	// allocation complete on the licensed node: true
}
