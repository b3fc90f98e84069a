package structs

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"
)

// FuzzJobDecodeValidate decodes arbitrary bytes as a job, as a server does
// with a registration request, and validates it: the result is a job or a
// *ValidationError, never a panic.
func FuzzJobDecodeValidate(f *testing.F) {
	good := &Job{Id: "web", TaskGroups: []*TaskGroup{{Name: "g", Count: 1, Tasks: []*Task{{Name: "t", Driver: "mock"}}}}}
	b, _ := proto.Marshal(good)
	f.Add(b)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		var j Job
		if err := proto.Unmarshal(data, &j); err != nil {
			return
		}
		j.Canonicalize(DefaultJobPriority)
		err := j.Validate(Limits{MaxPriority: 100})
		if err != nil && !errors.Is(err, ErrValidation) {
			t.Fatalf("validation error of the wrong kind: %v", err)
		}
	})
}
