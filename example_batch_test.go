package drover_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover"
)

// A parameterized job runs only as the children dispatched from it; a
// dispatch that breaks the job's rules is refused whole, naming the key.
func ExampleServer_DispatchJob() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "drover-example-")
	defer os.RemoveAll(dir)
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
	_, err = srv.RegisterJob(ctx, &drover.Job{
		Id: "resize", Type: drover.JobTypeBatch,
		Parameterized: &drover.ParameterizedJobConfig{Payload: drover.DispatchPayloadRequired, MetaRequired: []string{"owner"}},
		TaskGroups: []*drover.TaskGroup{{Name: "g", Count: 1, Tasks: []*drover.Task{{
			Name: "resize", Driver: "exec", DispatchPayload: &drover.DispatchPayloadConfig{File: "request.json"},
		}}}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = srv.DispatchJob(ctx, drover.Dispatch{JobID: "resize", Meta: map[string]string{"team": "web"}})
	fmt.Println(err)

	d, err := srv.DispatchJob(ctx, drover.Dispatch{JobID: "resize", Payload: []byte(`{"image":"cat.png"}`),
		Meta: map[string]string{"owner": "web"}, IdempotencyToken: "upload-1"})
	if err != nil {
		fmt.Println(err)
		return
	}
	child, _ := srv.Job(ctx, "", d.JobID)
	fmt.Println(strings.HasPrefix(d.JobID, "resize/dispatch-"), child.ParentId, child.Meta["owner"], string(child.Payload))
	again, _ := srv.DispatchJob(ctx, drover.Dispatch{JobID: "resize", Payload: []byte(`{"image":"cat.png"}`),
		Meta: map[string]string{"owner": "web"}, IdempotencyToken: "upload-1"})
	fmt.Println(again.JobID == d.JobID)
	// Output:
	// invalid: 3 problems:
	//   dispatch of job "resize": a payload is required
	//   dispatch of job "resize": meta key "team" is not allowed (neither in meta_required nor in meta_optional)
	//   dispatch of job "resize": required meta key "owner" is missing
	// true resize web {"image":"cat.png"}
	// true
}

// A group's scaling block bounds the counts a scale may set; each scale is
// a new version of the job and an entry of the group's history.
func ExampleServer_ScaleJob() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "drover-example-")
	defer os.RemoveAll(dir)
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
	_, err = srv.RegisterJob(ctx, &drover.Job{
		Id: "pool",
		TaskGroups: []*drover.TaskGroup{{Name: "workers", Count: 2, Scaling: &drover.ScalingPolicy{Min: 1, Max: 4},
			Tasks: []*drover.Task{{Name: "w", Driver: "exec"}}}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	_, _, err = srv.ScaleJob(ctx, drover.Scale{JobID: "pool", Group: "workers", Count: proto.Int64(9)})
	fmt.Println(err)
	if _, _, err := srv.ScaleJob(ctx, drover.Scale{JobID: "pool", Group: "workers", Count: proto.Int64(3), Message: "queue is deep"}); err != nil {
		fmt.Println(err)
		return
	}
	job, _ := srv.Job(ctx, "", "pool")
	status, _ := srv.ScaleStatus(ctx, "", "pool")
	ev := status["workers"].Events[0]
	fmt.Println(job.Version, job.TaskGroups[0].Count, ev.PreviousCount, ev.Count, ev.Message)
	// Output:
	// invalid: scale of job "pool": group "workers": count 9 is greater than the scaling policy's max 4
	// 1 3 2 3 queue is deep
}
