package api

import (
	"encoding/json"
	"testing"
	"time"

	nomad "github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/droverhq/drover/structs"
)

// renderNomad renders a stored job as the handler does and decodes it
// with Nomad's own types, as Nomad's client reads it.
func renderNomad(t *testing.T, j *structs.Job) *nomad.Job {
	t.Helper()
	b, err := json.Marshal(jobToJSON(j))
	require.NoError(t, err)
	var out nomad.Job
	require.NoError(t, json.Unmarshal(b, &out))
	return &out
}

// TestNomadFieldsRoundTrip converts each field drover runs from Nomad's
// JSON to the stored job and back: the stored job holds what was asked,
// and a read shows it as Nomad would (defaults filled in).
func TestNomadFieldsRoundTrip(t *testing.T) {
	group := func(j *nomad.Job) *nomad.TaskGroup { return j.TaskGroups[0] }
	task := func(j *nomad.Job) *nomad.Task { return j.TaskGroups[0].Tasks[0] }
	sha := "sha256:" + "ab" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"
	cases := []struct {
		name   string
		modify func(j *nomad.Job)
		// stored picks what the stored job holds; want is what it must be.
		stored func(j *structs.Job) proto.Message
		want   proto.Message
		// read picks the field of the read; it must equal the same field
		// of the input, or readWant when set (defaults filled in).
		read     func(j *nomad.Job) any
		readWant any
	}{
		{
			name: "job affinity",
			modify: func(j *nomad.Job) {
				j.Affinities = []*nomad.Affinity{nomad.NewAffinity("${node.class}", "=", "big", 30)}
			},
			stored: func(j *structs.Job) proto.Message { return j.Affinities[0] },
			want:   &structs.Affinity{LTarget: "${node.class}", Operand: "=", RTarget: "big", Weight: 30},
			read:   func(j *nomad.Job) any { return j.Affinities },
		},
		{
			name: "affinity without a weight",
			modify: func(j *nomad.Job) {
				j.Affinities = []*nomad.Affinity{{LTarget: "${meta.rack}", Operand: "!=", RTarget: "r1"}}
			},
			stored:   func(j *structs.Job) proto.Message { return j.Affinities[0] },
			want:     &structs.Affinity{LTarget: "${meta.rack}", Operand: "!=", RTarget: "r1", Weight: 50},
			read:     func(j *nomad.Job) any { return j.Affinities },
			readWant: []*nomad.Affinity{nomad.NewAffinity("${meta.rack}", "!=", "r1", 50)},
		},
		{
			name: "group affinity",
			modify: func(j *nomad.Job) {
				group(j).Affinities = []*nomad.Affinity{nomad.NewAffinity("${attr.kernel.name}", "regexp", "lin.*", -20)}
			},
			stored: func(j *structs.Job) proto.Message { return j.TaskGroups[0].Affinities[0] },
			want:   &structs.Affinity{LTarget: "${attr.kernel.name}", Operand: "regexp", RTarget: "lin.*", Weight: -20},
			read:   func(j *nomad.Job) any { return j.TaskGroups[0].Affinities },
		},
		{
			name: "task affinity",
			modify: func(j *nomad.Job) {
				task(j).Affinities = []*nomad.Affinity{nomad.NewAffinity("${node.datacenter}", "set_contains_any", "dc1,dc2", 100)}
			},
			stored: func(j *structs.Job) proto.Message { return j.TaskGroups[0].Tasks[0].Affinities[0] },
			want:   &structs.Affinity{LTarget: "${node.datacenter}", Operand: "set_contains_any", RTarget: "dc1,dc2", Weight: 100},
			read:   func(j *nomad.Job) any { return j.TaskGroups[0].Tasks[0].Affinities },
		},
		{
			name: "job spread with targets",
			modify: func(j *nomad.Job) {
				j.Spreads = []*nomad.Spread{nomad.NewSpread("${node.datacenter}", 70, []*nomad.SpreadTarget{
					nomad.NewSpreadTarget("dc1", 60), nomad.NewSpreadTarget("dc2", 40),
				})}
			},
			stored: func(j *structs.Job) proto.Message { return j.Spreads[0] },
			want: &structs.Spread{Attribute: "${node.datacenter}", Weight: 70, Targets: []*structs.SpreadTarget{
				{Value: "dc1", Percent: 60}, {Value: "dc2", Percent: 40},
			}},
			read: func(j *nomad.Job) any { return j.Spreads },
		},
		{
			name:     "group spread without weight or targets",
			modify:   func(j *nomad.Job) { group(j).Spreads = []*nomad.Spread{{Attribute: "${meta.rack}"}} },
			stored:   func(j *structs.Job) proto.Message { return j.TaskGroups[0].Spreads[0] },
			want:     &structs.Spread{Attribute: "${meta.rack}", Weight: 50},
			read:     func(j *nomad.Job) any { return j.TaskGroups[0].Spreads },
			readWant: []*nomad.Spread{nomad.NewSpread("${meta.rack}", 50, nil)},
		},
		{
			name: "static and dynamic ports",
			modify: func(j *nomad.Job) {
				group(j).Networks = []*nomad.NetworkResource{{
					Mode:          "host",
					ReservedPorts: []nomad.Port{{Label: "admin", Value: 9000, HostNetwork: "default"}},
					DynamicPorts: []nomad.Port{
						{Label: "http", To: 8080, HostNetwork: "default"}, {Label: "metrics", HostNetwork: "default"},
					},
				}}
			},
			stored: func(j *structs.Job) proto.Message { return j.TaskGroups[0].Network },
			want: &structs.NetworkResource{Ports: []*structs.Port{
				{Label: "admin", Value: 9000}, {Label: "http", To: 8080}, {Label: "metrics"},
			}},
			read: func(j *nomad.Job) any { return j.TaskGroups[0].Networks },
		},
		{
			name: "network without a mode",
			modify: func(j *nomad.Job) {
				group(j).Networks = []*nomad.NetworkResource{{DynamicPorts: []nomad.Port{{Label: "http"}}}}
			},
			stored: func(j *structs.Job) proto.Message { return j.TaskGroups[0].Network },
			want:   &structs.NetworkResource{Ports: []*structs.Port{{Label: "http"}}},
			read:   func(j *nomad.Job) any { return j.TaskGroups[0].Networks },
			readWant: []*nomad.NetworkResource{{
				Mode: "host", ReservedPorts: []nomad.Port{}, DynamicPorts: []nomad.Port{{Label: "http", HostNetwork: "default"}},
			}},
		},
		{
			name: "reschedule policy",
			modify: func(j *nomad.Job) {
				group(j).ReschedulePolicy = &nomad.ReschedulePolicy{
					Attempts: ptr(3), Interval: ptr(time.Hour), Delay: ptr(10 * time.Second),
					DelayFunction: ptr("fibonacci"), MaxDelay: ptr(5 * time.Minute), Unlimited: ptr(false),
				}
			},
			stored: func(j *structs.Job) proto.Message { return j.TaskGroups[0].ReschedulePolicy },
			want: &structs.ReschedulePolicy{
				Attempts: 3, Interval: durationpb.New(time.Hour), Delay: durationpb.New(10 * time.Second),
				DelayFunction: "fibonacci", MaxDelay: durationpb.New(5 * time.Minute),
			},
			read: func(j *nomad.Job) any { return j.TaskGroups[0].ReschedulePolicy },
		},
		{
			name: "partial reschedule policy of a batch job takes the batch defaults",
			modify: func(j *nomad.Job) {
				j.Type = ptr("batch")
				group(j).ReschedulePolicy = &nomad.ReschedulePolicy{Attempts: ptr(4)}
			},
			stored: func(j *structs.Job) proto.Message { return j.TaskGroups[0].ReschedulePolicy },
			want: &structs.ReschedulePolicy{
				Attempts: 4, Interval: durationpb.New(24 * time.Hour), Delay: durationpb.New(5 * time.Second),
				DelayFunction: "constant", MaxDelay: durationpb.New(0),
			},
			read: func(j *nomad.Job) any { return j.TaskGroups[0].ReschedulePolicy },
			readWant: &nomad.ReschedulePolicy{
				Attempts: ptr(4), Interval: ptr(24 * time.Hour), Delay: ptr(5 * time.Second),
				DelayFunction: ptr("constant"), MaxDelay: ptr(time.Duration(0)), Unlimited: ptr(false),
			},
		},
		{
			name: "job reschedule block under the group's",
			modify: func(j *nomad.Job) {
				j.Reschedule = &nomad.ReschedulePolicy{Delay: ptr(time.Minute), DelayFunction: ptr("constant")}
				group(j).ReschedulePolicy = &nomad.ReschedulePolicy{Delay: ptr(2 * time.Minute)}
			},
			stored: func(j *structs.Job) proto.Message { return j.TaskGroups[0].ReschedulePolicy },
			want: &structs.ReschedulePolicy{
				Interval: durationpb.New(0), Delay: durationpb.New(2 * time.Minute), DelayFunction: "constant",
				MaxDelay: durationpb.New(time.Hour), Unlimited: true,
			},
			read: func(j *nomad.Job) any { return j.TaskGroups[0].ReschedulePolicy },
			readWant: &nomad.ReschedulePolicy{
				Attempts: ptr(0), Interval: ptr(time.Duration(0)), Delay: ptr(2 * time.Minute),
				DelayFunction: ptr("constant"), MaxDelay: ptr(time.Hour), Unlimited: ptr(true),
			},
		},
		{
			name:   "memory oversubscription",
			modify: func(j *nomad.Job) { task(j).Resources.MemoryMaxMB = ptr(256) },
			stored: func(j *structs.Job) proto.Message { return j.TaskGroups[0].Tasks[0].Resources },
			want:   &structs.Resources{CpuMhz: 250, MemoryMb: 64, MemoryMaxMb: 256, DiskMb: 10},
			read:   func(j *nomad.Job) any { return *j.TaskGroups[0].Tasks[0].Resources.MemoryMaxMB },
		},
		{
			name: "artifact with destination and checksum",
			modify: func(j *nomad.Job) {
				task(j).Artifacts = []*nomad.TaskArtifact{{
					GetterSource: ptr("https://example.com/app.tar.gz"), RelativeDest: ptr("local/app"),
					GetterOptions: map[string]string{"checksum": sha}, GetterMode: ptr("any"), GetterInsecure: ptr(false),
				}}
			},
			stored: func(j *structs.Job) proto.Message { return j.TaskGroups[0].Tasks[0].Artifacts[0] },
			want: &structs.Artifact{
				Source: "https://example.com/app.tar.gz", Destination: "local/app", Options: map[string]string{"checksum": sha},
			},
			read: func(j *nomad.Job) any { return j.TaskGroups[0].Tasks[0].Artifacts },
		},
		{
			name: "artifact without destination",
			modify: func(j *nomad.Job) {
				task(j).Artifacts = []*nomad.TaskArtifact{{GetterSource: ptr("/srv/tools/run.sh")}}
			},
			stored: func(j *structs.Job) proto.Message { return j.TaskGroups[0].Tasks[0].Artifacts[0] },
			want:   &structs.Artifact{Source: "/srv/tools/run.sh", Destination: "local/"},
			read:   func(j *nomad.Job) any { return j.TaskGroups[0].Tasks[0].Artifacts },
			readWant: []*nomad.TaskArtifact{{
				GetterSource: ptr("/srv/tools/run.sh"), RelativeDest: ptr("local/"), GetterMode: ptr("any"), GetterInsecure: ptr(false),
			}},
		},
		{
			name: "log config",
			modify: func(j *nomad.Job) {
				task(j).LogConfig = &nomad.LogConfig{MaxFiles: ptr(3), MaxFileSizeMB: ptr(5), Disabled: ptr(false)}
			},
			stored: func(j *structs.Job) proto.Message { return j.TaskGroups[0].Tasks[0].Logs },
			want:   &structs.LogConfig{MaxFiles: 3, MaxFileSizeMb: 5},
			read:   func(j *nomad.Job) any { return j.TaskGroups[0].Tasks[0].LogConfig },
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := webJob()
			tc.modify(in)
			got, warnings, err := jobFromJSON(decodeNomadJob(t, in))
			require.NoError(t, err)
			require.Empty(t, warnings)
			canon := proto.Clone(got).(*structs.Job)
			canon.Canonicalize(structs.DefaultJobPriority)
			require.NoError(t, canon.Validate(structs.Limits{}), "the stored form is a valid drover job")
			require.True(t, proto.Equal(tc.want, tc.stored(got)), "stored: want %v, got %v", tc.want, tc.stored(got))
			want := tc.readWant
			if want == nil {
				want = tc.read(in)
			}
			require.Equal(t, want, tc.read(renderNomad(t, got)))
		})
	}
}

func TestUpdateBlockIsApplied(t *testing.T) {
	cases := []struct {
		name        string
		job, group  *nomad.UpdateStrategy
		maxParallel int32
		canary      int32
	}{
		{"none", nil, nil, 0, 0},
		{"rolling", &nomad.UpdateStrategy{MaxParallel: ptr(2)}, nil, 2, 0},
		{"off for the job", &nomad.UpdateStrategy{MaxParallel: ptr(0), HealthCheck: ptr("checks")}, nil, 0, 0},
		{"off for the job, on for the group", &nomad.UpdateStrategy{MaxParallel: ptr(0)}, &nomad.UpdateStrategy{MaxParallel: ptr(1)}, 1, 0},
		{"on for the job, off for the group", &nomad.UpdateStrategy{MaxParallel: ptr(3)}, &nomad.UpdateStrategy{MaxParallel: ptr(0)}, 0, 0},
		{"canaries with Nomad's default parallelism", nil, &nomad.UpdateStrategy{Canary: ptr(1)}, 1, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			j := webJob()
			j.Update, j.TaskGroups[0].Update = tc.job, tc.group
			got, warnings, err := jobFromJSON(decodeNomadJob(t, j))
			require.NoError(t, err)
			require.Empty(t, warnings)
			got.Canonicalize(50)
			require.NoError(t, got.Validate(structs.Limits{}))
			u := got.TaskGroups[0].Update
			require.Equal(t, tc.maxParallel, u.GetMaxParallel())
			require.Equal(t, tc.canary, u.GetCanary())
			back := renderNomad(t, got)
			if u != nil {
				require.Equal(t, int(tc.maxParallel), *back.TaskGroups[0].Update.MaxParallel, "reads show the block in force")
				require.Equal(t, 5*time.Minute, *back.TaskGroups[0].Update.HealthyDeadline)
			}
		})
	}
}

func TestUpdateOfSystemJobsWarns(t *testing.T) {
	j := webJob()
	j.Type = ptr("system")
	j.Update = &nomad.UpdateStrategy{MaxParallel: ptr(2)}
	_, warnings, err := jobFromJSON(decodeNomadJob(t, j))
	require.NoError(t, err)
	require.Equal(t, []string{`job "web": Update is accepted but not applied by drover to system jobs: they are updated at once`}, warnings)
}
