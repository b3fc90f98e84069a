package server

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/server/state"
	"github.com/droverhq/drover/structs"
)

// FuzzFSMApply feeds the FSM whatever commands arbitrary raft entry bytes
// decode to: whatever a log holds, applying it returns an error or a
// result, never a panic.
func FuzzFSMApply(f *testing.F) {
	seeds := []*structs.LogCommand{
		{Command: &structs.LogCommand_JobUpsert{JobUpsert: &structs.JobUpsert{Job: mockJob("j", 1), Eval: &structs.Evaluation{Id: "e"}}}},
		{Command: &structs.LogCommand_NodeUpsert{NodeUpsert: &structs.NodeUpsert{Node: mockNode("n")}}},
		{Command: &structs.LogCommand_NodeUpsertBatch{NodeUpsertBatch: &structs.NodeUpsertBatch{Upserts: []*structs.NodeUpsert{
			{Node: mockNode("n2")}, {}, {Node: mockNode("n3"), Evals: []*structs.Evaluation{{Id: "e2"}}},
		}}}},
		{Command: &structs.LogCommand_NodeStatus{NodeStatus: &structs.NodeStatusUpdate{NodeId: "n", Status: "down"}}},
		{Command: &structs.LogCommand_NodeStatus{NodeStatus: &structs.NodeStatusUpdate{NodeId: "n", Status: "disconnected"}}},
		{Command: &structs.LogCommand_NodeDisconnectExpiry{NodeDisconnectExpiry: &structs.NodeDisconnectExpiry{NodeId: "n"}}},
		{Command: &structs.LogCommand_PlanApply{PlanApply: &structs.PlanApply{Result: &structs.PlanResult{
			NodeUpdate: []*structs.Allocation{{Id: "a", ReconnectedAt: 1}},
		}}}},
		{Command: &structs.LogCommand_PlanApply{PlanApply: &structs.PlanApply{Result: &structs.PlanResult{
			NodeAllocation: []*structs.Allocation{{Id: "a", NodeId: "n", JobId: "j", Namespace: "default"}},
		}}}},
		{Command: &structs.LogCommand_AllocClientUpdate{AllocClientUpdate: &structs.AllocClientUpdate{
			Allocations: []*structs.Allocation{{Id: "a", ClientStatus: "failed"}},
		}}},
		{Command: &structs.LogCommand_JobDelete{JobDelete: &structs.JobDelete{Namespace: "default", JobId: "j"}}},
		{Command: &structs.LogCommand_NodeDrain{NodeDrain: &structs.NodeDrainUpdate{
			NodeId: "n", DrainStrategy: &structs.DrainStrategy{}, Eligibility: "ineligible", DrainStatus: "draining",
		}}},
		{Command: &structs.LogCommand_AllocTransition{AllocTransition: &structs.AllocTransitionUpdate{
			Transitions: map[string]*structs.DesiredTransition{"a": {Migrate: true}},
		}}},
		{Command: &structs.LogCommand_SchedulerConfigSet{SchedulerConfigSet: &structs.SchedulerConfigSet{
			Config: &structs.SchedulerConfiguration{SchedulerAlgorithm: "spread"}, Cas: true,
		}}},
		{Command: &structs.LogCommand_NodeEligibility{NodeEligibility: &structs.NodeEligibilityUpdate{NodeId: "n", Eligibility: "ineligible"}}},
		{Command: &structs.LogCommand_PlanApply{PlanApply: &structs.PlanApply{Job: mockJob("j", 1), Result: &structs.PlanResult{
			NodeUpdate:      []*structs.Allocation{{Id: "a", DesiredStatus: "stop", FollowupEvalId: "f"}},
			NodePreemptions: []*structs.Allocation{{Id: "a", PreemptedByAllocation: "b"}},
			NodeAllocation:  []*structs.Allocation{{Id: "b", NodeId: "n", JobId: "j", Namespace: "default", PreviousAllocation: "a"}},
		}}}},
		{Command: &structs.LogCommand_ServiceRegistrationUpsert{ServiceRegistrationUpsert: &structs.ServiceRegistrationUpsert{
			Services: []*structs.ServiceRegistration{{Id: "s", AllocId: "a", NodeId: "n", ServiceName: "web"}, nil},
		}}},
		{Command: &structs.LogCommand_ServiceRegistrationDelete{ServiceRegistrationDelete: &structs.ServiceRegistrationDelete{
			Ids: []string{"s"}, AllocIds: []string{"a"}, Namespace: "default",
		}}},
		{Command: &structs.LogCommand_VariableUpsert{VariableUpsert: &structs.VariableUpsert{
			Variable: &structs.Variable{Namespace: "default", Path: "p", EncryptedItems: []byte{1}}, CheckIndex: true,
		}}},
		{Command: &structs.LogCommand_VariableDelete{VariableDelete: &structs.VariableDelete{Namespace: "default", Path: "p", CheckIndex: true, CasIndex: 1}}},
		{Command: &structs.LogCommand_RootKeyUpsert{RootKeyUpsert: &structs.RootKeyUpsert{
			Key: &structs.RootKey{KeyId: "k", Material: []byte{1}}, Activate: true,
		}}},
		{Command: &structs.LogCommand_RootKeyDelete{RootKeyDelete: &structs.RootKeyDelete{KeyIds: []string{"k", ""}}}},
	}
	for _, s := range seeds {
		b, err := proto.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fsm := &fsm{state: state.NewStore()}
		// Apply the same bytes twice so updates meet existing objects.
		for index := uint64(1); index <= 2; index++ {
			var cmd structs.LogCommand
			if proto.Unmarshal(data, &cmd) != nil {
				return
			}
			_ = fsm.Apply(index, &cmd)
		}
		_ = fsm.state.Snapshot().Persist()
	})
}
