package api

import (
	"context"
	"net/http"
	"strconv"
)

// ClientInfo describes the client agent answering a request.
type ClientInfo struct {
	NodeID, Name, Region, Datacenter, NodeClass, Version string
	// Servers are the servers the client knows; ConnectedServer is the one
	// holding its connection ("" while it has none).
	Servers         []string
	ConnectedServer string
	// NumAllocations counts the allocations the client runs.
	NumAllocations int
	// Config holds further settings shown by /v1/agent/self.
	Config map[string]any
}

// ClientAgentBackend is what a client agent's own HTTP API needs: the
// client endpoints for its allocations, the caller's token and a
// description of the agent.
type ClientAgentBackend interface {
	ClientBackend
	// WithToken returns a context under which the backend's calls act as
	// the caller whose ACL token secret is secret ("" is anonymous).
	WithToken(ctx context.Context, secret string) context.Context
	// AuthorizeAgentRead checks that the caller of ctx may read the agent.
	AuthorizeAgentRead(ctx context.Context) error
	ClientInfo() ClientInfo
}

// NewClientHandler returns the HTTP API of an agent that runs a client
// and no server: the /v1/client endpoints for the client's own
// allocations (for an operator on the client's host), /v1/agent/self
// and /v1/agent/health. Other endpoints are the servers'; they answer 404.
func NewClientHandler(b ClientAgentBackend, opts Options) *Handler {
	opts = opts.withDefaults()
	h := &Handler{opts: opts, logger: opts.Logger, withToken: b.WithToken}
	cr := &clientRoutes{b: b, region: func() string { return b.ClientInfo().Region }, meta: func(w http.ResponseWriter) {
		hd := w.Header()
		hd.Set("X-Nomad-Index", "1")
		hd.Set("X-Nomad-KnownLeader", strconv.FormatBool(b.ClientInfo().ConnectedServer != ""))
		hd.Set("X-Nomad-LastContact", "0")
	}}
	cr.register(h)
	get := func(f handlerFunc) map[string]handlerFunc { return map[string]handlerFunc{http.MethodGet: f} }
	h.handle("/v1/agent/self", get(func(w http.ResponseWriter, r *http.Request, _ []string) error {
		if err := b.AuthorizeAgentRead(r.Context()); err != nil {
			return err
		}
		return cr.writeRead(w, clientAgentSelf(b.ClientInfo()))
	}))
	h.handle("/v1/agent/health", get(func(w http.ResponseWriter, r *http.Request, _ []string) error {
		type check struct {
			Ok      bool   `json:"ok"`
			Message string `json:"message"`
		}
		info := b.ClientInfo()
		if info.ConnectedServer == "" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			return writeBody(w, map[string]check{"client": {Ok: false, Message: "not connected to any server"}})
		}
		return writeJSON(w, map[string]check{"client": {Ok: true, Message: "ok"}})
	}))
	return h
}

// clientAgentSelf is /v1/agent/self of a client agent, in the shape
// Nomad's CLI reads (config.Client, stats.client).
func clientAgentSelf(info ClientInfo) map[string]any {
	cfg := map[string]any{
		"Region": info.Region, "Datacenter": info.Datacenter, "NodeName": info.Name,
		"Version": map[string]any{"Version": info.Version},
		"Server":  map[string]any{"Enabled": false},
		"Client":  map[string]any{"Enabled": true, "NodeClass": info.NodeClass, "Servers": nonNil(info.Servers)},
	}
	for k, v := range info.Config {
		cfg[k] = v
	}
	member := Member{Name: info.Name, Status: "alive", Tags: map[string]string{"region": info.Region, "dc": info.Datacenter, "build": info.Version}}
	return map[string]any{
		"config": cfg,
		"member": memberToJSON(member),
		"stats": map[string]map[string]string{
			"client": {
				"node_id": info.NodeID, "known_servers": strconv.Itoa(len(info.Servers)),
				"num_allocations": strconv.Itoa(info.NumAllocations), "connected_server": info.ConnectedServer,
			},
			"nomad": {"server": "false"},
		},
	}
}
