package structs

import (
	"fmt"
	"strconv"
	"strings"
)

// Validation of the blocks a client applies around a task: lifecycle,
// templates, volumes, shutdown delays and the ephemeral disk.

// Template change modes.
const (
	ChangeModeRestart = "restart"
	ChangeModeSignal  = "signal"
	ChangeModeNoop    = "noop"
	ChangeModeScript  = "script"
)

// VolumeTypeHost is the type of a group volume backed by a node's host
// volume.
const VolumeTypeHost = "host"

// maxTemplateBytes bounds a template's data.
const maxTemplateBytes = 1 << 20

// validateJobspecParts checks the group's lifecycle, volumes and delays
// and its tasks' templates and volume mounts.
func (tg *TaskGroup) validateJobspecParts(p *problems, prefix string) {
	var mains, hooked, leaders int
	for _, t := range tg.Tasks {
		if t == nil {
			continue
		}
		tp := prefix + "task " + Quote(t.Name) + ": "
		if l := t.Lifecycle; l != nil {
			hooked++
			switch l.Hook {
			case LifecyclePrestart, LifecyclePoststart:
			case LifecyclePoststop:
				if l.Sidecar {
					p.addf(tp, "lifecycle: a poststop task cannot be a sidecar")
				}
			default:
				p.addf(tp, "lifecycle: hook %s is not one of prestart, poststart, poststop", Quote(l.Hook))
			}
		} else {
			mains++
		}
		if t.Leader {
			leaders++
		}
		if d := t.ShutdownDelay; d != nil && (d.CheckValid() != nil || d.AsDuration() < 0) {
			p.addf(tp, "shutdown_delay must be >= 0")
		}
		for i, tmpl := range t.Templates {
			validateTemplate(p, fmt.Sprintf("%stemplate %d: ", tp, i), tmpl)
		}
		for i, m := range t.VolumeMounts {
			mp := fmt.Sprintf("%svolume_mount %d: ", tp, i)
			switch {
			case m == nil:
				p.addf(mp, "is missing")
			case tg.Volumes[m.Volume] == nil:
				p.addf(mp, "volume %s is not one of the group's volumes", Quote(m.Volume))
			case !strings.HasPrefix(m.Destination, "/") && checkRelativePath(m.Destination) != "":
				p.addf(mp, "destination %s %s", Quote(m.Destination), checkRelativePath(m.Destination))
			case m.Destination == "" || strings.ContainsRune(m.Destination, 0):
				p.addf(mp, "destination %s must be a path", Quote(m.Destination))
			}
		}
	}
	if hooked > 0 && mains == 0 {
		p.addf(prefix, "at least one task without a lifecycle block (a main task) is required")
	}
	if leaders > 1 {
		p.addf(prefix, "only one task may be the leader")
	}
	if d := tg.ShutdownDelay; d != nil && (d.CheckValid() != nil || d.AsDuration() < 0) {
		p.addf(prefix, "shutdown_delay must be >= 0")
	}
	if d := tg.EphemeralDisk; d != nil && d.SizeMb < 0 {
		p.addf(prefix, "ephemeral_disk: size must be >= 0")
	}
	for name, v := range tg.Volumes {
		vp := prefix + "volume " + Quote(name) + ": "
		switch {
		case v == nil:
			p.addf(vp, "is missing")
		case v.Type != VolumeTypeHost:
			p.addf(vp, "type %s is not supported by drover (only host)", Quote(v.Type))
		case v.Source == "":
			p.addf(vp, "source is required")
		}
	}
}

func validateTemplate(p *problems, prefix string, t *Template) {
	if t == nil {
		p.addf(prefix, "is missing")
		return
	}
	switch {
	case t.Source == "" && t.Data == "":
		p.addf(prefix, "source or data is required")
	case t.Source != "" && t.Data != "":
		p.addf(prefix, "only one of source and data may be set")
	case len(t.Data) > maxTemplateBytes:
		p.addf(prefix, "data is longer than %d bytes", maxTemplateBytes)
	}
	if t.Source != "" && !strings.Contains(t.Source, "${") {
		if why := checkRelativePath(t.Source); why != "" {
			p.addf(prefix, "source %s %s", Quote(t.Source), why)
		}
	}
	if t.Destination == "" {
		p.addf(prefix, "destination is required")
	} else if why := checkRelativePath(t.Destination); why != "" && !strings.Contains(t.Destination, "${") {
		p.addf(prefix, "destination %s %s", Quote(t.Destination), why)
	}
	switch t.ChangeMode {
	case "", ChangeModeRestart, ChangeModeNoop:
	case ChangeModeSignal:
		if t.ChangeSignal == "" {
			p.addf(prefix, "change_signal is required with change_mode signal")
		}
	case ChangeModeScript:
		if t.ChangeScript.GetCommand() == "" {
			p.addf(prefix, "change_script with a command is required with change_mode script")
		}
	default:
		p.addf(prefix, "change_mode %s is not one of restart, signal, noop, script", Quote(t.ChangeMode))
	}
	if t.Perms != "" {
		if m, err := strconv.ParseUint(t.Perms, 8, 32); err != nil || m > 0o777 {
			p.addf(prefix, "perms %s must be octal permissions such as 0644", Quote(t.Perms))
		}
	}
	if d := t.Splay; d != nil && (d.CheckValid() != nil || d.AsDuration() < 0) {
		p.addf(prefix, "splay must be >= 0")
	}
	if (t.LeftDelimiter == "") != (t.RightDelimiter == "") {
		p.addf(prefix, "left_delimiter and right_delimiter are set together")
	}
}
