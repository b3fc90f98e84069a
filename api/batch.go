package api

import (
	"context"
	"encoding/json"
	"net/http"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/droverhq/drover/structs"
)

// BatchBackend dispatches parameterized jobs, forces periodic launches and
// scales task groups.
type BatchBackend interface {
	// Dispatch creates a child of a parameterized job.
	Dispatch(ctx context.Context, req DispatchRequest) (*structs.JobDispatchResponse, error)
	// ForcePeriodic launches a child of a periodic job now.
	ForcePeriodic(ctx context.Context, namespace, jobID string) (*structs.PeriodicForceResponse, error)
	// Scale sets a group's count (or, Count nil, records an event only).
	Scale(ctx context.Context, req ScaleRequest) (*structs.JobRegisterResponse, error)
	// JobScaleStatus reads a job's groups' counts and scaling histories.
	JobScaleStatus(ctx context.Context, namespace, jobID string) (*ScaleStatus, error)
}

// DispatchRequest is one dispatch of a parameterized job.
type DispatchRequest struct {
	Namespace, JobID string
	Payload          []byte
	Meta             map[string]string
	IdempotencyToken string
	IDPrefix         string
	Priority         int
}

// ScaleRequest is one scale of a task group.
type ScaleRequest struct {
	Namespace, JobID, Group string
	Count                   *int64
	Message                 string
	Error                   bool
	Meta                    map[string]any
	EnforceIndex            bool
	JobModifyIndex          uint64
}

// ScaleStatus is a job's scale status.
type ScaleStatus struct {
	Job    *structs.Job
	Groups map[string]GroupScaleStatus
}

// GroupScaleStatus is one group's counts and scaling history.
type GroupScaleStatus struct {
	Desired, Placed, Running, Healthy, Unhealthy int
	Events                                       []*structs.ScalingEvent
}

func (h *Handler) registerBatchRoutes() {
	write := func(f handlerFunc) map[string]handlerFunc {
		return map[string]handlerFunc{http.MethodPut: f, http.MethodPost: f}
	}
	h.handle("/v1/job/:/dispatch", write(h.dispatchJob))
	h.handle("/v1/job/:/periodic/force", write(h.forcePeriodic))
	h.handle("/v1/job/:/scale", map[string]handlerFunc{
		http.MethodGet: h.jobScaleStatus, http.MethodPut: h.scaleJob, http.MethodPost: h.scaleJob,
	})
}

// jobDispatchRequest is Nomad's JobDispatchRequest; its payload is base64
// in JSON, as a []byte.
type jobDispatchRequest struct {
	JobID            string
	Payload          []byte
	Meta             map[string]string
	IdPrefixTemplate string
	Priority         int
	// IdempotencyToken is also read from the idempotency_token parameter,
	// where Nomad's Go client puts it.
	IdempotencyToken string
}

type jobDispatchResponse struct {
	DispatchedJobID string
	EvalID          string
	EvalCreateIndex uint64
	JobCreateIndex  uint64
	Index           uint64
	LastIndex       uint64
}

func (h *Handler) dispatchJob(w http.ResponseWriter, r *http.Request, params []string) error {
	q, err := h.parseQuery(r)
	if err != nil {
		return err
	}
	var req jobDispatchRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if req.JobID != "" && req.JobID != params[0] {
		return badRequest("job ID %q does not match the path's %q", req.JobID, params[0])
	}
	token := r.URL.Query().Get("idempotency_token")
	if token == "" {
		token = req.IdempotencyToken
	}
	resp, err := h.b.Dispatch(r.Context(), DispatchRequest{
		Namespace: q.namespace, JobID: params[0], Payload: req.Payload, Meta: req.Meta,
		IdempotencyToken: token, IDPrefix: req.IdPrefixTemplate, Priority: req.Priority,
	})
	if err != nil {
		return err
	}
	idx := resp.GetMeta().GetIndex()
	return h.writeResult(w, idx, jobDispatchResponse{
		DispatchedJobID: resp.DispatchedJobId, EvalID: resp.EvalId, EvalCreateIndex: resp.JobCreateIndex,
		JobCreateIndex: resp.JobCreateIndex, Index: idx, LastIndex: idx,
	})
}

type periodicForceResponse struct {
	EvalID          string
	EvalCreateIndex uint64
	Index           uint64
	LastIndex       uint64
}

func (h *Handler) forcePeriodic(w http.ResponseWriter, r *http.Request, params []string) error {
	q, err := h.parseQuery(r)
	if err != nil {
		return err
	}
	resp, err := h.b.ForcePeriodic(r.Context(), q.namespace, params[0])
	if err != nil {
		return err
	}
	idx := resp.GetMeta().GetIndex()
	return h.writeResult(w, idx, periodicForceResponse{EvalID: resp.EvalId, EvalCreateIndex: idx, Index: idx, LastIndex: idx})
}

// scalingRequest is Nomad's ScalingRequest.
type scalingRequest struct {
	Count          *int64
	Target         map[string]string
	Message        string
	Error          bool
	Meta           map[string]any
	PolicyOverride bool
	JobModifyIndex uint64
}

func (h *Handler) scaleJob(w http.ResponseWriter, r *http.Request, params []string) error {
	q, err := h.parseQuery(r)
	if err != nil {
		return err
	}
	var req scalingRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if j, ok := req.Target["Job"]; ok && j != params[0] {
		return badRequest("job ID %q does not match the path's %q", j, params[0])
	}
	group := req.Target["Group"]
	if group == "" {
		return badRequest("missing task group name: the target must name a Group")
	}
	if req.Count != nil && req.Error {
		return badRequest("a scaling request that reports an error cannot set a count")
	}
	resp, err := h.b.Scale(r.Context(), ScaleRequest{
		Namespace: q.namespace, JobID: params[0], Group: group, Count: req.Count, Message: req.Message,
		Error: req.Error, Meta: req.Meta, EnforceIndex: req.JobModifyIndex != 0, JobModifyIndex: req.JobModifyIndex,
	})
	if err != nil {
		return err
	}
	idx := resp.GetMeta().GetIndex()
	out := jobRegisterResponse{JobModifyIndex: resp.JobModifyIndex, LastIndex: idx, KnownLeader: h.b.KnownLeader()}
	if resp.EvalId != "" {
		out.EvalID, out.EvalCreateIndex = resp.EvalId, idx
	}
	return h.writeResult(w, idx, out)
}

// jobScaleStatusResponse is Nomad's JobScaleStatusResponse.
type jobScaleStatusResponse struct {
	JobID          string
	Namespace      string
	JobCreateIndex uint64
	JobModifyIndex uint64
	JobStopped     bool
	TaskGroups     map[string]taskGroupScaleStatusJSON
}

type taskGroupScaleStatusJSON struct {
	Desired   int
	Placed    int
	Running   int
	Healthy   int
	Unhealthy int
	Events    []scalingEventJSON
}

// scalingEventJSON is Nomad's ScalingEvent; Time is unix nanoseconds.
type scalingEventJSON struct {
	Count         *int64
	PreviousCount int64
	Error         bool
	Message       string
	Meta          map[string]any
	EvalID        *string
	Time          uint64
	CreateIndex   uint64
}

func (h *Handler) jobScaleStatus(w http.ResponseWriter, r *http.Request, params []string) error {
	return h.read(w, r, func(q queryOptions) (any, error) {
		st, err := h.b.JobScaleStatus(q.ctx, q.namespace, params[0])
		if err != nil {
			return nil, err
		}
		out := jobScaleStatusResponse{
			JobID: st.Job.Id, Namespace: st.Job.Namespace, JobCreateIndex: st.Job.CreateIndex,
			JobModifyIndex: st.Job.JobModifyIndex, JobStopped: st.Job.Stop, TaskGroups: map[string]taskGroupScaleStatusJSON{},
		}
		for name, g := range st.Groups {
			tg := taskGroupScaleStatusJSON{Desired: g.Desired, Placed: g.Placed, Running: g.Running, Healthy: g.Healthy,
				Unhealthy: g.Unhealthy, Events: []scalingEventJSON{}}
			// Newest first, as Nomad lists them.
			for i := len(g.Events) - 1; i >= 0; i-- {
				tg.Events = append(tg.Events, scalingEventToJSON(g.Events[i]))
			}
			out.TaskGroups[name] = tg
		}
		return out, nil
	})
}

func scalingEventToJSON(e *structs.ScalingEvent) scalingEventJSON {
	out := scalingEventJSON{PreviousCount: e.PreviousCount, Error: e.Error, Message: e.Message,
		Time: uint64(max(e.Time, 0)), CreateIndex: e.CreateIndex}
	if e.HasCount {
		out.Count = ptr(e.Count)
	}
	if e.EvalId != "" {
		out.EvalID = ptr(e.EvalId)
	}
	if e.Meta != nil {
		out.Meta = e.Meta.AsMap()
	}
	return out
}

// The job's batch blocks in Nomad's JSON.

type periodicJSON struct {
	Enabled         *bool
	Spec            *string
	Specs           []string
	SpecType        *string
	ProhibitOverlap *bool
	TimeZone        *string
}

type parameterizedJSON struct {
	Payload      string
	MetaRequired []string
	MetaOptional []string
}

type scalingJSON struct {
	ID          string
	Namespace   string
	Type        string
	Target      map[string]string
	Min         *int64
	Max         *int64
	Policy      map[string]any
	Enabled     *bool
	CreateIndex uint64
	ModifyIndex uint64
}

type dispatchPayloadJSON struct {
	File string
}

// periodicFromJSON converts a periodic block; the older single cron
// (Spec) joins the list.
func (c *jobConversion) periodicFromJSON(path string, raw json.RawMessage) *structs.PeriodicConfig {
	if !isSet(raw) {
		return nil
	}
	var in periodicJSON
	if err := json.Unmarshal(raw, &in); err != nil {
		c.problem(path, "Periodic: %v", err)
		return nil
	}
	if t := deref(in.SpecType); t != "" && t != "cron" {
		c.problem(path, "Periodic: SpecType %q is not supported by drover (only cron)", t)
	}
	pc := &structs.PeriodicConfig{
		ProhibitOverlap: deref(in.ProhibitOverlap), TimeZone: deref(in.TimeZone),
		Disabled: in.Enabled != nil && !*in.Enabled,
	}
	if s := deref(in.Spec); s != "" {
		pc.Specs = append(pc.Specs, s)
	}
	for _, s := range in.Specs {
		if s != "" {
			pc.Specs = append(pc.Specs, s)
		}
	}
	return pc
}

func (c *jobConversion) parameterizedFromJSON(path string, raw json.RawMessage) *structs.ParameterizedJobConfig {
	if !isSet(raw) {
		return nil
	}
	var in parameterizedJSON
	if err := json.Unmarshal(raw, &in); err != nil {
		c.problem(path, "ParameterizedJob: %v", err)
		return nil
	}
	return &structs.ParameterizedJobConfig{Payload: in.Payload, MetaRequired: in.MetaRequired, MetaOptional: in.MetaOptional}
}

// scalingFromJSON converts a group's scaling block: a missing min is the
// group's count, as Nomad makes it.
func (c *jobConversion) scalingFromJSON(path string, raw json.RawMessage, count int) *structs.ScalingPolicy {
	if !isSet(raw) {
		return nil
	}
	var in scalingJSON
	if err := json.Unmarshal(raw, &in); err != nil {
		c.problem(path, "Scaling: %v", err)
		return nil
	}
	if in.Type != "" && in.Type != "horizontal" {
		c.problem(path, "Scaling: type %q is not supported by drover (only horizontal)", in.Type)
	}
	if in.Max == nil {
		c.problem(path, "Scaling: max is required")
		return nil
	}
	sp := &structs.ScalingPolicy{Max: *in.Max, Min: int64(count), Disabled: in.Enabled != nil && !*in.Enabled}
	if in.Min != nil {
		sp.Min = *in.Min
	}
	if len(in.Policy) > 0 {
		s, err := structpb.NewStruct(in.Policy)
		if err != nil {
			c.problem(path, "Scaling: policy: %v", err)
		} else {
			sp.Policy = s
		}
	}
	return sp
}

func (c *jobConversion) dispatchPayloadFromJSON(path string, raw json.RawMessage) *structs.DispatchPayloadConfig {
	if !isSet(raw) {
		return nil
	}
	var in dispatchPayloadJSON
	if err := json.Unmarshal(raw, &in); err != nil {
		c.problem(path, "DispatchPayload: %v", err)
		return nil
	}
	return &structs.DispatchPayloadConfig{File: in.File}
}

// jobBatchToJSON renders the job's batch fields.
func jobBatchToJSON(j *structs.Job, out *jobJSON) {
	out.ParentID = ptr(j.ParentId)
	out.Dispatched = j.Dispatched
	if len(j.Payload) > 0 {
		out.Payload, _ = json.Marshal(j.Payload)
	}
	if j.DispatchIdempotencyToken != "" {
		out.DispatchIdempotencyToken = ptr(j.DispatchIdempotencyToken)
	}
	if p := j.Periodic; p != nil {
		pj := periodicJSON{
			Enabled: ptr(!p.Disabled), Spec: ptr(""), Specs: append([]string{}, p.Specs...), SpecType: ptr("cron"),
			ProhibitOverlap: ptr(p.ProhibitOverlap), TimeZone: ptr(p.TimeZone),
		}
		if len(p.Specs) == 1 {
			pj.Spec = ptr(p.Specs[0])
		}
		out.Periodic, _ = json.Marshal(pj)
	}
	if p := j.Parameterized; p != nil {
		out.ParameterizedJob, _ = json.Marshal(parameterizedJSON{Payload: orDefault(p.Payload, structs.DispatchPayloadOptional),
			MetaRequired: p.MetaRequired, MetaOptional: p.MetaOptional})
	}
}

func scalingToJSON(j *structs.Job, g *structs.TaskGroup) json.RawMessage {
	s := g.Scaling
	if s == nil {
		return nil
	}
	out := scalingJSON{
		ID: j.Id + "/" + g.Name, Namespace: j.Namespace, Type: "horizontal", Min: ptr(s.Min), Max: ptr(s.Max),
		Enabled: ptr(!s.Disabled), Target: map[string]string{"Namespace": j.Namespace, "Job": j.Id, "Group": g.Name},
		CreateIndex: j.CreateIndex, ModifyIndex: j.ModifyIndex,
	}
	if s.Policy != nil {
		out.Policy = s.Policy.AsMap()
	}
	b, _ := json.Marshal(out)
	return b
}

func dispatchPayloadToJSON(t *structs.Task) json.RawMessage {
	if t.DispatchPayload == nil {
		return nil
	}
	b, _ := json.Marshal(dispatchPayloadJSON{File: t.DispatchPayload.File})
	return b
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
