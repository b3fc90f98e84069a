package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/droverhq/drover/structs"
)

// Search (nomad status <prefix>, and the UI's search box): ids by prefix
// across the kinds of objects, and names by substring.

// searchLimit is how many matches of one context are returned (Nomad's).
const searchLimit = 20

// searchContext lists the ids of one kind of object that start with
// prefix, in the namespace of q ("" for all).
type searchContext func(h *Handler, ctx context.Context, namespace, prefix string) ([]string, error)

// searchContexts are the contexts of /v1/search, by Nomad's names. Other
// kinds of objects (deployments) add theirs here.
var searchContexts = map[string]searchContext{
	"jobs": func(h *Handler, ctx context.Context, ns, prefix string) ([]string, error) {
		jobs, _, err := h.b.JobsWithSummaries(ctx, ns, prefix)
		return ids(jobs, func(j *structs.Job) string { return j.Id }), err
	},
	"evals": func(h *Handler, ctx context.Context, ns, prefix string) ([]string, error) {
		evals, err := h.b.ListEvaluations(ctx, ns, prefix)
		return ids(evals, func(e *structs.Evaluation) string { return e.Id }), err
	},
	"allocs": func(h *Handler, ctx context.Context, ns, prefix string) ([]string, error) {
		allocs, err := h.b.Allocations(ctx, ns, "", "")
		return withPrefix(ids(allocs, func(a *structs.Allocation) string { return a.Id }), prefix), err
	},
	"nodes": func(h *Handler, ctx context.Context, _, prefix string) ([]string, error) {
		nodes, err := h.b.Nodes(ctx)
		return withPrefix(ids(nodes, func(n *structs.Node) string { return n.Id }), prefix), err
	},
	"node_pools": func(_ *Handler, _ context.Context, _, prefix string) ([]string, error) {
		return withPrefix([]string{"all", "default"}, prefix), nil
	},
	"namespaces": func(_ *Handler, _ context.Context, _, prefix string) ([]string, error) {
		return withPrefix([]string{structs.DefaultNamespace}, prefix), nil
	},
}

func ids[T any](objs []T, id func(T) string) []string {
	out := make([]string, 0, len(objs))
	for _, o := range objs {
		out = append(out, id(o))
	}
	return out
}

func withPrefix(list []string, prefix string) []string {
	return slices.DeleteFunc(list, func(s string) bool { return !strings.HasPrefix(s, prefix) })
}

type searchRequest struct {
	Prefix    string
	Context   string
	Namespace string
}

type searchResponse struct {
	Matches     map[string][]string
	Truncations map[string]bool
}

// search serves PUT /v1/search.
func (h *Handler) search(w http.ResponseWriter, r *http.Request, _ []string) error {
	var req searchRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	contexts, err := pickContexts(req.Context)
	if err != nil {
		return err
	}
	return h.searchRead(w, r, req.Namespace, func(ctx context.Context, ns string) (any, error) {
		out := searchResponse{Matches: map[string][]string{}, Truncations: map[string]bool{}}
		for _, c := range contexts {
			found, err := searchContexts[c](h, ctx, ns, req.Prefix)
			if errors.Is(err, structs.ErrPermissionDenied) && req.Context == "all" {
				continue // contexts the caller may not read are left out
			}
			if err != nil {
				return nil, err
			}
			slices.Sort(found)
			if len(found) > searchLimit {
				found = found[:searchLimit]
				out.Truncations[c] = true
			} else {
				out.Truncations[c] = false
			}
			out.Matches[c] = found
		}
		return out, nil
	})
}

// pickContexts resolves a request's context: one, or "all" of them.
func pickContexts(c string) ([]string, error) {
	if c == "" || c == "all" {
		var all []string
		for k := range searchContexts {
			all = append(all, k)
		}
		slices.Sort(all)
		return all, nil
	}
	if _, ok := searchContexts[c]; !ok {
		return nil, badRequest("search context %q is not served by drover", c)
	}
	return []string{c}, nil
}

// searchRead runs a search as a read, in the request's namespace.
func (h *Handler) searchRead(w http.ResponseWriter, r *http.Request, bodyNS string, f func(ctx context.Context, ns string) (any, error)) error {
	return h.read(w, r, func(q queryOptions) (any, error) {
		ns := q.namespace
		if bodyNS != "" && !q.namespaceSet {
			ns = bodyNS
		}
		if ns == "*" {
			ns = ""
		}
		return f(q.ctx, ns)
	})
}

type fuzzyRequest struct {
	Text      string
	Context   string
	Namespace string
}

type fuzzyMatch struct {
	ID    string
	Scope []string `json:",omitempty"`
}

type fuzzyResponse struct {
	Matches     map[string][]fuzzyMatch
	Truncations map[string]bool
}

// fuzzySearch serves PUT /v1/search/fuzzy: names that contain the text
// (jobs, their groups and tasks, nodes, allocations).
func (h *Handler) fuzzySearch(w http.ResponseWriter, r *http.Request, _ []string) error {
	var req fuzzyRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if len(req.Text) < 2 {
		return badRequest("fuzzy search text must be at least 2 characters")
	}
	text := strings.ToLower(req.Text)
	want := func(c string) bool { return req.Context == "" || req.Context == "all" || req.Context == c }
	return h.searchRead(w, r, req.Namespace, func(ctx context.Context, ns string) (any, error) {
		out := fuzzyResponse{Matches: map[string][]fuzzyMatch{}, Truncations: map[string]bool{}}
		add := func(c string, m fuzzyMatch) {
			if len(out.Matches[c]) >= searchLimit {
				out.Truncations[c] = true
				return
			}
			out.Matches[c] = append(out.Matches[c], m)
		}
		has := func(s string) bool { return strings.Contains(strings.ToLower(s), text) }
		if want("jobs") || want("groups") || want("tasks") {
			jobs, _, err := h.b.JobsWithSummaries(ctx, ns, "")
			if err != nil && !errors.Is(err, structs.ErrPermissionDenied) {
				return nil, err
			}
			for _, j := range jobs {
				if want("jobs") && (has(j.Id) || has(j.Name)) {
					add("jobs", fuzzyMatch{ID: j.Id, Scope: []string{j.Namespace}})
				}
				for _, g := range j.TaskGroups {
					if want("groups") && has(g.Name) {
						add("groups", fuzzyMatch{ID: g.Name, Scope: []string{j.Namespace, j.Id}})
					}
					for _, t := range g.Tasks {
						if want("tasks") && has(t.Name) {
							add("tasks", fuzzyMatch{ID: t.Name, Scope: []string{j.Namespace, j.Id, g.Name}})
						}
					}
				}
			}
		}
		if want("nodes") {
			nodes, err := h.b.Nodes(ctx)
			if err != nil && !errors.Is(err, structs.ErrPermissionDenied) {
				return nil, err
			}
			for _, n := range nodes {
				if has(n.Name) {
					add("nodes", fuzzyMatch{ID: n.Name, Scope: []string{n.Id}})
				}
			}
		}
		if want("allocs") {
			allocs, err := h.b.Allocations(ctx, ns, "", "")
			if err != nil && !errors.Is(err, structs.ErrPermissionDenied) {
				return nil, err
			}
			for _, a := range allocs {
				if has(a.Name) {
					add("allocs", fuzzyMatch{ID: a.Name, Scope: []string{a.Namespace, a.Id}})
				}
			}
		}
		return out, nil
	})
}
