package api

import (
	"net/http"
	"strings"

	"github.com/droverhq/drover/structs"
)

func (h *Handler) listNodes(w http.ResponseWriter, r *http.Request, _ []string) error {
	withAttrs, err := boolParam(r, "os")
	if err != nil {
		return err
	}
	withResources, err := boolParam(r, "resources")
	if err != nil {
		return err
	}
	return h.read(w, r, func(q queryOptions) (any, error) {
		all, err := h.b.Nodes(q.ctx)
		if err != nil {
			return nil, err
		}
		var nodes []*structs.Node
		for _, n := range all {
			if strings.HasPrefix(n.Id, q.prefix) {
				nodes = append(nodes, n)
			}
		}
		if nodes, err = filterBy(q, nodes, func(n *structs.Node) *nodeStubJSON { return nodeStub(n, withAttrs, withResources) }); err != nil {
			return nil, err
		}
		nodes = paginate(w, q, nodes, func(n *structs.Node) string { return n.Id })
		out := make([]*nodeStubJSON, 0, len(nodes))
		for _, n := range nodes {
			out = append(out, nodeStub(n, withAttrs, withResources))
		}
		return out, nil
	})
}

func (h *Handler) getNode(w http.ResponseWriter, r *http.Request, params []string) error {
	return h.read(w, r, func(q queryOptions) (any, error) {
		n, err := h.b.Node(q.ctx, params[0])
		if err != nil {
			return nil, err
		}
		return nodeToJSON(n), nil
	})
}

func (h *Handler) nodeAllocations(w http.ResponseWriter, r *http.Request, params []string) error {
	return h.read(w, r, func(q queryOptions) (any, error) {
		node, err := h.b.Node(q.ctx, params[0])
		if err != nil {
			return nil, err
		}
		allocs, err := h.b.Allocations(q.ctx, "", "", params[0])
		if err != nil {
			return nil, err
		}
		out := make([]*allocJSON, 0, len(allocs))
		for _, a := range allocs {
			out = append(out, allocToJSON(a, nodeIP(node)))
		}
		return out, nil
	})
}

// nodeDrainRequest is Nomad's NodeUpdateDrainRequest.
type nodeDrainRequest struct {
	NodeID    string
	DrainSpec *struct {
		Deadline         int64
		IgnoreSystemJobs bool
	}
	MarkEligible bool
	Meta         map[string]string
}

// nodeUpdateResponse is Nomad's NodeDrainUpdateResponse and
// NodeEligibilityUpdateResponse.
type nodeUpdateResponse struct {
	NodeModifyIndex uint64
	EvalIDs         []string
	EvalCreateIndex uint64
	LastIndex       uint64
}

func nodeUpdateResult(u NodeUpdate) nodeUpdateResponse {
	out := nodeUpdateResponse{NodeModifyIndex: u.Index, EvalIDs: u.EvalIDs, LastIndex: u.Index}
	if len(u.EvalIDs) > 0 {
		out.EvalCreateIndex = u.Index
	}
	return out
}

func checkNodeID(pathID, bodyID string) error {
	if bodyID != "" && bodyID != pathID {
		return badRequest("node ID %q in the body does not match the path's %q", bodyID, pathID)
	}
	return nil
}

func (h *Handler) drainNode(w http.ResponseWriter, r *http.Request, params []string) error {
	if _, err := h.parseQuery(r); err != nil {
		return err
	}
	var req nodeDrainRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if err := checkNodeID(params[0], req.NodeID); err != nil {
		return err
	}
	var spec *DrainSpec
	if req.DrainSpec != nil {
		spec = &DrainSpec{Deadline: durationOf(req.DrainSpec.Deadline), IgnoreSystemJobs: req.DrainSpec.IgnoreSystemJobs}
	}
	u, err := h.b.UpdateNodeDrain(r.Context(), params[0], spec, req.MarkEligible, req.Meta)
	if err != nil {
		return err
	}
	return h.writeResult(w, u.Index, nodeUpdateResult(u))
}

// nodeEligibilityRequest is Nomad's NodeUpdateEligibilityRequest.
type nodeEligibilityRequest struct {
	NodeID      string
	Eligibility string
}

func (h *Handler) nodeEligibility(w http.ResponseWriter, r *http.Request, params []string) error {
	if _, err := h.parseQuery(r); err != nil {
		return err
	}
	var req nodeEligibilityRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if err := checkNodeID(params[0], req.NodeID); err != nil {
		return err
	}
	switch req.Eligibility {
	case structs.NodeEligible, structs.NodeIneligible:
	default:
		return badRequest("eligibility must be %q or %q, got %q", structs.NodeEligible, structs.NodeIneligible, req.Eligibility)
	}
	u, err := h.b.UpdateNodeEligibility(r.Context(), params[0], req.Eligibility)
	if err != nil {
		return err
	}
	return h.writeResult(w, u.Index, nodeUpdateResult(u))
}
