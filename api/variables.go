package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/droverhq/drover/structs"
)

// VariableBackend reads and writes Nomad variables.
type VariableBackend interface {
	// Variables lists the metadata of a namespace's ("*" for all)
	// variables whose path has prefix.
	Variables(ctx context.Context, namespace, prefix string) ([]*structs.Variable, error)
	// Variable reads one variable, decrypted (ErrNotFound when none).
	Variable(ctx context.Context, namespace, path string) (*structs.Variable, error)
	// PutVariable stores a variable; with cas, only if the stored one's
	// modify index is *cas. A conflict is a response with Conflict set.
	PutVariable(ctx context.Context, v *structs.Variable, cas *uint64) (*structs.VariableResponse, error)
	// DeleteVariable removes a variable, with cas as PutVariable.
	DeleteVariable(ctx context.Context, namespace, path string, cas *uint64) (*structs.VariableResponse, error)
}

// variableJSON is Nomad's Variable (VariableMetadata without Items).
type variableJSON struct {
	Namespace   string
	Path        string
	CreateIndex uint64
	ModifyIndex uint64
	CreateTime  int64
	ModifyTime  int64
	Items       map[string]string `json:",omitempty"`
	Lock        json.RawMessage   `json:",omitempty"`
}

func variableToJSON(v *structs.Variable) *variableJSON {
	return &variableJSON{
		Namespace: v.Namespace, Path: v.Path, CreateIndex: v.CreateIndex, ModifyIndex: v.ModifyIndex,
		CreateTime: v.CreateTime, ModifyTime: v.ModifyTime, Items: v.Items,
	}
}

// variableLockParams are Nomad's lock operations, which drover does not serve.
var variableLockParams = []string{"lock-acquire", "lock-release", "lock-renew"}

func (h *Handler) registerVariableRoutes() {
	h.handle("/v1/vars", map[string]handlerFunc{http.MethodGet: h.listVariables})
	h.handle("/v1/var/*", map[string]handlerFunc{
		http.MethodGet: h.getVariable, http.MethodPut: h.putVariable, http.MethodPost: h.putVariable,
		http.MethodDelete: h.deleteVariable,
	})
}

// listVariables serves GET /v1/vars: metadata only, sorted by namespace
// and path, paginated by path.
func (h *Handler) listVariables(w http.ResponseWriter, r *http.Request, _ []string) error {
	return h.read(w, r, func(q queryOptions) (any, error) {
		ns := q.namespace
		if q.allNamespaces {
			ns = "*"
		}
		vars, err := h.b.Variables(q.ctx, ns, q.prefix)
		if err != nil {
			return nil, err
		}
		vars, err = filterBy(q, vars, variableToJSON)
		if err != nil {
			return nil, err
		}
		vars = paginate(w, q, vars, func(v *structs.Variable) string { return v.Path })
		out := make([]*variableJSON, 0, len(vars))
		for _, v := range vars {
			out = append(out, variableToJSON(v))
		}
		return out, nil
	})
}

func (h *Handler) getVariable(w http.ResponseWriter, r *http.Request, params []string) error {
	return h.read(w, r, func(q queryOptions) (any, error) {
		v, err := h.b.Variable(q.ctx, q.namespace, cleanVariablePath(params[0]))
		if err != nil {
			return nil, err
		}
		return variableToJSON(v), nil
	})
}

// cleanVariablePath trims what Nomad's client trims from paths.
func cleanVariablePath(p string) string { return strings.Trim(p, " /") }

// casParam reads ?cas=N, nil when absent.
func casParam(r *http.Request) (*uint64, error) {
	s, ok := r.URL.Query()["cas"]
	if !ok {
		return nil, nil
	}
	n, err := strconv.ParseUint(strings.TrimSpace(s[0]), 10, 64)
	if err != nil {
		return nil, badRequest("invalid cas %q: want a non-negative integer", s[0])
	}
	return &n, nil
}

func refuseLocks(r *http.Request) error {
	for _, p := range variableLockParams {
		if r.URL.Query().Has(p) {
			return errNotServedf("variable locks")
		}
	}
	return nil
}

// putVariable serves PUT /v1/var/:path. A check-and-set conflict answers
// 409 with the current variable, as Nomad does.
func (h *Handler) putVariable(w http.ResponseWriter, r *http.Request, params []string) error {
	if err := refuseLocks(r); err != nil {
		return err
	}
	q, err := h.parseQuery(r)
	if err != nil {
		return err
	}
	cas, err := casParam(r)
	if err != nil {
		return err
	}
	v, err := decodeVariable(r, q, cleanVariablePath(params[0]))
	if err != nil {
		return err
	}
	resp, err := h.b.PutVariable(r.Context(), v, cas)
	if err != nil {
		return err
	}
	return h.variableWriteResult(w, v.Namespace, v.Path, resp, true)
}

// decodeVariable reads a PUT body: Nomad's Variable, whose path (when
// set) must be the URL's and whose namespace (when set) the query's.
func decodeVariable(r *http.Request, q queryOptions, path string) (*structs.Variable, error) {
	var in variableJSON
	if err := decodeBody(r, &in); err != nil {
		return nil, err
	}
	if in.Path != "" && cleanVariablePath(in.Path) != path {
		return nil, badRequest("variable path %q does not match the URL's %q", in.Path, path)
	}
	ns := q.namespace
	if in.Namespace != "" {
		if q.namespaceSet && in.Namespace != q.namespace {
			return nil, badRequest("variable namespace %q does not match the query's %q", in.Namespace, q.namespace)
		}
		ns = in.Namespace
	}
	if len(in.Lock) > 0 && string(in.Lock) != "null" {
		return nil, errNotServedf("variable locks")
	}
	return &structs.Variable{Namespace: ns, Path: path, Items: in.Items}, nil
}

func (h *Handler) deleteVariable(w http.ResponseWriter, r *http.Request, params []string) error {
	if err := refuseLocks(r); err != nil {
		return err
	}
	q, err := h.parseQuery(r)
	if err != nil {
		return err
	}
	cas, err := casParam(r)
	if err != nil {
		return err
	}
	path := cleanVariablePath(params[0])
	resp, err := h.b.DeleteVariable(r.Context(), q.namespace, path, cas)
	if err != nil {
		return err
	}
	return h.variableWriteResult(w, q.namespace, path, resp, false)
}

// variableWriteResult answers a write: the variable stored (nothing for
// a delete), or 409 with the current variable (an empty one of the path
// when none exists).
func (h *Handler) variableWriteResult(w http.ResponseWriter, ns, path string, resp *structs.VariableResponse, body bool) error {
	w.Header().Set("X-Nomad-Index", strconv.FormatUint(max(resp.GetIndex(), 1), 10))
	if resp.GetConflict() {
		cur := resp.GetVariable()
		if cur == nil {
			cur = &structs.Variable{Namespace: ns, Path: path}
		}
		b, err := json.Marshal(variableToJSON(cur))
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusConflict)
		_, _ = w.Write(b)
		return nil
	}
	if !body || resp.GetVariable() == nil {
		return writeJSON(w, struct{}{})
	}
	return writeJSON(w, variableToJSON(resp.GetVariable()))
}
