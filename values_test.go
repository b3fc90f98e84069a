package drover_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/droverhq/drover"
)

func TestTaskConfigConvertsPlainGoValues(t *testing.T) {
	type mode string
	n := 7
	cfg, err := drover.NewTaskConfig(map[string]any{
		"command":  "/bin/sh",
		"args":     []string{"-c", "echo hi"},
		"ports":    []int{8080, 8443},
		"ratio":    float32(0.5),
		"big":      uint64(1 << 40),
		"enabled":  true,
		"mode":     mode("fast"),
		"env":      map[string]string{"A": "1"},
		"nested":   map[string]any{"list": []any{1, "two", []string{"x"}}, "limits": map[string]int{"cpu": 2}},
		"timeout":  90 * time.Second,
		"timeouts": []time.Duration{time.Second, time.Minute},
		"ptr":      &n,
		"nilptr":   (*int)(nil),
		"nothing":  nil,
		"nilmap":   map[string]string(nil),
		"bytes":    []byte("text"),
		"array":    [2]bool{true, false},
		"raw":      structpb.NewStringValue("as is"),
		"rawobj":   &structpb.Struct{Fields: map[string]*structpb.Value{"k": structpb.NewBoolValue(true)}},
	})
	require.NoError(t, err)
	got, err := protojson.Marshal(cfg)
	require.NoError(t, err)
	require.JSONEq(t, `{
		"command": "/bin/sh", "args": ["-c", "echo hi"], "ports": [8080, 8443], "ratio": 0.5,
		"big": 1099511627776, "enabled": true, "mode": "fast", "env": {"A": "1"},
		"nested": {"list": [1, "two", ["x"]], "limits": {"cpu": 2}},
		"timeout": "1m30s", "timeouts": ["1s", "1m0s"], "ptr": 7, "nilptr": null, "nothing": null,
		"nilmap": null, "bytes": "text", "array": [true, false], "raw": "as is", "rawobj": {"k": true}
	}`, string(got))
}

func TestTaskConfigRefusesWhatHasNoConfigForm(t *testing.T) {
	for name, v := range map[string]any{
		"a struct":            struct{ A int }{1},
		"a channel in a list": []any{make(chan int)},
		"int keys":            map[int]string{1: "a"},
		"a deep function":     map[string]any{"f": map[string]any{"g": func() {}}},
		"a huge integer":      int64(1) << 60,
		"binary bytes":        []byte{0xff, 0xfe},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := drover.NewTaskConfig(map[string]any{"k": v})
			require.ErrorIs(t, err, drover.ErrBadRequest)
			require.ErrorContains(t, err, "k")
		})
	}
	_, err := drover.NewTaskConfig(map[string]any{"outer": map[string]any{"inner": []any{1, struct{}{}}}})
	require.ErrorContains(t, err, "outer.inner[1]", "the error names the path")
	require.Panics(t, func() { drover.TaskConfig(map[string]any{"k": struct{}{}}) })
}

func TestDurationAndCloneJob(t *testing.T) {
	require.Equal(t, 90*time.Second, drover.Duration(90*time.Second).AsDuration())
	require.Nil(t, drover.CloneJob(nil))
	job := &drover.Job{Id: "web", TaskGroups: []*drover.TaskGroup{{Name: "g", Count: 1,
		Tasks: []*drover.Task{{Name: "t", Config: drover.TaskConfig(map[string]any{"a": "b"})}}}}}
	c := drover.CloneJob(job)
	require.True(t, proto.Equal(job, c))
	c.TaskGroups[0].Count = 3
	c.TaskGroups[0].Tasks[0].Config.Fields["a"] = structpb.NewStringValue("c")
	require.EqualValues(t, 1, job.TaskGroups[0].Count, "the copy is deep")
	require.Equal(t, "b", job.TaskGroups[0].Tasks[0].Config.Fields["a"].GetStringValue())
}
