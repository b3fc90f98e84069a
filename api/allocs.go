package api

import (
	"net/http"
	"strings"

	"github.com/droverhq/drover/structs"
)

func (h *Handler) listAllocations(w http.ResponseWriter, r *http.Request, _ []string) error {
	withResources, err := boolParam(r, "resources")
	if err != nil {
		return err
	}
	return h.read(w, r, func(q queryOptions) (any, error) {
		all, err := h.b.Allocations(q.ctx, "", "", "")
		if err != nil {
			return nil, err
		}
		var allocs []*structs.Allocation
		for _, a := range all {
			if (q.allNamespaces || a.Namespace == q.namespace) && strings.HasPrefix(a.Id, q.prefix) {
				allocs = append(allocs, a)
			}
		}
		if allocs, err = filterBy(q, allocs, func(a *structs.Allocation) *allocStubJSON { return allocStub(a, nil) }); err != nil {
			return nil, err
		}
		allocs = paginate(w, q, allocs, func(a *structs.Allocation) string { return a.Id })
		out := make([]*allocStubJSON, 0, len(allocs))
		ips := map[string]string{}
		for _, a := range allocs {
			var res *allocatedResourcesJSON
			if withResources {
				ip, ok := ips[a.NodeId]
				if !ok {
					ip = h.nodeIP(q, a.NodeId)
					ips[a.NodeId] = ip
				}
				res = allocatedResources(a, ip)
			}
			out = append(out, allocStub(a, res))
		}
		return out, nil
	})
}

// nodeIP is the address of a node, or "" when it is not known (a node
// collected while its allocations remain).
func (h *Handler) nodeIP(q queryOptions, nodeID string) string {
	n, err := h.b.Node(q.ctx, nodeID)
	if err != nil {
		return ""
	}
	return nodeIP(n)
}

func (h *Handler) getAllocation(w http.ResponseWriter, r *http.Request, params []string) error {
	return h.read(w, r, func(q queryOptions) (any, error) {
		a, err := h.b.Allocation(q.ctx, params[0])
		if err != nil {
			return nil, err
		}
		return allocToJSON(a, h.nodeIP(q, a.NodeId)), nil
	})
}

func (h *Handler) listEvaluations(w http.ResponseWriter, r *http.Request, _ []string) error {
	return h.read(w, r, func(q queryOptions) (any, error) {
		evals, err := h.b.ListEvaluations(q.ctx, q.namespace, q.prefix)
		if err != nil {
			return nil, err
		}
		if evals, err = filterBy(q, evals, evalToJSON); err != nil {
			return nil, err
		}
		evals = paginate(w, q, evals, func(e *structs.Evaluation) string { return e.Id })
		return evalsToJSON(evals), nil
	})
}

func (h *Handler) getEvaluation(w http.ResponseWriter, r *http.Request, params []string) error {
	return h.read(w, r, func(q queryOptions) (any, error) {
		e, err := h.b.Evaluation(q.ctx, params[0])
		if err != nil {
			return nil, err
		}
		return evalToJSON(e), nil
	})
}

func (h *Handler) evaluationAllocations(w http.ResponseWriter, r *http.Request, params []string) error {
	return h.read(w, r, func(q queryOptions) (any, error) {
		if _, err := h.b.Evaluation(q.ctx, params[0]); err != nil {
			return nil, err
		}
		all, err := h.b.Allocations(q.ctx, "", "", "")
		if err != nil {
			return nil, err
		}
		out := []*allocStubJSON{}
		for _, a := range all {
			if a.EvalId == params[0] {
				out = append(out, allocStub(a, nil))
			}
		}
		return out, nil
	})
}
