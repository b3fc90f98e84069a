package api

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/droverhq/drover/scheduler"
	"github.com/droverhq/drover/structs"
)

// Job diffs in Nomad's shape (nomad job plan, nomad job history -p). They
// are computed on the jobs' JSON as the API shows them, so every field
// carries Nomad's name: primitive fields (and the entries of Meta and Env
// maps, as "Meta[key]") are FieldDiffs, nested objects ObjectDiffs, task
// groups and tasks are matched by name. Lists of primitives are sets
// (Datacenters); lists of objects (Constraints, Affinities, ...) are sets
// of whole objects, each added or deleted.

// Diff types.
const (
	diffNone    = "None"
	diffAdded   = "Added"
	diffDeleted = "Deleted"
	diffEdited  = "Edited"
)

type fieldDiff struct {
	Type, Name, Old, New string
	Annotations          []string
}

type objectDiff struct {
	Type    string
	Name    string
	Fields  []*fieldDiff
	Objects []*objectDiff
}

type taskDiff struct {
	Type        string
	Name        string
	Fields      []*fieldDiff
	Objects     []*objectDiff
	Annotations []string
}

type taskGroupDiff struct {
	Type    string
	Name    string
	Fields  []*fieldDiff
	Objects []*objectDiff
	Tasks   []*taskDiff
	Updates map[string]uint64 `json:",omitempty"`
}

type jobDiff struct {
	Type       string
	ID         string
	Fields     []*fieldDiff
	Objects    []*objectDiff
	TaskGroups []*taskGroupDiff
}

// Fields left out of diffs: set by the servers, or shown elsewhere.
var (
	jobDiffSkip   = set("ID", "Status", "StatusDescription", "Version", "Stable", "CreateIndex", "ModifyIndex", "JobModifyIndex", "Update", "SubmitTime", "NomadTokenID", "VaultToken", "TaskGroups", "Dispatched", "ParentID", "VersionTag", "Submission", "Payload", "DispatchIdempotencyToken")
	groupDiffSkip = set("Name", "Tasks", "Update")
	taskDiffSkip  = set("Name")
	// flatMaps are shown entry by entry, as Nomad flattens them.
	flatMaps = set("Meta", "Env")
	// destructiveTaskFields change how a task runs: changing them replaces
	// its allocations (see scheduler's destructive).
	destructiveTaskFields = set("Driver", "Config", "Env", "Resources", "KillSignal", "User", "Artifacts", "Templates",
		"Lifecycle", "VolumeMounts", "Leader")
)

func set(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// diffJobs compares old (nil when the job is new) with updated. updates,
// when known, annotates each task group with what a plan would do.
func diffJobs(old, updated *structs.Job, updates map[string]*scheduler.DesiredUpdates) *jobDiff {
	o, n := jobMap(old), jobMap(updated)
	d := &jobDiff{Type: diffNone, ID: updated.GetId()}
	if d.ID == "" {
		d.ID = old.GetId()
	}
	kind := diffEdited
	switch {
	case old == nil:
		kind = diffAdded
	case updated == nil:
		kind = diffDeleted
	}
	d.Fields, d.Objects = diffMaps(o, n, jobDiffSkip, kind)
	oldGroups, newGroups := namedList(o["TaskGroups"]), namedList(n["TaskGroups"])
	for _, name := range unionKeys(oldGroups, newGroups) {
		if g := diffGroup(name, oldGroups[name], newGroups[name], updates[name]); g != nil {
			d.TaskGroups = append(d.TaskGroups, g)
		}
	}
	switch {
	case kind != diffEdited:
		d.Type = kind
	case changed(d.Fields, d.Objects) || slices.ContainsFunc(d.TaskGroups, func(g *taskGroupDiff) bool { return g.Type != diffNone }):
		d.Type = diffEdited
	}
	return d
}

func diffGroup(name string, old, updated map[string]any, u *scheduler.DesiredUpdates) *taskGroupDiff {
	kind := typeOf(old, updated)
	g := &taskGroupDiff{Name: name, Type: diffNone}
	g.Fields, g.Objects = diffMaps(old, updated, groupDiffSkip, kind)
	for _, f := range g.Fields {
		if f.Name == "Count" && f.Type == diffEdited {
			a, _ := strconv.ParseFloat(f.Old, 64)
			b, _ := strconv.ParseFloat(f.New, 64)
			if b > a {
				f.Annotations = []string{"forces create"}
			} else {
				f.Annotations = []string{"forces destroy"}
			}
		}
	}
	oldTasks, newTasks := namedList(old["Tasks"]), namedList(updated["Tasks"])
	for _, tn := range unionKeys(oldTasks, newTasks) {
		t := diffTask(tn, oldTasks[tn], newTasks[tn])
		g.Tasks = append(g.Tasks, t)
	}
	switch {
	case kind != diffEdited:
		g.Type = kind
	case changed(g.Fields, g.Objects) || slices.ContainsFunc(g.Tasks, func(t *taskDiff) bool { return t.Type != diffNone }):
		g.Type = diffEdited
	}
	if u != nil {
		g.Updates = map[string]uint64{}
		for k, v := range map[string]uint64{
			"ignore": u.Ignore, "create": u.Place, "destroy": u.Stop, "migrate": u.Migrate, "canary": u.Canary,
			"in-place update": u.InPlaceUpdate, "create/destroy update": u.DestructiveUpdate, "preemptions": u.Preemptions,
		} {
			if v > 0 {
				g.Updates[k] = v
			}
		}
	}
	return g
}

func diffTask(name string, old, updated map[string]any) *taskDiff {
	kind := typeOf(old, updated)
	t := &taskDiff{Name: name, Type: diffNone}
	t.Fields, t.Objects = diffMaps(old, updated, taskDiffSkip, kind)
	switch {
	case kind == diffAdded:
		t.Type, t.Annotations = diffAdded, []string{"forces create"}
	case kind == diffDeleted:
		t.Type, t.Annotations = diffDeleted, []string{"forces destroy"}
	case changed(t.Fields, t.Objects):
		t.Type, t.Annotations = diffEdited, []string{"forces in-place update"}
		for _, f := range t.Fields {
			if f.Type != diffNone && destructiveTaskFields[strings.SplitN(f.Name, "[", 2)[0]] {
				t.Annotations = []string{"forces create/destroy update"}
			}
		}
		for _, o := range t.Objects {
			if o.Type != diffNone && destructiveTaskFields[o.Name] {
				t.Annotations = []string{"forces create/destroy update"}
			}
		}
	}
	return t
}

// typeOf is the kind of a diff between two objects, either possibly nil.
func typeOf(old, updated map[string]any) string {
	switch {
	case old == nil:
		return diffAdded
	case updated == nil:
		return diffDeleted
	}
	return diffEdited
}

func changed(fields []*fieldDiff, objects []*objectDiff) bool {
	return slices.ContainsFunc(fields, func(f *fieldDiff) bool { return f.Type != diffNone }) ||
		slices.ContainsFunc(objects, func(o *objectDiff) bool { return o.Type != diffNone })
}

// diffMaps compares two JSON objects. kind is Added or Deleted when one
// side is missing (every field then is), Edited otherwise; unchanged
// fields of an edited object are kept as None, as Nomad's contextual
// diffs show them.
func diffMaps(old, updated map[string]any, skip map[string]bool, kind string) ([]*fieldDiff, []*objectDiff) {
	var fields []*fieldDiff
	var objects []*objectDiff
	for _, k := range unionKeys(old, updated) {
		if skip[k] {
			continue
		}
		ov, nv := old[k], updated[k]
		switch {
		case flatMaps[k] && (isMap(ov) || isMap(nv)):
			om, nm := asMap(ov), asMap(nv)
			for _, mk := range unionKeys(om, nm) {
				fields = appendField(fields, fmt.Sprintf("%s[%s]", k, mk), om[mk], nm[mk], om != nil, nm != nil)
			}
		case isMap(ov) || isMap(nv):
			if o := diffObject(k, asMap(ov), asMap(nv)); o != nil {
				objects = append(objects, o)
			}
		case isList(ov) || isList(nv):
			objects = append(objects, diffList(k, asList(ov), asList(nv))...)
		default:
			fields = appendField(fields, k, ov, nv, old != nil, updated != nil)
		}
	}
	if kind == diffEdited && !changed(fields, objects) {
		return nil, nil
	}
	return fields, objects
}

func diffObject(name string, old, updated map[string]any) *objectDiff {
	if len(old) == 0 && len(updated) == 0 {
		return nil
	}
	kind := diffEdited
	switch {
	case len(old) == 0:
		kind, old = diffAdded, nil
	case len(updated) == 0:
		kind, updated = diffDeleted, nil
	}
	o := &objectDiff{Name: name, Type: diffNone}
	o.Fields, o.Objects = diffMaps(old, updated, nil, kind)
	if name == "Config" {
		// A driver's configuration is free-form: flatten it.
		o.Fields, o.Objects = flatFields(old, updated), nil
	}
	if kind != diffEdited {
		o.Type = kind
	} else if changed(o.Fields, o.Objects) {
		o.Type = diffEdited
	} else {
		return nil
	}
	return o
}

// diffList compares two JSON lists: of primitives as one set object, of
// objects as sets of whole objects.
func diffList(name string, old, updated []any) []*objectDiff {
	if slices.ContainsFunc(append(slices.Clone(old), updated...), isMap) {
		single := strings.TrimSuffix(name, "s")
		if strings.HasSuffix(name, "ies") {
			single = strings.TrimSuffix(name, "ies") + "y"
		}
		oldSet, newSet := canonicalSet(old), canonicalSet(updated)
		var out []*objectDiff
		for _, k := range unionKeys(oldSet, newSet) {
			switch {
			case oldSet[k] == nil:
				out = append(out, diffObject(single, nil, asMap(newSet[k])))
			case newSet[k] == nil:
				out = append(out, diffObject(single, asMap(oldSet[k]), nil))
			}
		}
		return slices.DeleteFunc(out, func(o *objectDiff) bool { return o == nil })
	}
	o := &objectDiff{Name: name, Type: diffNone}
	oldSet, newSet := canonicalSet(old), canonicalSet(updated)
	for _, k := range unionKeys(oldSet, newSet) {
		o.Fields = appendField(o.Fields, name, oldSet[k], newSet[k], oldSet[k] != nil, newSet[k] != nil)
	}
	switch {
	case len(old) == 0 && len(updated) == 0:
		return nil
	case len(old) == 0:
		o.Type = diffAdded
	case len(updated) == 0:
		o.Type = diffDeleted
	case changed(o.Fields, nil):
		o.Type = diffEdited
	default:
		return nil
	}
	return []*objectDiff{o}
}

// flatFields diffs free-form values flattened to "a.b[0]" paths.
func flatFields(old, updated map[string]any) []*fieldDiff {
	of, nf := map[string]any{}, map[string]any{}
	flatten("", old, of)
	flatten("", updated, nf)
	var out []*fieldDiff
	for _, k := range unionKeys(of, nf) {
		out = appendField(out, k, of[k], nf[k], old != nil, updated != nil)
	}
	return out
}

func flatten(prefix string, v any, out map[string]any) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			flatten(p, e, out)
		}
	case []any:
		for i, e := range x {
			flatten(fmt.Sprintf("%s[%d]", prefix, i), e, out)
		}
	default:
		out[prefix] = v
	}
}

// appendField adds the diff of one primitive field; a field unset on both
// sides is left out.
func appendField(out []*fieldDiff, name string, old, updated any, hasOld, hasNew bool) []*fieldDiff {
	os, ns := primitive(old), primitive(updated)
	f := &fieldDiff{Name: name, Old: os, New: ns}
	switch {
	case os == "" && ns == "":
		return out
	case !hasOld || old == nil:
		f.Type = diffAdded
	case !hasNew || updated == nil:
		f.Type = diffDeleted
	case os != ns:
		f.Type = diffEdited
	default:
		f.Type = diffNone
	}
	return append(out, f)
}

func primitive(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// jobMap is a job's API JSON as a generic object; nil for nil.
func jobMap(j *structs.Job) map[string]any {
	if j == nil {
		return nil
	}
	b, err := json.Marshal(jobToJSON(j))
	if err != nil {
		return nil
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

// namedList indexes a JSON list of objects by their Name.
func namedList(v any) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, e := range asList(v) {
		if m := asMap(e); m != nil {
			if n, ok := m["Name"].(string); ok {
				out[n] = m
			}
		}
	}
	return out
}

// canonicalSet indexes values by their canonical JSON.
func canonicalSet(list []any) map[string]any {
	out := make(map[string]any, len(list))
	for _, e := range list {
		b, _ := json.Marshal(e)
		out[string(b)] = e
	}
	return out
}

func unionKeys[V any](a, b map[string]V) []string {
	keys := slices.Collect(maps.Keys(a))
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

func isMap(v any) bool           { _, ok := v.(map[string]any); return ok }
func isList(v any) bool          { _, ok := v.([]any); return ok }
func asMap(v any) map[string]any { m, _ := v.(map[string]any); return m }
func asList(v any) []any         { l, _ := v.([]any); return l }
