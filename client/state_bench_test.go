package client

import (
	"strconv"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/driver"
	"github.com/droverhq/drover/structs"
)

// BenchmarkRecordTaskState measures what every task state change costs the
// client: the task's record and the allocation update written to bbolt in
// one fsynced transaction.
func BenchmarkRecordTaskState(b *testing.B) {
	s, err := openState(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.close()
	st := &structs.TaskState{State: structs.TaskStateRunning, StartedAt: time.Now().UnixNano()}
	for i := range maxTaskEvents {
		st.Events = append(st.Events, &structs.TaskEvent{Type: structs.TaskEventStarted, Time: int64(i), Message: "task started by client"})
	}
	data, _ := proto.Marshal(st)
	rec := &taskRecord{State: data, Handle: &driver.TaskHandle{ID: "a/t", Driver: "exec", PID: 4242, StartedAt: time.Now(),
		State: []byte(`{"pgid":4242,"start_time":123456,"confinement":{"cgroup":"/sys/fs/cgroup/drover/a.t"}}`)}}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		id := "alloc-" + strconv.Itoa(i%64)
		upd := &pendingUpdate{seq: uint64(i), alloc: &structs.Allocation{Id: id, ClientStatus: structs.AllocClientRunning,
			TaskStates: map[string]*structs.TaskState{"t": st}}}
		if err := s.putTask(id, "t", rec, upd); err != nil {
			b.Fatal(err)
		}
	}
}
