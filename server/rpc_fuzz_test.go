package server

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/heartbeat"
	"github.com/droverhq/drover/store/inmem"
	"github.com/droverhq/drover/structs"
)

// FuzzRPCRequests decodes arbitrary bytes as each request of the RPC
// service and hands them to a live server: a malformed or hostile request
// gets an error, never a crash.
func FuzzRPCRequests(f *testing.F) {
	for _, m := range []proto.Message{
		&structs.JobRegisterRequest{Job: mockJob("j", 1)},
		&structs.NodeRegisterRequest{Node: mockNode("n")},
		&structs.AllocUpdateRequest{NodeId: "n", SecretId: "n-secret", Allocations: []*structs.Allocation{{Id: "a", ClientStatus: "failed"}}},
		&structs.NodeHeartbeatRequest{NodeId: "n", SecretId: "n-secret"},
		&structs.JobDeregisterRequest{JobId: "j", Purge: true},
		&structs.NodeDrainRequest{NodeId: "n", SecretId: "n-secret", DrainStrategy: &structs.DrainStrategy{}},
	} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	s, err := New(Config{
		Name: "fuzz", Store: inmem.New(), BindAddr: "127.0.0.1:0", NumSchedulers: 1,
		EnabledSchedulers:  []string{"service", "batch", "system", "sysbatch"},
		Heartbeat:          heartbeat.DefaultConfig(),
		JobDefaultPriority: 50, JobMaxPriority: 100,
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.WaitForLeader(ctx); err != nil {
		f.Fatal(err)
	}
	r := &rpcServer{s: s}

	f.Fuzz(func(t *testing.T, data []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		var job structs.JobRegisterRequest
		if proto.Unmarshal(data, &job) == nil {
			_, _ = r.RegisterJob(ctx, &job)
		}
		var dereg structs.JobDeregisterRequest
		if proto.Unmarshal(data, &dereg) == nil {
			_, _ = r.DeregisterJob(ctx, &dereg)
		}
		var node structs.NodeRegisterRequest
		if proto.Unmarshal(data, &node) == nil {
			_, _ = r.RegisterNode(ctx, &node)
		}
		var hb structs.NodeHeartbeatRequest
		if proto.Unmarshal(data, &hb) == nil {
			_, _ = r.Heartbeat(ctx, &hb)
		}
		var upd structs.AllocUpdateRequest
		if proto.Unmarshal(data, &upd) == nil {
			_, _ = r.UpdateAllocations(ctx, &upd)
		}
		var allocs structs.NodeAllocsRequest
		if proto.Unmarshal(data, &allocs) == nil {
			allocs.Options = nil // no blocking
			_, _ = r.GetNodeAllocations(ctx, &allocs)
		}
		var list structs.AllocListRequest
		if proto.Unmarshal(data, &list) == nil {
			list.Options = nil
			_, _ = r.ListAllocations(ctx, &list)
		}
		var drain structs.NodeDrainRequest
		if proto.Unmarshal(data, &drain) == nil {
			_, _ = r.UpdateNodeDrain(ctx, &drain)
		}
		var setCfg structs.SchedulerSetConfigRequest
		if proto.Unmarshal(data, &setCfg) == nil {
			// Never pause or reject: the other calls must keep working.
			if c := setCfg.GetConfig(); c != nil {
				c.PauseEvalBroker, c.RejectJobRegistration = false, false
			}
			_, _ = r.SetSchedulerConfiguration(ctx, &setCfg)
		}
		var versions structs.JobSpecificRequest
		if proto.Unmarshal(data, &versions) == nil {
			versions.Options = nil
			_, _ = r.GetJobVersions(ctx, &versions)
		}
	})
}
