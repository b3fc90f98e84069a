package api

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/droverhq/drover/server/acl"
)

// registerOperatorRoutes adds the endpoints of the operator's everyday
// commands, and the answers for the Nomad endpoints drover does not serve.
func (h *Handler) registerOperatorRoutes() {
	get := func(f handlerFunc) map[string]handlerFunc { return map[string]handlerFunc{http.MethodGet: f} }
	write := func(f handlerFunc) map[string]handlerFunc {
		return map[string]handlerFunc{http.MethodPut: f, http.MethodPost: f}
	}
	h.handle("/v1/job/:/plan", write(h.planJob))
	h.handle("/v1/job/:/evaluate", write(h.evaluateJob))
	h.handle("/v1/validate/job", write(h.validateJob))
	h.handle("/v1/search", write(h.search))
	h.handle("/v1/search/fuzzy", write(h.fuzzySearch))
	h.handle("/v1/node/:/purge", write(h.purgeNode))
	h.handle("/v1/node/pools", get(h.listNodePools))
	h.handle("/v1/node/pool/:", get(h.getNodePool))
	h.handle("/v1/node/pool/:/nodes", get(h.nodePoolNodes))
	h.handle("/v1/node/pool/:/jobs", get(h.nodePoolJobs))
	h.handle("/v1/client/metadata", map[string]handlerFunc{
		http.MethodGet: h.readNodeMeta, http.MethodPut: h.applyNodeMeta, http.MethodPost: h.applyNodeMeta,
	})
	h.handle("/v1/agent/servers", map[string]handlerFunc{
		http.MethodGet: h.agentServers, http.MethodPut: h.setAgentServers, http.MethodPost: h.setAgentServers,
	})
	h.handle("/v1/agent/join", write(h.agentJoin))
	h.handle("/v1/agent/force-leave", write(h.agentForceLeave))
	h.handle("/v1/agent/keyring/list", get(h.keyringOp("list")))
	h.handle("/v1/agent/keyring/install", write(h.keyringOp("install")))
	h.handle("/v1/agent/keyring/use", write(h.keyringOp("use")))
	h.handle("/v1/agent/keyring/remove", write(h.keyringOp("remove")))
	h.handle("/v1/agent/monitor", get(h.agentMonitor))
	h.handle("/v1/operator/snapshot", map[string]handlerFunc{
		http.MethodGet: h.snapshotSave, http.MethodPut: h.snapshotRestore, http.MethodPost: h.snapshotRestore,
	})
	h.routes[len(h.routes)-1].streamBody = true
	h.handle("/v1/operator/raft/peer", map[string]handlerFunc{http.MethodDelete: h.raftRemovePeer})
	h.handle("/v1/operator/raft/transfer-leadership", write(h.raftTransferLeadership))
	h.handle("/v1/operator/autopilot/configuration", map[string]handlerFunc{
		http.MethodGet: h.getAutopilotConfig, http.MethodPut: h.setAutopilotConfig, http.MethodPost: h.setAutopilotConfig,
	})
	h.handle("/v1/operator/autopilot/health", get(h.autopilotHealth))
	h.handle("/v1/system/reconcile/summaries", write(h.reconcileSummaries))
	h.registerUnsupported()
}

// snapshotSave serves GET /v1/operator/snapshot (nomad operator snapshot
// save): the cluster state as a drover backup. Nomad's client checks the
// body against the Digest header, so the backup is spooled to a
// temporary file first.
func (h *Handler) snapshotSave(w http.ResponseWriter, r *http.Request, _ []string) error {
	q, err := h.parseQuery(r)
	if err != nil {
		return err
	}
	ctx, err := h.b.PrepareRead(r.Context(), q.stale)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp("", "drover-snapshot-*")
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	sum := sha256.New()
	index, err := h.b.Backup(ctx, io.MultiWriter(f, sum))
	if err != nil {
		return err
	}
	size, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	h.setMeta(w, index)
	w.Header().Set("Digest", "sha-256="+base64.StdEncoding.EncodeToString(sum.Sum(nil)))
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	w.WriteHeader(http.StatusOK)
	_, _ = io.Copy(w, f)
	return nil
}

// snapshotRestore serves PUT /v1/operator/snapshot (nomad operator
// snapshot restore): the body, a backup, replaces the cluster state.
func (h *Handler) snapshotRestore(w http.ResponseWriter, r *http.Request, _ []string) error {
	if _, err := h.parseQuery(r); err != nil {
		return err
	}
	if r.Body == nil || r.Body == http.NoBody {
		return badRequest("request body is missing: send the snapshot")
	}
	index, err := h.b.Restore(r.Context(), http.MaxBytesReader(w, r.Body, h.opts.MaxSnapshotBytes))
	if err != nil {
		return err
	}
	w.Header().Set("X-Nomad-Index", strconv.FormatUint(max(index, 1), 10))
	w.WriteHeader(http.StatusOK)
	return nil
}

// raftPeerParam reads the one id or address of a raft peer request.
func raftPeerParam(r *http.Request) (id, address string, err error) {
	v := r.URL.Query()
	ids, hasID := v["id"]
	addrs, hasAddr := v["address"]
	switch {
	case !hasID && !hasAddr:
		return "", "", badRequest("must specify id or address")
	case hasID && hasAddr:
		return "", "", badRequest("must specify either id or address")
	case hasID && (len(ids) != 1 || ids[0] == ""):
		return "", "", badRequest("must specify one non-empty id")
	case hasAddr && (len(addrs) != 1 || addrs[0] == ""):
		return "", "", badRequest("must specify one non-empty address")
	case hasID:
		return ids[0], "", nil
	}
	return "", addrs[0], nil
}

// raftRemovePeer serves DELETE /v1/operator/raft/peer?id=|address=.
func (h *Handler) raftRemovePeer(w http.ResponseWriter, r *http.Request, _ []string) error {
	if _, err := h.parseQuery(r); err != nil {
		return err
	}
	id, addr, err := raftPeerParam(r)
	if err != nil {
		return err
	}
	if err := h.b.RemoveRaftPeer(r.Context(), id, addr); err != nil {
		return err
	}
	return h.writeResult(w, h.b.StateIndex(), nil)
}

// raftTransferLeadership serves PUT
// /v1/operator/raft/transfer-leadership?id=|address=.
func (h *Handler) raftTransferLeadership(w http.ResponseWriter, r *http.Request, _ []string) error {
	if _, err := h.parseQuery(r); err != nil {
		return err
	}
	id, addr, err := raftPeerParam(r)
	if err != nil {
		return err
	}
	if err := h.b.TransferLeadership(r.Context(), id, addr); err != nil {
		return err
	}
	return h.writeResult(w, h.b.StateIndex(), map[string]any{"Index": h.b.StateIndex()})
}

// autopilotJSON is Nomad's AutopilotConfiguration, durations as strings.
type autopilotJSON struct {
	CleanupDeadServers      bool
	LastContactThreshold    string
	MaxTrailingLogs         uint64
	MinQuorum               uint
	ServerStabilizationTime string
	EnableRedundancyZones   bool
	DisableUpgradeMigration bool
	EnableCustomUpgrades    bool
	CreateIndex             uint64
	ModifyIndex             uint64
}

func (h *Handler) getAutopilotConfig(w http.ResponseWriter, r *http.Request, _ []string) error {
	return h.read(w, r, func(q queryOptions) (any, error) {
		c, err := h.b.AutopilotConfiguration(q.ctx)
		if err != nil {
			return nil, err
		}
		return autopilotJSON{
			CleanupDeadServers: c.CleanupDeadServers, LastContactThreshold: c.LastContactThreshold.String(),
			MaxTrailingLogs: c.MaxTrailingLogs, MinQuorum: c.MinQuorum,
			ServerStabilizationTime: c.ServerStabilizationTime.String(), CreateIndex: c.CreateIndex, ModifyIndex: c.ModifyIndex,
		}, nil
	})
}

func (h *Handler) setAutopilotConfig(w http.ResponseWriter, r *http.Request, _ []string) error {
	if _, err := h.parseQuery(r); err != nil {
		return err
	}
	var in autopilotJSON
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	c := AutopilotConfiguration{CleanupDeadServers: in.CleanupDeadServers, MaxTrailingLogs: in.MaxTrailingLogs, MinQuorum: in.MinQuorum}
	for _, d := range []struct {
		name, v string
		into    *time.Duration
	}{{"LastContactThreshold", in.LastContactThreshold, &c.LastContactThreshold}, {"ServerStabilizationTime", in.ServerStabilizationTime, &c.ServerStabilizationTime}} {
		if d.v == "" {
			continue
		}
		v, err := time.ParseDuration(d.v)
		if err != nil || v < 0 {
			return badRequest("invalid %s %q: want a duration such as 200ms", d.name, d.v)
		}
		*d.into = v
	}
	if in.EnableRedundancyZones || in.DisableUpgradeMigration || in.EnableCustomUpgrades {
		return badRequest("redundancy zones and upgrade migrations (Nomad Enterprise) are not supported by drover")
	}
	var cas *uint64
	if s, ok := r.URL.Query()["cas"]; ok {
		v, err := strconv.ParseUint(s[0], 10, 64)
		if err != nil {
			return badRequest("invalid cas %q: want a non-negative integer", s[0])
		}
		cas = &v
	}
	updated, index, err := h.b.SetAutopilotConfiguration(r.Context(), c, cas)
	if err != nil {
		return err
	}
	return h.writeResult(w, index, cas == nil || updated)
}

type serverHealthJSON struct {
	ID, Name, Address, SerfStatus, Version string
	Leader                                 bool
	LastContact                            string
	LastTerm, LastIndex                    uint64
	Healthy, Voter                         bool
	StableSince                            time.Time
}

type operatorHealthJSON struct {
	Healthy          bool
	FailureTolerance int
	Servers          []serverHealthJSON
	Leader           string
	Voters           []string
}

// autopilotHealth serves GET /v1/operator/autopilot/health; an unhealthy
// cluster answers 429, as Nomad's does.
func (h *Handler) autopilotHealth(w http.ResponseWriter, r *http.Request, _ []string) error {
	q, err := h.parseQuery(r)
	if err != nil {
		return err
	}
	ctx, err := h.b.PrepareRead(r.Context(), q.stale)
	if err != nil {
		return err
	}
	hl, err := h.b.ServerHealth(ctx)
	if err != nil {
		return err
	}
	out := operatorHealthJSON{Healthy: hl.Healthy, FailureTolerance: hl.FailureTolerance, Servers: []serverHealthJSON{}, Voters: []string{}}
	for _, s := range hl.Servers {
		out.Servers = append(out.Servers, serverHealthJSON{
			ID: s.ID, Name: s.Name, Address: s.Address, SerfStatus: s.SerfStatus, Version: s.Version, Leader: s.Leader,
			LastContact: s.LastContact.String(), LastTerm: s.LastTerm, LastIndex: s.LastIndex, Healthy: s.Healthy, Voter: s.Voter,
			StableSince: s.StableSince.Round(time.Second).UTC(),
		})
		if s.Leader {
			out.Leader = s.ID
		}
		if s.Voter {
			out.Voters = append(out.Voters, s.ID)
		}
	}
	h.setMeta(w, h.b.StateIndex())
	code := http.StatusOK
	if !hl.Healthy {
		code = http.StatusTooManyRequests
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	return writeBody(w, out)
}

// reconcileSummaries serves PUT /v1/system/reconcile/summaries.
func (h *Handler) reconcileSummaries(w http.ResponseWriter, r *http.Request, _ []string) error {
	if _, err := h.parseQuery(r); err != nil {
		return err
	}
	index, err := h.b.ReconcileSummaries(r.Context())
	if err != nil {
		return err
	}
	return h.writeResult(w, index, nil)
}

type joinResponseJSON struct {
	NumJoined int    `json:"num_joined"`
	Error     string `json:"error"`
}

// agentJoin serves PUT /v1/agent/join?address=... (nomad server join).
func (h *Handler) agentJoin(w http.ResponseWriter, r *http.Request, _ []string) error {
	if err := h.check(r, "agent write", (*acl.ACL).AllowAgentWrite); err != nil {
		return err
	}
	addrs := r.URL.Query()["address"]
	if len(addrs) == 0 {
		return badRequest("missing address to join")
	}
	n, err := h.b.Join(r.Context(), addrs)
	out := joinResponseJSON{NumJoined: n}
	if err != nil {
		if code, _, _ := statusOf(err); code == http.StatusForbidden {
			return err
		}
		out.Error = err.Error()
	}
	return writeJSON(w, out)
}

// agentForceLeave serves PUT /v1/agent/force-leave?node=... (nomad server
// force-leave).
func (h *Handler) agentForceLeave(w http.ResponseWriter, r *http.Request, _ []string) error {
	node := r.URL.Query().Get("node")
	if node == "" {
		return badRequest("missing node to force leave")
	}
	if err := h.b.ForceLeave(r.Context(), node); err != nil {
		return err
	}
	return writeJSON(w, nil)
}

type keyringResponseJSON struct {
	Messages    map[string]string
	Keys        map[string]int
	PrimaryKeys map[string]int
	NumNodes    int
}

// keyringOp serves /v1/agent/keyring/{list,install,use,remove}.
func (h *Handler) keyringOp(op string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, _ []string) error {
		var req struct{ Key string }
		if op != "list" {
			if err := decodeBody(r, &req); err != nil {
				return err
			}
			if req.Key == "" {
				return badRequest("missing key")
			}
		}
		res, err := h.b.Keyring(r.Context(), op, req.Key)
		if err != nil {
			return err
		}
		return writeJSON(w, keyringResponseJSON{Messages: res.Messages, Keys: res.Keys, PrimaryKeys: res.PrimaryKeys, NumNodes: res.Servers})
	}
}

// errNoClient answers the client endpoints of an agent that runs none.
var errNoClient = fmt.Errorf("%w: this agent runs no client", ErrNotImplemented)

// agentServers serves GET /v1/agent/servers: the client's servers.
func (h *Handler) agentServers(w http.ResponseWriter, r *http.Request, _ []string) error {
	if err := h.check(r, "agent read", (*acl.ACL).AllowAgentRead); err != nil {
		return err
	}
	if h.opts.ClientAgent == nil {
		return errNoClient
	}
	servers := h.opts.ClientAgent.Servers()
	if servers == nil {
		servers = []string{}
	}
	return writeJSON(w, servers)
}

// setAgentServers serves PUT /v1/agent/servers?address=... (nomad node
// config -update-servers).
func (h *Handler) setAgentServers(w http.ResponseWriter, r *http.Request, _ []string) error {
	if err := h.check(r, "agent write", (*acl.ACL).AllowAgentWrite); err != nil {
		return err
	}
	if h.opts.ClientAgent == nil {
		return errNoClient
	}
	addrs := r.URL.Query()["address"]
	if len(addrs) == 0 {
		return badRequest("missing server address")
	}
	if err := h.opts.ClientAgent.SetServers(addrs); err != nil {
		return badRequest("%v", err)
	}
	return writeJSON(w, nil)
}
