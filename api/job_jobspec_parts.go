package api

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/droverhq/drover/structs"
)

// Jobspec blocks the client applies around a task, in both directions:
// lifecycle, templates, volumes and volume mounts, shutdown delays and
// the ephemeral disk.

type lifecycleJSON struct {
	Hook    string
	Sidecar bool
}

// templateJSON is Nomad's Template; durations in nanoseconds.
type templateJSON struct {
	SourcePath    *string
	DestPath      *string
	EmbeddedTmpl  *string
	ChangeMode    *string
	ChangeScript  *changeScriptJSON
	ChangeSignal  *string
	Once          *bool
	Splay         *int64
	Perms         *string
	Uid           *int
	Gid           *int
	LeftDelim     *string
	RightDelim    *string
	Envvars       *bool
	VaultGrace    *int64
	Wait          *templateWaitJSON
	ErrMissingKey *bool
}

type changeScriptJSON struct {
	Command          *string
	Args             []string
	Timeout          *int64
	FailOnError      *bool
	RunOnFirstRender *bool
}

type templateWaitJSON struct {
	Min *int64
	Max *int64
}

type volumeRequestJSON struct {
	Name           string
	Type           string
	Source         string
	ReadOnly       bool
	Sticky         bool
	AccessMode     string
	AttachmentMode string
	MountOptions   *struct{ FSType, MountFlags any }
	PerAlloc       bool
}

type volumeMountJSON struct {
	Volume          *string
	Destination     *string
	ReadOnly        *bool
	PropagationMode *string
	SELinuxLabel    *string
}

// defaultTemplateSplay is Nomad's splay when a template sets none.
const defaultTemplateSplay = 5 * time.Second

func (c *jobConversion) lifecycle(path string, in *lifecycleJSON) *structs.TaskLifecycle {
	if in == nil {
		return nil
	}
	return &structs.TaskLifecycle{Hook: in.Hook, Sidecar: in.Sidecar}
}

func (c *jobConversion) templates(path string, in []*templateJSON) []*structs.Template {
	var out []*structs.Template
	for i, t := range in {
		tp := fmt.Sprintf("%sTemplates[%d].", path, i)
		if t == nil {
			c.problem(tp, "is null")
			continue
		}
		c.refuse(tp, map[string]bool{
			"Once": deref(t.Once), "Wait": t.Wait != nil && (deref(t.Wait.Min) > 0 || deref(t.Wait.Max) > 0),
			"Uid": t.Uid != nil && *t.Uid >= 0, "Gid": t.Gid != nil && *t.Gid >= 0,
		})
		tm := &structs.Template{
			Source: deref(t.SourcePath), Data: deref(t.EmbeddedTmpl), Destination: deref(t.DestPath),
			ChangeMode: deref(t.ChangeMode), ChangeSignal: deref(t.ChangeSignal), Perms: deref(t.Perms),
			Env: deref(t.Envvars), ErrorOnMissingKey: deref(t.ErrMissingKey),
		}
		if l, r := deref(t.LeftDelim), deref(t.RightDelim); l != "{{" || r != "}}" {
			tm.LeftDelimiter, tm.RightDelimiter = l, r
		}
		if tm.ChangeMode == structs.ChangeModeSignal && tm.ChangeSignal == "" {
			tm.ChangeSignal = "SIGHUP"
		}
		splay := defaultTemplateSplay
		if t.Splay != nil {
			splay = time.Duration(*t.Splay)
		}
		tm.Splay = durationpb.New(splay)
		if s := t.ChangeScript; s != nil {
			c.refuse(tp+"ChangeScript.", map[string]bool{"RunOnFirstRender": deref(s.RunOnFirstRender)})
			tm.ChangeScript = &structs.ChangeScript{
				Command: deref(s.Command), Args: s.Args, Timeout: durationpb.New(time.Duration(deref(s.Timeout))),
				FailOnError: deref(s.FailOnError),
			}
		}
		out = append(out, tm)
	}
	return out
}

func (c *jobConversion) volumeMounts(path string, in []*volumeMountJSON) []*structs.VolumeMount {
	var out []*structs.VolumeMount
	for i, m := range in {
		mp := fmt.Sprintf("%sVolumeMounts[%d].", path, i)
		if m == nil {
			c.problem(mp, "is null")
			continue
		}
		switch pm := deref(m.PropagationMode); pm {
		case "", "private":
		default:
			c.problem(mp, "PropagationMode %q is not supported by drover (only private)", pm)
		}
		c.refuse(mp, map[string]bool{"SELinuxLabel": deref(m.SELinuxLabel) != ""})
		out = append(out, &structs.VolumeMount{Volume: deref(m.Volume), Destination: deref(m.Destination), ReadOnly: deref(m.ReadOnly)})
	}
	return out
}

func (c *jobConversion) volumes(path string, in map[string]*volumeRequestJSON) map[string]*structs.VolumeRequest {
	if len(in) == 0 {
		return nil
	}
	out := make(map[string]*structs.VolumeRequest, len(in))
	for _, name := range slices.Sorted(maps.Keys(in)) {
		v := in[name]
		vp := fmt.Sprintf("%sVolumes[%q].", path, name)
		if v == nil {
			c.problem(vp, "is null")
			continue
		}
		if v.Type != structs.VolumeTypeHost {
			c.problem(vp, "Type %q is not supported by drover (only host volumes)", v.Type)
		}
		c.refuse(vp, map[string]bool{
			"PerAlloc": v.PerAlloc, "Sticky": v.Sticky, "MountOptions": v.MountOptions != nil,
			"AccessMode": v.AccessMode != "", "AttachmentMode": v.AttachmentMode != "",
		})
		out[name] = &structs.VolumeRequest{Type: v.Type, Source: v.Source, ReadOnly: v.ReadOnly}
	}
	return out
}

func (c *jobConversion) ephemeralDisk(path string, in *ephemeralDiskJSON) *structs.EphemeralDisk {
	if in == nil {
		return nil
	}
	c.refuse(path+"EphemeralDisk.", map[string]bool{"Migrate": deref(in.Migrate)})
	if !deref(in.Sticky) {
		return nil // its size alone changes nothing: disk is sized per task
	}
	return &structs.EphemeralDisk{SizeMb: int64(deref(in.SizeMB)), Sticky: deref(in.Sticky)}
}

func durationOrNil(ns int64) *durationpb.Duration {
	if ns <= 0 {
		return nil
	}
	return durationpb.New(time.Duration(ns))
}

func lifecycleToJSON(l *structs.TaskLifecycle) *lifecycleJSON {
	if l == nil {
		return nil
	}
	return &lifecycleJSON{Hook: l.Hook, Sidecar: l.Sidecar}
}

func templatesToJSON(in []*structs.Template) []*templateJSON {
	var out []*templateJSON
	for _, t := range in {
		mode := t.ChangeMode
		if mode == "" {
			mode = structs.ChangeModeRestart
		}
		perms := t.Perms
		if perms == "" {
			perms = "0644"
		}
		l, r := t.LeftDelimiter, t.RightDelimiter
		if l == "" {
			l, r = "{{", "}}"
		}
		tj := &templateJSON{
			SourcePath: ptr(t.Source), DestPath: ptr(t.Destination), EmbeddedTmpl: ptr(t.Data),
			ChangeMode: ptr(mode), ChangeSignal: ptr(t.ChangeSignal), Once: ptr(false),
			Splay: ptr(int64(t.Splay.AsDuration())), Perms: ptr(perms), LeftDelim: ptr(l), RightDelim: ptr(r),
			Envvars: ptr(t.Env), VaultGrace: ptr(int64(0)), ErrMissingKey: ptr(t.ErrorOnMissingKey),
		}
		if s := t.ChangeScript; s != nil {
			tj.ChangeScript = &changeScriptJSON{
				Command: ptr(s.Command), Args: s.Args, Timeout: ptr(int64(s.Timeout.AsDuration())),
				FailOnError: ptr(s.FailOnError), RunOnFirstRender: ptr(false),
			}
		}
		out = append(out, tj)
	}
	return out
}

func volumeMountsToJSON(in []*structs.VolumeMount) []*volumeMountJSON {
	var out []*volumeMountJSON
	for _, m := range in {
		out = append(out, &volumeMountJSON{
			Volume: ptr(m.Volume), Destination: ptr(m.Destination), ReadOnly: ptr(m.ReadOnly),
			PropagationMode: ptr("private"), SELinuxLabel: ptr(""),
		})
	}
	return out
}

func volumesToJSON(in map[string]*structs.VolumeRequest) map[string]*volumeRequestJSON {
	if len(in) == 0 {
		return nil
	}
	out := make(map[string]*volumeRequestJSON, len(in))
	for name, v := range in {
		out[name] = &volumeRequestJSON{Name: name, Type: v.Type, Source: v.Source, ReadOnly: v.ReadOnly}
	}
	return out
}

func ephemeralDiskToJSON(d *structs.EphemeralDisk) *ephemeralDiskJSON {
	size := 300
	if d.GetSizeMb() > 0 {
		size = int(d.GetSizeMb())
	}
	return &ephemeralDiskJSON{Sticky: ptr(d.GetSticky()), Migrate: ptr(false), SizeMB: ptr(size)}
}
