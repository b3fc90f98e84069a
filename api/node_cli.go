package api

import (
	"maps"
	"net/http"
	"strconv"

	"github.com/droverhq/drover/server/acl"
	"github.com/droverhq/drover/structs"
)

// purgeNode serves PUT /v1/node/:id/purge (nomad node purge... and the
// garbage collection of a node that is gone for good).
func (h *Handler) purgeNode(w http.ResponseWriter, r *http.Request, params []string) error {
	if _, err := h.parseQuery(r); err != nil {
		return err
	}
	u, err := h.b.PurgeNode(r.Context(), params[0])
	if err != nil {
		return err
	}
	return h.writeResult(w, u.Index, nodeUpdateResult(u))
}

// Node pools: drover has Nomad's two built-in pools and no others. Every
// node is in "default", and "all" holds every node.

type nodePoolJSON struct {
	Name                   string
	Description            string
	Meta                   map[string]string
	SchedulerConfiguration any
	CreateIndex            uint64
	ModifyIndex            uint64
}

var builtinPools = []nodePoolJSON{
	{Name: "all", Description: "Node pool with all nodes in the cluster.", CreateIndex: 1, ModifyIndex: 1},
	{Name: "default", Description: "Default node pool.", CreateIndex: 1, ModifyIndex: 1},
}

func poolNamed(name string) (nodePoolJSON, error) {
	for _, p := range builtinPools {
		if p.Name == name {
			return p, nil
		}
	}
	return nodePoolJSON{}, &httpError{code: http.StatusNotFound, msg: "node pool " + strconv.Quote(name) + " not found (drover has the built-in pools all and default only)"}
}

func (h *Handler) listNodePools(w http.ResponseWriter, r *http.Request, _ []string) error {
	return h.read(w, r, func(q queryOptions) (any, error) {
		out := []nodePoolJSON{}
		for _, p := range builtinPools {
			if len(q.prefix) <= len(p.Name) && p.Name[:len(q.prefix)] == q.prefix {
				out = append(out, p)
			}
		}
		return out, nil
	})
}

func (h *Handler) getNodePool(w http.ResponseWriter, r *http.Request, params []string) error {
	return h.read(w, r, func(queryOptions) (any, error) { return poolNamed(params[0]) })
}

func (h *Handler) nodePoolNodes(w http.ResponseWriter, r *http.Request, params []string) error {
	return h.read(w, r, func(q queryOptions) (any, error) {
		if _, err := poolNamed(params[0]); err != nil {
			return nil, err
		}
		nodes, err := h.b.Nodes(q.ctx)
		if err != nil {
			return nil, err
		}
		out := make([]*nodeStubJSON, 0, len(nodes))
		for _, n := range paginate(w, q, nodes, func(n *structs.Node) string { return n.Id }) {
			out = append(out, nodeStub(n, false, false))
		}
		return out, nil
	})
}

func (h *Handler) nodePoolJobs(w http.ResponseWriter, r *http.Request, params []string) error {
	return h.read(w, r, func(q queryOptions) (any, error) {
		if _, err := poolNamed(params[0]); err != nil {
			return nil, err
		}
		out := []jobListStub{}
		if params[0] != "default" {
			return out, nil // every drover job runs in the default pool
		}
		jobs, sums, err := h.b.JobsWithSummaries(q.ctx, q.namespace, q.prefix)
		if err != nil {
			return nil, err
		}
		idx := summaryIndex(sums)
		for _, j := range jobs {
			out = append(out, jobStub(j, idx[[2]string{j.Namespace, j.Id}], false))
		}
		return out, nil
	})
}

// nodeMetaJSON is Nomad's NodeMetaResponse.
type nodeMetaJSON struct {
	Meta    map[string]string
	Dynamic map[string]*string
	Static  map[string]string
}

func nodeMeta(n *structs.Node) nodeMetaJSON {
	out := nodeMetaJSON{Meta: maps.Clone(n.Meta), Dynamic: map[string]*string{}, Static: map[string]string{}}
	if out.Meta == nil {
		out.Meta = map[string]string{}
	}
	for k, v := range n.DynamicMeta {
		out.Dynamic[k] = &v
	}
	for _, k := range n.DynamicMetaUnset {
		out.Dynamic[k] = nil
	}
	for k, v := range n.Meta {
		if _, dyn := n.DynamicMeta[k]; !dyn {
			out.Static[k] = v
		}
	}
	return out
}

// metaNodeID is the node a metadata request names, or the agent's own.
func (h *Handler) metaNodeID(id string) (string, error) {
	if id != "" {
		return id, nil
	}
	if h.opts.ClientAgent == nil {
		return "", badRequest("missing node_id: this agent runs no client")
	}
	return h.opts.ClientAgent.NodeID(), nil
}

// readNodeMeta serves GET /v1/client/metadata?node_id= (nomad node meta
// read) from the servers' state.
func (h *Handler) readNodeMeta(w http.ResponseWriter, r *http.Request, _ []string) error {
	id, err := h.metaNodeID(r.URL.Query().Get("node_id"))
	if err != nil {
		return err
	}
	return h.read(w, r, func(q queryOptions) (any, error) {
		n, err := h.b.Node(q.ctx, id)
		if err != nil {
			return nil, err
		}
		return nodeMeta(n), nil
	})
}

// applyNodeMeta serves POST /v1/client/metadata (nomad node meta apply):
// the change goes through raft on the servers.
func (h *Handler) applyNodeMeta(w http.ResponseWriter, r *http.Request, _ []string) error {
	if err := h.check(r, "node write", (*acl.ACL).AllowNodeWrite); err != nil {
		return err
	}
	var req struct {
		NodeID string
		Meta   map[string]*string
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	id, err := h.metaNodeID(req.NodeID)
	if err != nil {
		return err
	}
	set := map[string]string{}
	var unset []string
	for k, v := range req.Meta {
		if v == nil {
			unset = append(unset, k)
		} else {
			set[k] = *v
		}
	}
	if _, err := h.b.UpdateNodeMeta(r.Context(), id, set, unset); err != nil {
		return err
	}
	ctx, err := h.b.PrepareRead(r.Context(), false)
	if err != nil {
		return err
	}
	n, err := h.b.Node(ctx, id)
	if err != nil {
		return err
	}
	return writeJSON(w, nodeMeta(n))
}

// clientStats adds the client section of /v1/agent/self when the agent
// runs a client: its node id, which nomad node status -self reads.
func (h *Handler) clientStats(stats map[string]map[string]string, cfg map[string]any) {
	c := h.opts.ClientAgent
	if c == nil {
		return
	}
	stats["client"] = map[string]string{
		"node_id": c.NodeID(), "known_servers": strconv.Itoa(len(c.Servers())),
	}
	if m, ok := cfg["Client"].(map[string]any); ok {
		m["Servers"] = c.Servers()
	}
}
