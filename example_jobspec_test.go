package drover_test

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/structs"
)

// A job as a Nomad user writes it: a prestart task prepares a file, the
// main task reads it and a template rendered from the allocation's
// variables, with runtime interpolation in its arguments, and mounts a
// host volume read-only (the same job in HCL is in docs/jobspec.md).
func ExampleServer_RegisterJob_jobspec() {
	job := &drover.Job{
		Id: "web", Datacenters: []string{"*"},
		TaskGroups: []*drover.TaskGroup{{
			Name: "web", Count: 1,
			Volumes: map[string]*drover.VolumeRequest{
				"certs": {Type: drover.VolumeTypeHost, Source: "certs", ReadOnly: true},
			},
			EphemeralDisk: &drover.EphemeralDisk{Sticky: true},
			ShutdownDelay: durationpb.New(5 * time.Second),
			Tasks: []*drover.Task{
				{
					Name: "init", Driver: "exec",
					Lifecycle: &drover.TaskLifecycle{Hook: drover.LifecyclePrestart},
					Config: drover.TaskConfig(map[string]any{
						"command": "/bin/sh", "args": []any{"-c", `echo ready > "$NOMAD_ALLOC_DIR/data/ready"`},
					}),
					Resources: &drover.Resources{CpuMhz: 50, MemoryMb: 32},
				},
				{
					Name: "server", Driver: "exec",
					Config: drover.TaskConfig(map[string]any{
						"command": "/usr/local/bin/server",
						"args":    []any{"--listen", "${NOMAD_ADDR_http}", "--node", "${node.unique.name}"},
					}),
					Templates: []*drover.Template{{
						Data:        "upstream = {{ env \"NOMAD_ALLOC_NAME\" }}\n",
						Destination: "local/server.conf",
						ChangeMode:  drover.ChangeModeSignal, ChangeSignal: "SIGHUP",
					}},
					VolumeMounts: []*drover.VolumeMount{{Volume: "certs", Destination: "/etc/certs", ReadOnly: true}},
					Resources:    &drover.Resources{CpuMhz: 100, MemoryMb: 64},
				},
			},
		}},
	}
	// A server checks the job the same way when it is registered, with
	// srv.RegisterJob(ctx, job).
	job.Canonicalize(structs.DefaultJobPriority)
	fmt.Println(job.Validate(structs.Limits{}))
	// Output: <nil>
}
