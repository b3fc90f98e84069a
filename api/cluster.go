package api

import (
	"maps"
	"net"
	"net/http"
	"strconv"

	"github.com/droverhq/drover/server/acl"
)

func (h *Handler) statusLeader(w http.ResponseWriter, r *http.Request, _ []string) error {
	return h.readAny(w, r, func(queryOptions) (any, error) { return h.b.LeaderAddr(), nil })
}

func (h *Handler) statusPeers(w http.ResponseWriter, r *http.Request, _ []string) error {
	return h.readAny(w, r, func(queryOptions) (any, error) {
		peers, err := h.b.Peers(r.Context())
		if peers == nil {
			peers = []string{}
		}
		return peers, err
	})
}

func (h *Handler) regions(w http.ResponseWriter, r *http.Request, _ []string) error {
	return h.readAny(w, r, func(queryOptions) (any, error) {
		regions, err := h.b.Regions(r.Context())
		if regions == nil {
			regions = []string{}
		}
		return regions, err
	})
}

// readAny is read for endpoints that answer without a leader (status,
// agent): like Nomad, they work on a server that lost its cluster.
func (h *Handler) readAny(w http.ResponseWriter, r *http.Request, fetch func(queryOptions) (any, error)) error {
	q, err := h.parseQuery(r)
	if err != nil {
		return err
	}
	q.stale, q.index = true, 0
	index := h.b.StateIndex()
	out, err := fetch(q)
	if err != nil {
		return err
	}
	h.setMeta(w, index)
	return writeJSON(w, out)
}

type agentMemberJSON struct {
	Name        string
	Addr        string
	Port        uint16
	Tags        map[string]string
	Status      string
	ProtocolMin uint8
	ProtocolMax uint8
	ProtocolCur uint8
	DelegateMin uint8
	DelegateMax uint8
	DelegateCur uint8
}

func memberToJSON(m Member) agentMemberJSON {
	if m.Tags != nil && m.Tags["raft_vsn"] == "" {
		// nomad server members shows the raft protocol: drover speaks 3.
		m.Tags = maps.Clone(m.Tags)
		m.Tags["raft_vsn"] = "3"
	}
	return agentMemberJSON{
		Name: m.Name, Addr: m.Addr, Port: uint16(min(max(m.Port, 0), 65535)), Tags: m.Tags, Status: m.Status,
		ProtocolMin: 1, ProtocolMax: 5, ProtocolCur: 2, DelegateMin: 2, DelegateMax: 5, DelegateCur: 4,
	}
}

func (h *Handler) agentSelf(w http.ResponseWriter, r *http.Request, _ []string) error {
	if err := h.check(r, "agent read", (*acl.ACL).AllowAgentRead); err != nil {
		return err
	}
	return h.readAny(w, r, func(queryOptions) (any, error) {
		self := h.self()
		cfg := map[string]any{
			"Region": self.Region, "Datacenter": self.Datacenter, "NodeName": self.Name,
			"Version": map[string]any{"Version": self.Version},
			"Server":  map[string]any{"Enabled": self.Server},
			"Client":  map[string]any{"Enabled": self.Client},
		}
		for k, v := range self.Config {
			cfg[k] = v
		}
		host, port := splitHostPort(self.Addr)
		member := Member{
			Name: self.Name + "." + self.Region, Addr: host, Port: port, Status: "alive",
			Tags: map[string]string{"role": "nomad", "region": self.Region, "dc": self.Datacenter, "build": self.Version, "port": strconv.Itoa(port)},
		}
		leader := h.b.LeaderAddr()
		stats := map[string]map[string]string{
			"nomad": {"server": strconv.FormatBool(self.Server), "leader": strconv.FormatBool(leader != "" && leader == self.Addr),
				"known_regions": strconv.Itoa(max(self.KnownRegions, 1)), "leader_addr": leader},
			"raft": {"applied_index": strconv.FormatUint(self.RaftAppliedIndex, 10), "term": strconv.FormatUint(self.RaftTerm, 10)},
		}
		h.clientStats(stats, cfg)
		return map[string]any{"config": cfg, "member": memberToJSON(member), "stats": stats}, nil
	})
}

func splitHostPort(addr string) (string, int) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, 0
	}
	port, _ := strconv.Atoi(p)
	return host, port
}

type serverMembersJSON struct {
	ServerName   string
	ServerRegion string
	ServerDC     string
	Members      []agentMemberJSON
}

func (h *Handler) agentMembers(w http.ResponseWriter, r *http.Request, _ []string) error {
	if err := h.check(r, "node read", (*acl.ACL).AllowNodeRead); err != nil {
		return err
	}
	return h.readAny(w, r, func(queryOptions) (any, error) {
		members, err := h.b.Members(r.Context())
		if err != nil {
			return nil, err
		}
		self := h.self()
		out := serverMembersJSON{ServerName: self.Name, ServerRegion: self.Region, ServerDC: self.Datacenter, Members: []agentMemberJSON{}}
		for _, m := range members {
			out.Members = append(out.Members, memberToJSON(m))
		}
		return out, nil
	})
}

func (h *Handler) agentHealth(w http.ResponseWriter, r *http.Request, _ []string) error {
	self := h.self()
	type check struct {
		Ok      bool   `json:"ok"`
		Message string `json:"message"`
	}
	out := map[string]check{}
	if self.Server {
		if h.b.KnownLeader() {
			out["server"] = check{Ok: true, Message: "ok"}
		} else {
			out["server"] = check{Ok: false, Message: "no known cluster leader"}
		}
	}
	if self.Client {
		out["client"] = check{Ok: true, Message: "ok"}
	}
	for _, c := range out {
		if !c.Ok {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			return writeBody(w, out)
		}
	}
	return writeJSON(w, out)
}

type raftServerJSON struct {
	ID           string
	Node         string
	Address      string
	Leader       bool
	Voter        bool
	RaftProtocol string
}

func (h *Handler) raftConfiguration(w http.ResponseWriter, r *http.Request, _ []string) error {
	return h.read(w, r, func(q queryOptions) (any, error) {
		cfg, err := h.b.RaftConfiguration(q.ctx)
		if err != nil {
			return nil, err
		}
		out := struct {
			Servers []raftServerJSON
			Index   uint64
		}{Servers: []raftServerJSON{}, Index: cfg.Index}
		for _, s := range cfg.Servers {
			out.Servers = append(out.Servers, raftServerJSON{ID: s.ID, Node: s.Node, Address: s.Address, Leader: s.Leader, Voter: s.Voter, RaftProtocol: "3"})
		}
		return out, nil
	})
}

func (h *Handler) getSchedulerConfig(w http.ResponseWriter, r *http.Request, _ []string) error {
	return h.read(w, r, func(q queryOptions) (any, error) {
		cfg, err := h.b.SchedulerConfiguration(q.ctx)
		if err != nil {
			return nil, err
		}
		return struct {
			SchedulerConfig SchedulerConfiguration
			LastIndex       uint64
		}{cfg, cfg.ModifyIndex}, nil
	})
}

func (h *Handler) setSchedulerConfig(w http.ResponseWriter, r *http.Request, _ []string) error {
	if _, err := h.parseQuery(r); err != nil {
		return err
	}
	var cas *uint64
	if s := r.URL.Query().Get("cas"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return badRequest("invalid cas %q: want a non-negative integer", s)
		}
		cas = &n
	}
	var cfg SchedulerConfiguration
	if err := decodeBody(r, &cfg); err != nil {
		return err
	}
	switch cfg.SchedulerAlgorithm {
	case "", "binpack", "spread":
	default:
		return badRequest("SchedulerAlgorithm must be binpack or spread, got %q", cfg.SchedulerAlgorithm)
	}
	updated, idx, err := h.b.SetSchedulerConfiguration(r.Context(), cfg, cas)
	if err != nil {
		return err
	}
	return h.writeResult(w, idx, struct {
		Updated   bool
		LastIndex uint64
	}{updated, idx})
}

func (h *Handler) systemGC(w http.ResponseWriter, r *http.Request, _ []string) error {
	if _, err := h.parseQuery(r); err != nil {
		return err
	}
	if err := h.b.GarbageCollect(r.Context()); err != nil {
		return err
	}
	return h.writeResult(w, h.b.StateIndex(), struct{}{})
}
