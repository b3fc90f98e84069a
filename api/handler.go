package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Options tune a Handler. Zero fields take their defaults.
type Options struct {
	// MaxRequestBytes caps a request body; larger ones get HTTP 413.
	// Default 4 MiB.
	MaxRequestBytes int64
	// BodyReadTimeout bounds the reading of a request's body, so a client
	// that sends it slowly cannot hold a handler. Default 30s.
	BodyReadTimeout time.Duration
	// MaxBlockingWait caps the wait of a blocking query. Default 5 minutes
	// (also the wait when a query sets none).
	MaxBlockingWait time.Duration
	// EventHeartbeat is how often an idle event stream sends `{}`. Default 10s.
	EventHeartbeat time.Duration
	// Logger receives request errors. Default: discard.
	Logger *slog.Logger
	// Client says the agent serving the API also runs a client, as
	// /v1/agent/self and /v1/agent/health report.
	Client bool
	// ClientAgent is that client, when the agent runs one: its node id
	// goes into /v1/agent/self (nomad node status -self) and its servers
	// are served on /v1/agent/servers.
	ClientAgent ClientAgent
	// Logs is the agent's log, streamed by /v1/agent/monitor (nomad
	// monitor); nil answers 501. See drover.NewLogBroadcaster.
	Logs LogStream
	// MaxSnapshotBytes caps a snapshot restored through
	// /v1/operator/snapshot. Default 1 GiB.
	MaxSnapshotBytes int64
}

// Handler serves the /v1 endpoints. It is safe for concurrent use.
type Handler struct {
	b         Backend
	opts      Options
	logger    *slog.Logger
	routes    []route
	withToken func(ctx context.Context, secret string) context.Context
}

// handlerFunc serves one route; params holds the unescaped path wildcards.
type handlerFunc func(w http.ResponseWriter, r *http.Request, params []string) error

type route struct {
	// segments of the path; ":" marks a wildcard.
	segments []string
	methods  map[string]handlerFunc
	// streamBody: the handler reads the body itself, as a stream (a
	// snapshot restore), within its own limit.
	streamBody bool
}

// NewHandler returns a handler serving b.
func NewHandler(b Backend, opts Options) *Handler {
	opts = opts.withDefaults()
	h := &Handler{b: b, opts: opts, logger: opts.Logger, withToken: b.WithToken}
	h.registerRoutes()
	cr := &clientRoutes{b: b, region: func() string { return h.self().Region }, meta: func(w http.ResponseWriter) { h.setMeta(w, b.StateIndex()) }}
	cr.register(h)
	h.handle("/v1/allocation/:/stop", map[string]handlerFunc{http.MethodPut: stopAllocation(b), http.MethodPost: stopAllocation(b)})
	return h
}

// withDefaults fills in the options' zero fields.
func (opts Options) withDefaults() Options {
	if opts.MaxRequestBytes <= 0 {
		opts.MaxRequestBytes = 4 << 20
	}
	if opts.BodyReadTimeout <= 0 {
		opts.BodyReadTimeout = 30 * time.Second
	}
	if opts.MaxBlockingWait <= 0 {
		opts.MaxBlockingWait = 5 * time.Minute
	}
	if opts.EventHeartbeat <= 0 {
		opts.EventHeartbeat = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxSnapshotBytes <= 0 {
		opts.MaxSnapshotBytes = 1 << 30
	}
	if opts.ClientAgent != nil {
		opts.Client = true
	}
	return opts
}

// handle adds a route; pattern is like "/v1/job/:/allocations".
func (h *Handler) handle(pattern string, methods map[string]handlerFunc) {
	h.routes = append(h.routes, route{segments: strings.Split(strings.Trim(pattern, "/"), "/"), methods: methods})
}

func (h *Handler) registerRoutes() {
	get := func(f handlerFunc) map[string]handlerFunc { return map[string]handlerFunc{http.MethodGet: f} }
	write := func(f handlerFunc) map[string]handlerFunc {
		return map[string]handlerFunc{http.MethodPut: f, http.MethodPost: f}
	}
	h.handle("/v1/jobs", map[string]handlerFunc{http.MethodGet: h.listJobs, http.MethodPut: h.registerJob, http.MethodPost: h.registerJob})
	h.handle("/v1/job/:", map[string]handlerFunc{
		http.MethodGet: h.getJob, http.MethodPut: h.registerJob, http.MethodPost: h.registerJob, http.MethodDelete: h.deregisterJob,
	})
	h.handle("/v1/job/:/allocations", get(h.jobAllocations))
	h.handle("/v1/job/:/evaluations", get(h.jobEvaluations))
	h.handle("/v1/job/:/versions", get(h.jobVersions))
	h.handle("/v1/job/:/summary", get(h.jobSummary))
	h.handle("/v1/allocations", get(h.listAllocations))
	h.handle("/v1/allocation/:", get(h.getAllocation))
	h.handle("/v1/evaluations", get(h.listEvaluations))
	h.handle("/v1/evaluation/:", get(h.getEvaluation))
	h.handle("/v1/evaluation/:/allocations", get(h.evaluationAllocations))
	h.handle("/v1/nodes", get(h.listNodes))
	h.handle("/v1/node/:", get(h.getNode))
	h.handle("/v1/node/:/allocations", get(h.nodeAllocations))
	h.handle("/v1/node/:/drain", write(h.drainNode))
	h.handle("/v1/node/:/eligibility", write(h.nodeEligibility))
	h.handle("/v1/status/leader", get(h.statusLeader))
	h.handle("/v1/status/peers", get(h.statusPeers))
	h.handle("/v1/agent/self", get(h.agentSelf))
	h.handle("/v1/agent/members", get(h.agentMembers))
	h.handle("/v1/agent/health", get(h.agentHealth))
	h.handle("/v1/operator/raft/configuration", get(h.raftConfiguration))
	h.handle("/v1/operator/scheduler/configuration", map[string]handlerFunc{
		http.MethodGet: h.getSchedulerConfig, http.MethodPut: h.setSchedulerConfig, http.MethodPost: h.setSchedulerConfig,
	})
	h.handle("/v1/system/gc", write(h.systemGC))
	h.handle("/v1/regions", get(h.regions))
	h.handle("/v1/event/stream", get(h.eventStream))
	h.handle("/v1/metrics", get(h.metrics))
	h.handle("/v1/acl/bootstrap", write(h.aclBootstrap))
	h.handle("/v1/acl/policies", get(h.listACLPolicies))
	h.handle("/v1/acl/policy/self", get(h.selfACLPolicies))
	h.handle("/v1/acl/policy/:", map[string]handlerFunc{
		http.MethodGet: h.getACLPolicy, http.MethodPut: h.putACLPolicy, http.MethodPost: h.putACLPolicy, http.MethodDelete: h.deleteACLPolicy,
	})
	h.handle("/v1/acl/tokens", get(h.listACLTokens))
	h.handle("/v1/acl/token", write(h.createACLToken))
	h.handle("/v1/acl/token/self", get(h.selfACLToken))
	h.handle("/v1/acl/token/:", map[string]handlerFunc{
		http.MethodGet: h.getACLToken, http.MethodPut: h.updateACLToken, http.MethodPost: h.updateACLToken, http.MethodDelete: h.deleteACLToken,
	})
	h.registerOperatorRoutes()
	h.registerDeploymentRoutes()
	h.registerServiceRoutes()
	h.registerVariableRoutes()
	h.registerKeyringRoutes()
	h.registerBatchRoutes()
}

// match finds the route of an escaped path and its unescaped wildcards;
// of several routes that match, the one with the fewest wildcards wins
// (/v1/node/pools over /v1/node/:).
func (h *Handler) match(escapedPath string) (*route, []string, bool) {
	segs := strings.Split(strings.Trim(escapedPath, "/"), "/")
	var best *route
	var bestParams []string
	for i := range h.routes {
		rt := &h.routes[i]
		if params, ok := rt.matches(segs); ok && (best == nil || len(params) < len(bestParams)) {
			best, bestParams = rt, params
		}
	}
	return best, bestParams, best != nil
}

// matches reports whether the route matches a path's escaped segments,
// with the unescaped wildcards.
func (rt *route) matches(segs []string) ([]string, bool) {
	n := len(rt.segments)
	if n > 0 && rt.segments[n-1] == "*" {
		// A trailing "*" takes the rest of the path, one segment or more.
		if len(segs) < n {
			return nil, false
		}
		rest, err := url.PathUnescape(strings.Join(segs[n-1:], "/"))
		if err != nil || rest == "" {
			return nil, false
		}
		params, ok := (&route{segments: rt.segments[:n-1]}).matches(segs[:n-1])
		return append(params, rest), ok
	}
	if n != len(segs) {
		return nil, false
	}
	var params []string
	for k, s := range rt.segments {
		if s == ":" {
			p, err := url.PathUnescape(segs[k])
			if err != nil || p == "" {
				return nil, false
			}
			params = append(params, p)
		} else if s != segs[k] {
			return nil, false
		}
	}
	return params, true
}

// ServeHTTP routes the request. Unknown paths get 404, wrong methods 405,
// both with a JSON error body; a panic in a handler becomes a 500.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			h.logger.Error("http handler panicked", "path", r.URL.Path, "panic", fmt.Sprint(p))
			writeError(w, http.StatusInternalServerError, "internal error", nil)
		}
	}()
	rt, params, ok := h.match(r.URL.EscapedPath())
	if !ok {
		h.noRoute(w, r)
		return
	}
	f := rt.methods[r.Method]
	if f == nil {
		allowed := make([]string, 0, len(rt.methods))
		for m := range rt.methods {
			allowed = append(allowed, m)
		}
		slices.Sort(allowed)
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		writeError(w, http.StatusMethodNotAllowed,
			fmt.Sprintf("method %s not allowed on %s (allowed: %s)", r.Method, r.URL.Path, strings.Join(allowed, ", ")), nil)
		return
	}
	if !rt.streamBody {
		if err := h.readBody(w, r); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	// Every request acts as the caller its token names (none: anonymous),
	// never with the host's own authority.
	r = r.WithContext(h.withToken(r.Context(), requestToken(r)))
	if err := f(w, r, params); err != nil {
		h.fail(w, r, err)
	}
}

// errorBody is the JSON body of every error response.
type errorBody struct {
	Error string
	// Problems lists every validation problem of a rejected job.
	Problems []string `json:",omitempty"`
}

func writeError(w http.ResponseWriter, code int, msg string, problems []string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Del("Content-Length")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(errorBody{Error: msg, Problems: problems})
}

// writeJSON sends v with status 200.
func writeJSON(w http.ResponseWriter, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(b, '\n'))
	return nil
}

// httpError carries a status code chosen by a handler.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &httpError{code: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// fail answers err with the status code its kind calls for.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	code, msg, problems := statusOf(err)
	if r.Context().Err() != nil && errors.Is(err, context.Canceled) {
		return // the client went away
	}
	if code >= 500 && code != http.StatusNotImplemented {
		h.logger.Warn("http request failed", "method", r.Method, "path", r.URL.Path, "status", code, "error", err)
	}
	writeError(w, code, msg, problems)
}

// writeBody encodes v after the caller set the status.
func writeBody(w http.ResponseWriter, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	_, _ = w.Write(append(b, '\n'))
	return nil
}

// self is the backend's AgentInfo with the handler's own knowledge added.
func (h *Handler) self() AgentInfo {
	info := h.b.Self()
	info.Client = info.Client || h.opts.Client
	return info
}

// readBody reads the request's body whole, within the size limit and
// BodyReadTimeout, before the handler runs: a client that trickles its
// body, or sends too much, is cut off without holding a handler or the
// server's memory.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) error {
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	rc := http.NewResponseController(w)
	deadline := rc.SetReadDeadline(time.Now().Add(h.opts.BodyReadTimeout)) == nil
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.MaxRequestBytes))
	if deadline {
		_ = rc.SetReadDeadline(time.Time{})
	}
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return err
		}
		return badRequest("reading the request body: %v", err)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return nil
}
