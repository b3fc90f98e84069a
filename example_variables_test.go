package drover_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/droverhq/drover"
)

// Variables are stored encrypted through raft; a check-and-set write
// fails when someone else changed the variable first.
func ExampleServer_PutVariable() {
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

	none := uint64(0) // create only: no variable may exist at the path
	v, err := srv.PutVariable(ctx, &drover.Variable{Path: "nomad/jobs/web", Items: map[string]string{"db": "postgres://db"}}, &none)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("stored", v.Path, v.Items["db"])

	_, err = srv.PutVariable(ctx, &drover.Variable{Path: "nomad/jobs/web", Items: map[string]string{"db": "other"}}, &none)
	var conflict *drover.VariableConflictError
	if errors.As(err, &conflict) {
		fmt.Println("conflict: current value", conflict.Current.Items["db"])
	}
	// Output:
	// stored nomad/jobs/web postgres://db
	// conflict: current value postgres://db
}
