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

// A host that serves its own API on top of drover attaches each caller's
// ACL token to the context, so the caller gets what the token allows and
// no more; calls without a token act with the host's full authority.
func ExampleWithToken() {
	dir, _ := os.MkdirTemp("", "drover-example-")
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := drover.NewServer(drover.ServerOptions{
		DataDir: filepath.Join(dir, "server"), BindAddr: "127.0.0.1:0",
		ACL: drover.ACLOptions{Enabled: true},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Shutdown(context.Background())
	if err := srv.WaitForLeader(ctx); err != nil {
		fmt.Println(err)
		return
	}

	// The host, with its own authority, sets up a read-only token.
	_, err = srv.UpsertACLPolicies(ctx, []*drover.ACLPolicy{{
		Name: "viewer", Rules: `namespace "default" { policy = "read" }`,
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	tokens, err := srv.UpsertACLTokens(ctx, []*drover.ACLToken{{Name: "dashboard", Policies: []string{"viewer"}}})
	if err != nil {
		fmt.Println(err)
		return
	}

	// A request of the host's own API arrives with that token.
	asViewer := drover.WithToken(ctx, tokens[0].SecretId)
	_, err = srv.Jobs(asViewer, "default", "")
	fmt.Println("list jobs:", err)
	_, err = srv.RegisterJob(asViewer, &drover.Job{Id: "web"})
	fmt.Println("register refused:", errors.Is(err, drover.ErrPermissionDenied))
	// Output:
	// list jobs: <nil>
	// register refused: true
}
