package api

import (
	"encoding/json"
	"testing"
	"time"

	nomad "github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/structs"
)

// The jobspec blocks the client applies convert from Nomad's shape, are
// stored, and render back as Nomad's client reads them.
func TestJobspecPartsRoundTrip(t *testing.T) {
	job := webJob()
	tg := job.TaskGroups[0]
	tg.Volumes = map[string]*nomad.VolumeRequest{"certs": {Name: "certs", Type: "host", Source: "certs", ReadOnly: true}}
	tg.EphemeralDisk = &nomad.EphemeralDisk{Sticky: ptr(true), SizeMB: ptr(500)}
	tg.ShutdownDelay = ptr(3 * time.Second)
	tg.RestartPolicy.RenderTemplates = ptr(true)
	main := task(job)
	main.Leader = true
	main.ShutdownDelay = time.Second
	main.VolumeMounts = []*nomad.VolumeMount{{Volume: ptr("certs"), Destination: ptr("/etc/certs"), ReadOnly: ptr(true)}}
	main.Templates = []*nomad.Template{
		{EmbeddedTmpl: ptr("x={{ env \"A\" }}"), DestPath: ptr("local/x.conf"), ChangeMode: ptr("signal"), Perms: ptr("0600")},
		{SourcePath: ptr("local/in.tpl"), DestPath: ptr("secrets/e.env"), Envvars: ptr(true), Splay: ptr(time.Duration(0)),
			LeftDelim: ptr("<<"), RightDelim: ptr(">>")},
		{EmbeddedTmpl: ptr("y"), DestPath: ptr("local/y"), ChangeMode: ptr("script"),
			ChangeScript: &nomad.ChangeScript{Command: ptr("/bin/reload"), Args: []string{"-q"}, Timeout: ptr(2 * time.Second), FailOnError: ptr(true)}},
	}
	pre := nomad.NewTask("init", "mock").SetConfig("run_for", "1s")
	pre.Lifecycle = &nomad.TaskLifecycle{Hook: "prestart", Sidecar: true}
	tg.AddTask(pre)

	in, warnings, err := jobFromJSON(decodeNomadJob(t, job))
	require.NoError(t, err)
	require.Empty(t, warnings)
	valid := proto.Clone(in).(*structs.Job)
	valid.Canonicalize(structs.DefaultJobPriority)
	require.NoError(t, valid.Validate(structs.Limits{}))
	g := in.TaskGroups[0]
	require.True(t, proto.Equal(&structs.VolumeRequest{Type: "host", Source: "certs", ReadOnly: true}, g.Volumes["certs"]))
	require.True(t, g.EphemeralDisk.Sticky)
	require.Equal(t, 3*time.Second, g.ShutdownDelay.AsDuration())
	require.True(t, g.RestartPolicy.RenderTemplates)
	st := g.Tasks[0]
	require.True(t, st.Leader)
	require.Equal(t, "SIGHUP", st.Templates[0].ChangeSignal, "Nomad's default signal")
	require.Equal(t, 5*time.Second, st.Templates[0].Splay.AsDuration(), "Nomad's default splay")
	require.Equal(t, "<<", st.Templates[1].LeftDelimiter)
	require.Equal(t, "/bin/reload", st.Templates[2].ChangeScript.Command)
	require.Equal(t, "prestart", g.Tasks[1].Lifecycle.Hook)

	b, err := json.Marshal(jobToJSON(in))
	require.NoError(t, err)
	var out nomad.Job
	require.NoError(t, json.Unmarshal(b, &out))
	og := out.TaskGroups[0]
	require.Equal(t, "certs", og.Volumes["certs"].Source)
	require.True(t, *og.EphemeralDisk.Sticky)
	require.Equal(t, 3*time.Second, *og.ShutdownDelay)
	require.True(t, *og.RestartPolicy.RenderTemplates)
	ot := og.Tasks[0]
	require.True(t, ot.Leader)
	require.Equal(t, time.Second, ot.ShutdownDelay)
	require.Equal(t, "/etc/certs", *ot.VolumeMounts[0].Destination)
	require.Equal(t, "0600", *ot.Templates[0].Perms)
	require.True(t, *ot.Templates[1].Envvars)
	require.Equal(t, "-q", ot.Templates[2].ChangeScript.Args[0])
	require.Equal(t, &nomad.TaskLifecycle{Hook: "prestart", Sidecar: true}, og.Tasks[1].Lifecycle)

	var again jobJSON
	require.NoError(t, json.Unmarshal(b, &again))
	back, _, err := jobFromJSON(&again)
	require.NoError(t, err)
	// What was rendered (defaults made explicit) renders the same again.
	back.Version, back.CreateIndex, back.ModifyIndex, back.JobModifyIndex, back.SubmitTime, back.Status =
		in.Version, in.CreateIndex, in.ModifyIndex, in.JobModifyIndex, in.SubmitTime, in.Status
	b2, err := json.Marshal(jobToJSON(back))
	require.NoError(t, err)
	require.JSONEq(t, string(b), string(b2))
}

func TestJobspecPartsValidation(t *testing.T) {
	for _, tc := range []struct {
		name   string
		modify func(*nomad.Job)
		want   string
	}{
		{"bad hook", func(j *nomad.Job) { task(j).Lifecycle = &nomad.TaskLifecycle{Hook: "later"} }, `hook "later" is not one of prestart, poststart, poststop`},
		{"no main task", func(j *nomad.Job) { task(j).Lifecycle = &nomad.TaskLifecycle{Hook: "prestart"} }, "a main task"},
		{"poststop sidecar", func(j *nomad.Job) {
			p := nomad.NewTask("p", "mock")
			p.Lifecycle = &nomad.TaskLifecycle{Hook: "poststop", Sidecar: true}
			j.TaskGroups[0].AddTask(p)
		}, "a poststop task cannot be a sidecar"},
		{"template escape", func(j *nomad.Job) {
			task(j).Templates = []*nomad.Template{{EmbeddedTmpl: ptr("x"), DestPath: ptr("../../etc/passwd")}}
		}, "must be inside the task directory"},
		{"template both", func(j *nomad.Job) {
			task(j).Templates = []*nomad.Template{{EmbeddedTmpl: ptr("x"), SourcePath: ptr("a"), DestPath: ptr("b")}}
		}, "only one of source and data"},
		{"template perms", func(j *nomad.Job) {
			task(j).Templates = []*nomad.Template{{EmbeddedTmpl: ptr("x"), DestPath: ptr("b"), Perms: ptr("rw")}}
		}, "perms"},
		{"unknown volume", func(j *nomad.Job) {
			task(j).VolumeMounts = []*nomad.VolumeMount{{Volume: ptr("nope"), Destination: ptr("/x")}}
		}, `volume "nope" is not one of the group's volumes`},
		{"two leaders", func(j *nomad.Job) {
			task(j).Leader = true
			l := nomad.NewTask("l2", "mock")
			l.Leader = true
			j.TaskGroups[0].AddTask(l)
		}, "only one task may be the leader"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			job := webJob()
			tc.modify(job)
			j, _, err := jobFromJSON(decodeNomadJob(t, job))
			require.NoError(t, err)
			j.Canonicalize(structs.DefaultJobPriority)
			err = j.Validate(structs.Limits{})
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// task is a job's first task.
func task(j *nomad.Job) *nomad.Task { return j.TaskGroups[0].Tasks[0] }
